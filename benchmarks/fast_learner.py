"""Trials to the least-squares optimum: recursive least squares (optimizer rls) against the paper's rule.

    python benchmarks/fast_learner.py [--trials 10]

Config paper_linear, its cfpc controller; RMSE of each trial / the least-squares optimum, for an
exact forward model and one whose gain is off by 0.5x and 2x, and for three jittered intervals
(each seed's own interval every trial, against that seed's optimum). Measured in one run.
"""

from __future__ import annotations

import argparse

import numpy as np

from cfpc_gym.analysis.optimum import least_squares_optimum
from cfpc_gym.build import make_agent, make_vector_env
from cfpc_gym.config import load_config
from cfpc_gym.rollout import run_trial


def cfpc(*overrides: str):
    config = load_config("paper_linear", list(overrides))
    return config.model_copy(update={"controllers": [config.controllers[1]]})


def ratios(config, trials: int, seed: int) -> np.ndarray:
    optimum = least_squares_optimum(config).rmse
    agent = make_agent(config, 0, make_vector_env(config, 1))
    return np.array([run_trial(agent, seeds=[seed]).rmse[0] / optimum for _ in range(trials)])


def first_within(values: np.ndarray, limit: float = 1.02) -> str:
    hits = np.flatnonzero(values <= limit)
    return str(hits[0]) if len(hits) else f"> {len(values) - 1}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    cases = [("exact model", [], 0)]
    cases += [(f"model gain {g}x", [f"controllers.1.forward_model.gain={g}"], 0) for g in (0.5, 2.0)]
    cases += [(f"jitter, seed {s}", ["env.kwargs.interval_jitter=0.1", f"seed={s}"], s) for s in (1, 2, 3)]
    print(f"RMSE / least-squares optimum per trial (trials 0..{args.trials - 1}); first trial <= 1.02x")
    for label, overrides, seed in cases:
        for optimizer in ("gradient", "rls"):
            values = ratios(cfpc(*overrides, f"controllers.1.optimizer={optimizer}"), args.trials, seed)
            row = " ".join(f"{v:6.3f}" for v in values)
            print(f"{label:<17} {optimizer:<8} {row}   first <= 1.02x: {first_within(values)}")


if __name__ == "__main__":
    main()
