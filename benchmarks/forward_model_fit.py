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

import gymnasium as gym
import numpy as np
import torch

from cfpc_gym.analysis.responses import basis_responses, fit_quality, predicted_responses
from cfpc_gym.build import make_env
from cfpc_gym.config import ControllerConfig, ForwardModelConfig, load_config
from cfpc_gym.controllers import identify_fir, variance_accounted_for

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
    parser.add_argument("--bound", action="store_true", help="only the best LTI fit to the true responses")
    parser.add_argument("--pulse", action="store_true", help="only the elbow's open-loop +-pulse responses")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.pulse:
        return open_loop_pulses()
    if args.bound:
        for case in args.cases:
            vaf = lti_bound(CASES[case]())
            print(f"{case}: a 120-tap FIR fitted to the true raised responses: VAF {vaf:.3f}")
        return
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


def lti_bound(config, amplitude: float = 0.02, taps: int = 120) -> float:
    """VAF of the best LTI model one can have: a FIR fitted, in-sample, to the true responses."""
    measured = basis_responses(config, amplitude=amplitude)
    features = measured.basis.shape[1] // measured.error.shape[1]
    inputs, outputs = [], []
    for j in range(measured.basis.shape[1]):
        signal = np.zeros_like(measured.error)
        signal[:, j // features] = measured.basis[:, j]
        inputs.append(signal)
        outputs.append(measured.responses[:, j])
    model = identify_fir(inputs, outputs, taps, make_env(config).unwrapped.tracking_spec.dt)
    return variance_accounted_for(measured.responses, predicted_responses(model, measured))


def open_loop_pulses(size: float = 1e-3) -> None:
    """Elbow at rest, no feedback: +-``size`` on the flexor's excitation for 3 steps, vs its linearisation."""

    def angles(delta: float) -> np.ndarray:
        env = gym.make("cfpc_gym/ElbowTrack-v0", sensory_delay=0.0, amplitude=0.0).unwrapped
        env.reset(seed=0)
        holding = env.allocate(env.holding_command())
        trace = []
        for k in range(30):
            action = holding + delta * np.eye(len(holding))[0] * (2 <= k < 5)
            env.step(action.astype(np.float32))
            trace.append(env.physics.joint_angles()[0])
        return np.array(trace)

    env = gym.make("cfpc_gym/ElbowTrack-v0", sensory_delay=0.0, amplitude=0.0).unwrapped
    env.reset(seed=0)
    a, b, c, _ = env.linearize()
    state, linear = np.zeros(len(a)), []
    for k in range(30):
        state = a @ state + b @ (size * np.eye(b.shape[1])[0] * (2 <= k < 5))
        linear.append((c @ state)[0])
    rest = angles(0.0)
    print(f"elbow angle change 0.3 s after a 30 ms flexor excitation pulse of +-{size} (mrad):")
    print(f"  +pulse {1e3 * (angles(size) - rest)[-1]:.2f}, -pulse {-1e3 * (angles(-size) - rest)[-1]:.2f} "
          f"(sign undone), linearisation {1e3 * linear[-1]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
