"""Time one CFPC control step (step + update) against batch size B, basis size K and DOFs D.

    python benchmarks/controller_step.py [--device cpu|cuda] [--batches 1 64 4096] [--sizes 10 40 160]
                                         [--dofs 1 2] [--optimizer gradient|rls] [--threads N]

Prints microseconds per controller step and per env-step, and each row's cost relative to the
first row, measured side by side in one run (best of --repeats). The controller: a PID, K raised
cosines per cue, and the paper_linear closed-loop forward model (order 9: oscillator, PID, 50 ms
delay), one copy per DOF for D > 1 (decoupled DOFs, a D x D MIMO model).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from cfpc_gym.controllers import CFPC, PID, ForwardModel, RaisedCosineBasis, make_rule
from scipy.linalg import block_diag

from cfpc_gym.build import forward_model, make_env
from cfpc_gym.config import load_config


def paper_model(dofs: int) -> ForwardModel:
    config = load_config("paper_linear")
    single = forward_model(config, config.controllers[1], make_env(config))
    blocks = [block_diag(*[m] * dofs) for m in (single.a, single.b, single.c, single.d)]
    return ForwardModel(*blocks, dt=single.dt)


def make(batch: int, size: int, dofs: int, device: str, optimizer: str) -> CFPC:
    model = paper_model(dofs)
    kw = {"batch_size": batch, "device": device, "dtype": torch.float32}
    feedback = PID(2.0, 2.0, 0.2, dt=model.dt, derivative_time_constant=0.02, dofs=dofs, **kw)
    basis = RaisedCosineBasis(1, size, model.dt, span=1.2, **kw)
    rule = make_rule("eligibility", dofs=dofs, dt=model.dt, forward_model=model)
    return CFPC(feedback, basis, rule, learning_rate=0.08, optimizer=optimizer)


def seconds_per_step(controller: CFPC, steps: int, repeats: int) -> float:
    batch, dofs, device = controller.batch_size, controller.dofs, controller.device
    generator = np.random.default_rng(0)
    # What an agent hands over: host arrays, float64 (reference, measurement), cue pulses.
    signals = generator.random((steps, 3, batch, dofs))
    cues = (generator.random((steps, batch, 1)) > 0.9).astype(np.float64)
    if device.type == "cuda":
        signals, cues = torch.as_tensor(signals, device=device), torch.as_tensor(cues, device=device)
    best = float("inf")
    with torch.no_grad():
        for repeat in range(repeats + 1):  # the first is warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for k in range(steps):
                controller.step(signals[k, 0], signals[k, 1], cues[k])
                controller.update()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if repeat:
                best = min(best, (time.perf_counter() - start) / steps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 4096])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 40, 160], help="basis size K")
    parser.add_argument("--dofs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--optimizer", choices=["gradient", "rls"], default="gradient")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, device {args.device}, CPU threads {torch.get_num_threads()}, "
        f"optimizer {args.optimizer}; best of {args.repeats} x {args.steps} steps"
    )
    print(f"{'B':>6} {'K':>4} {'D':>2} {'us/step':>10} {'us/env-step':>12} {'x first row':>12}")
    first = None
    for batch in args.batches:
        for size in args.sizes:
            for dofs in args.dofs:
                controller = make(batch, size, dofs, args.device, args.optimizer)
                seconds = seconds_per_step(controller, args.steps, args.repeats)
                first = first or seconds
                print(
                    f"{batch:>6} {size:>4} {dofs:>2} {seconds * 1e6:10.1f} {seconds * 1e6 / batch:12.3f} "
                    f"{seconds / first:12.2f}"
                )


if __name__ == "__main__":
    main()
