"""Cued elbow tracking at sensory delays of 20-100 ms: eligibility (linearised or identified
forward model) against LMS and feedback alone; error per trial as a plot, and a table.

    python benchmarks/elbow_delays.py [--delays 0.02 0.04 0.06 0.08 0.1] [--optimum 0.1]
        [--out runs/elbow_delays.png] [--json runs/elbow_delays.json]

Every run is configs/elbow_delays.yaml with env.kwargs.sensory_delay overridden. ``--optimum``
names the delays at which to also compute the brute-force optimum of the same basis on the
nonlinear plant (``gauss_newton_optimum``; minutes each).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from cfpc_gym.analysis.optimum import gauss_newton_optimum
from cfpc_gym.config import load_config
from cfpc_gym.experiment.runner import run_experiment
from cfpc_gym.io import new_figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delays", type=float, nargs="+", default=[0.02, 0.04, 0.06, 0.08, 0.1])
    parser.add_argument("--optimum", type=float, nargs="*", default=[])
    parser.add_argument("--config", default="elbow_delays")
    parser.add_argument("--out", type=Path, default=Path("runs/elbow_delays.png"))  # not the docs' figure
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for delay in args.delays:
        config = load_config(args.config)
        config.env.kwargs["sensory_delay"] = delay
        start = time.perf_counter()
        result = run_experiment(config, say=lambda _: None)
        row = {"delay": delay, "seconds": time.perf_counter() - start, "optimum": None}
        row["runs"] = {c.name: {"trial_rmse": c.trial_rmse, "diverged_at_trial": c.diverged_at_trial}
                       for c in result.controllers}  # fmt: skip
        if any(abs(delay - d) < 1e-9 for d in args.optimum):
            row["optimum"] = gauss_newton_optimum(config, iterations=80, tolerance=1e-4).rmse
        rows.append(row)
        print(table_row(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    plot(rows, args.out)


def table_row(row: dict) -> str:
    cells = [f"{row['delay'] * 1000:.0f} ms"]
    for name, run in row["runs"].items():
        rmse = run["trial_rmse"]
        diverged = (
            f" (diverged at {run['diverged_at_trial']})" if run["diverged_at_trial"] is not None else ""
        )
        cells.append(f"{name} {rmse[-1]:.4f}{diverged}")
    if row["optimum"] is not None:
        cells.append(f"optimum {row['optimum']:.4f}")
    return " | ".join(cells)


def plot(rows: list[dict], out: Path) -> None:
    figure = new_figure(figsize=(3.2 * len(rows), 3.2))
    axes = figure.subplots(1, len(rows), sharey=True, squeeze=False)
    for axis, row in zip(axes[0], rows, strict=True):
        for name, run in row["runs"].items():
            axis.semilogy(run["trial_rmse"], label=name)
        if row["optimum"] is not None:
            axis.axhline(row["optimum"], color="k", linestyle="--", label="brute-force optimum")
        axis.set(title=f"sensory delay {row['delay'] * 1000:.0f} ms", xlabel="trial")
        axis.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("tracking RMSE (rad)")
    axes[0, -1].legend(fontsize=7)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80, bbox_inches="tight")


if __name__ == "__main__":
    main()
