"""Time one CFPC control step (step + update) against the DOFs D, full vs diagonal forward model.

    python benchmarks/many_dofs.py [--dofs 1 4 23] [--models fir paper] [--steps 20] [--repeats 3]
                                   [--backend auto|torch|numpy] [--threads 1]

The controller, shaped like MyoSuite's hand under ``myo_pose_elbow`` (``allocation_cost.py``): one
env, an affine goal code (1 + 2D cue channels) of 20 raised cosines each, the paper's gradient rule.
Forward models: ``fir``, an FIR of 8 taps identified from a noise probe of a coupled random D x D
loop (what ``kind: identified`` builds for the hand: order 7 D); ``paper``, the paper_linear closed
loop (order 9) copied on every DOF (decoupled, a D x D MIMO model of order 9 D). Each against its
``diagonal()`` (D SISO models: order 7, and 9), measured side by side in one run, interleaved
(best of --repeats). Prints microseconds per step and the full / diagonal ratio.
"""

from __future__ import annotations

import argparse
import os
import sys

if "--threads" in sys.argv:  # numpy's BLAS reads its thread count once, at import
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

import numpy as np
import torch
from controller_step import best_of, paper_model

from cfpc_gym.controllers import (
    CFPC,
    PID,
    ForwardModel,
    RaisedCosineBasis,
    identify_fir,
    make_learner,
    make_rule,
)

DT, BASES, TAPS = 0.02, 20, 8


def fir_model(dofs: int) -> ForwardModel:
    """An FIR of TAPS taps fitted to a coupled random loop's response to white noise."""
    generator = np.random.default_rng(0)
    probe = generator.standard_normal((40 * TAPS * dofs, dofs))
    taps = 0.1 * generator.standard_normal((TAPS, dofs, dofs))
    response = sum(
        np.concatenate([np.zeros((j, dofs)), probe[: len(probe) - j]]) @ taps[j].T for j in range(TAPS)
    )
    return identify_fir(probe, response, TAPS, DT)


def make(model: ForwardModel, backend: str) -> CFPC:
    dofs = model.inputs
    feedback = PID(5.0, 60.0, 1.0, dt=model.dt, derivative_time_constant=0.02, dofs=dofs)
    basis = RaisedCosineBasis(1 + 2 * dofs, BASES, model.dt, span=1.5)
    rule = make_rule("eligibility", dofs=dofs, dt=model.dt, forward_model=model)
    return CFPC(feedback, basis, rule, learner=make_learner("gradient", learning_rate=0.01), backend=backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dofs", type=int, nargs="+", default=[1, 4, 23])
    parser.add_argument("--models", nargs="+", choices=["fir", "paper"], default=["fir", "paper"])
    parser.add_argument("--backend", choices=["auto", "torch", "numpy"], default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS CPU threads")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, backend {args.backend}, CPU threads {args.threads}, "
        f"{BASES} bases x (1 + 2D) cue channels; best of {args.repeats} x {args.steps} steps"
    )
    header = f"{'model':>5} {'D':>3} {'F':>5} {'order':>6} {'SISO':>5}"
    print(f"{header} {'full us':>10} {'diag us':>9} {'full/diag':>9}")
    for name in args.models:
        for dofs in args.dofs:
            model = fir_model(dofs) if name == "fir" else paper_model(dofs)
            diagonal = model.diagonal()
            controllers = {"full": make(model, args.backend), "diagonal": make(diagonal, args.backend)}
            seconds = best_of(controllers, args.steps, args.repeats)
            full, fast = seconds["full"] * 1e6, seconds["diagonal"] * 1e6
            features = controllers["full"].basis.features
            print(
                f"{name:>5} {dofs:>3} {features:>5} {model.order:>6} {diagonal.channel_order:>5} "
                f"{full:>10.0f} {fast:>9.0f} {full / fast:>9.1f}"
            )


if __name__ == "__main__":
    main()
