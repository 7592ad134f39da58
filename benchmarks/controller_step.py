"""Time one CFPC control step (step + update) against batch size B, basis size K and DOFs D.

    python benchmarks/controller_step.py [--device cpu|cuda] [--batches 1 64 4096] [--sizes 10 40 160]
                                         [--dofs 1 2] [--optimizer gradient|rls] [--threads N]
                                         [--backends torch numpy]

Prints microseconds per controller step and per env-step for each backend (torch, the reference,
and numpy, CPU only), and each row's cost relative to the first, measured side by side in one run,
the backends interleaved (best of --repeats). A step is what the agent calls: ``step_array`` on
host arrays, then ``update``. The controller: a PID, K raised cosines per cue, and the paper_linear
closed-loop forward model (order 9: oscillator, PID, 50 ms delay), one copy per DOF for D > 1
(decoupled DOFs, a D x D MIMO model).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--threads" in sys.argv:  # numpy's BLAS reads its thread count once, at import
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np
import torch
from scipy.linalg import block_diag

from cfpc_gym.build import forward_model, make_env
from cfpc_gym.config import load_config
from cfpc_gym.controllers import CFPC, PID, ForwardModel, RaisedCosineBasis, make_learner, make_rule


def paper_model(dofs: int) -> ForwardModel:
    config = load_config("paper_linear")
    single = forward_model(config, config.controllers[1], make_env(config))
    blocks = [block_diag(*[m] * dofs) for m in (single.a, single.b, single.c, single.d)]
    return ForwardModel(*blocks, dt=single.dt)


def make(batch: int, size: int, dofs: int, device: str, optimizer: str, backend: str = "torch") -> CFPC:
    model = paper_model(dofs)
    kw = {"batch_size": batch, "device": device, "dtype": torch.float32}
    feedback = PID(2.0, 2.0, 0.2, dt=model.dt, derivative_time_constant=0.02, dofs=dofs, **kw)
    basis = RaisedCosineBasis(1, size, model.dt, span=1.2, **kw)
    rule = make_rule("eligibility", dofs=dofs, dt=model.dt, forward_model=model)
    return CFPC(feedback, basis, rule, learner=make_learner(optimizer, learning_rate=0.08), backend=backend)


def seconds_per_step(controller: CFPC, steps: int) -> float:
    batch, dofs, device = controller.batch_size, controller.dofs, controller.device
    generator = np.random.default_rng(0)
    # What an agent hands over: host arrays, float64 (reference, measurement), cue pulses.
    signals = generator.random((steps, 3, batch, dofs))
    cues = (generator.random((steps, batch, 1)) > 0.9).astype(np.float64)
    if device.type == "cuda":
        signals, cues = torch.as_tensor(signals, device=device), torch.as_tensor(cues, device=device)
        torch.cuda.synchronize()
    start = time.perf_counter()
    for k in range(steps):
        controller.step_array(signals[k, 0], signals[k, 1], cues[k])
        controller.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def best_of(controllers: dict[str, CFPC], steps: int, repeats: int) -> dict[str, float]:
    """Seconds per step of each controller, best of ``repeats``, interleaved (after a warm-up)."""
    best = dict.fromkeys(controllers, float("inf"))
    for repeat in range(repeats + 1):
        for name, controller in controllers.items():
            seconds = seconds_per_step(controller, steps)
            if repeat:
                best[name] = min(best[name], seconds)
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
    parser.add_argument("--backends", nargs="+", choices=["torch", "numpy"], default=["torch", "numpy"])
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    backends = [b for b in args.backends if b == "torch" or args.device == "cpu"]
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, device {args.device}, CPU threads {torch.get_num_threads()}, "
        f"optimizer {args.optimizer}; best of {args.repeats} x {args.steps} steps"
    )
    columns = "".join(f" {b + ' us/step':>17} {b + ' us/env-step':>21}" for b in backends)
    speedup = f" {'torch/numpy':>12}" if len(backends) == 2 else ""
    print(f"{'B':>6} {'K':>4} {'D':>2}{columns}{speedup}")
    for batch in args.batches:
        for size in args.sizes:
            for dofs in args.dofs:
                if args.optimizer == "rls" and "numpy" in backends:
                    backends = ["torch"]  # rls runs in torch only
                controllers = {b: make(batch, size, dofs, args.device, args.optimizer, b) for b in backends}
                seconds = best_of(controllers, args.steps, args.repeats)
                row = "".join(f" {seconds[b] * 1e6:17.1f} {seconds[b] * 1e6 / batch:21.3f}" for b in backends)
                ratio = f" {seconds['torch'] / seconds['numpy']:12.1f}" if len(backends) == 2 else ""
                print(f"{batch:>6} {size:>4} {dofs:>2}{row}{ratio}")


if __name__ == "__main__":
    main()
