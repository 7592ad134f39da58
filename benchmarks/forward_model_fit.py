"""Fit quality and cost of every automatic forward model on the MuJoCo muscle plants.

    python benchmarks/forward_model_fit.py [--cases elbow-100ms ...] [--amplitude 0.02]

For each case and forward-model kind: the variance the model's predicted responses account for
(VAF) against the true response of the nonlinear closed loop (PID, allocation, delays) to every
weight of the basis, measured by raising and by lowering each weight by ``amplitude`` while
feedback alone tracks the reference (``cfpc_gym.responses.fit_quality``), and the seconds it took
to build the model. Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import torch

from cfpc_gym.config import ControllerConfig, ForwardModelConfig, load_config
from cfpc_gym.responses import fit_quality

KINDS = {
    "linearized (rest)": {"kind": "linearized"},
    "linearized (trajectory)": {"kind": "linearized", "schedule": "trajectory"},
    "identified FIR": {"kind": "identified", "method": "fir"},
    "identified FIR, 60 taps": {"kind": "identified", "method": "fir", "taps": 60},
    "identified ARX": {"kind": "identified", "method": "arx"},
}


def elbow(delay: float, **task) -> object:
    config = load_config("elbow_delays")
    config.env.kwargs.update(sensory_delay=delay, **task)
    return config


def arm() -> object:
    config = load_config("arm_reach")
    config.env.kwargs.update(force_field="none")
    config.basis.size = 10  # 8 targets x 10 bumps x 2 joints: 160 weights, 161 arms in one batch
    return config


CASES = {
    "elbow-50ms": lambda: elbow(0.05),
    "elbow-100ms": lambda: elbow(0.1),
    "elbow-hold-0.5rad-100ms": lambda: elbow(0.1, amplitude=0.0, rest_angle=0.5),
    "elbow-hold-0.9rad-100ms": lambda: elbow(0.1, amplitude=0.0, rest_angle=0.9),
    "elbow-hold-1.3rad-100ms": lambda: elbow(0.1, amplitude=0.0, rest_angle=1.3),
    "arm-reach-50ms": arm,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--amplitude", type=float, default=0.02)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| case | forward model | VAF (odd part) | VAF (raise) | VAF (lower) | build (s) |")
    print("|---|---|---|---|---|---|")
    for case in args.cases:
        for kind in args.kinds:
            config = CASES[case]()
            controller = ControllerConfig(
                name=kind, rule="eligibility", forward_model=ForwardModelConfig(**KINDS[kind])
            )
            try:
                q = fit_quality(config, controller, args.amplitude)
            except ValueError as exc:  # ConfigError: e.g. ARX on a MIMO plant
                print(f"| {case} | {kind} | {exc} | | | |", flush=True)
                continue
            cells = (q.vaf, q.vaf_raise, q.vaf_lower)
            vaf = " | ".join(f"{v:.3f}" for v in cells)
            print(f"| {case} | {kind} | {vaf} | {q.build_seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
