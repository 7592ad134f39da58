"""What a finished run leaves behind: the summary table it prints and the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import dump_config
from ..controllers.gain_adaptation import GAINS
from ..io import write_atomic
from .plots import plot_error_per_trial, plot_gains_per_trial, plot_trajectories
from .results import RunResult

OUTPUT_FILES = (  # every file write_outputs may write (cfpc-gym run checks them first), in its order
    "config.yaml",
    "metrics.json",
    "metrics.csv",
    "gains.csv",
    "error_per_trial.png",
    "trajectories.png",
    "gains_per_trial.png",
)


def summary_table(result: RunResult) -> str:
    """One row per controller: first and final RMSE, ratio to the optimum, lag, status; then the
    optimum and any adapted gains."""
    optimum = result.optimum.rmse if result.optimum else None
    rows = [("controller", "rule", "first RMSE", "final RMSE", "x LS optimum", "lag first -> last", "status")]
    for c in result.controllers:
        ratio = f"{c.final_rmse / optimum:.3f}" if optimum else "-"
        lags = " -> ".join(
            "-" if lag is None else f"{lag * 1000:.0f} ms" for lag in (c.trial_lag_s[0], c.trial_lag_s[-1])
        )
        status = _status(c, result.feedback_rmse)
        rows.append((c.name, c.rule, f"{c.trial_rmse[0]:.4g}", f"{c.final_rmse:.4g}", ratio, lags, status))
    if optimum is None:  # no linear model, no optimum column
        rows = [row[:4] + row[5:] for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if optimum:
        lines.append(f"least-squares optimum RMSE for this basis: {optimum:.4g}")
    for c in result.controllers:
        if c.trial_gains:
            gains = ", ".join(
                f"{name} {_values(c.trial_gains[0][name])} -> {_values(c.trial_gains[-1][name])}"
                for name in GAINS
            )
            lines.append(
                f"{c.name} gains: {gains}; model-following RMSE "
                f"{c.trial_model_rmse[0]:.4g} -> {c.trial_model_rmse[-1]:.4g}"
            )
    return "\n".join(lines)


def _status(result, feedback_rmse: float | None) -> str:
    status = result.status(feedback_rmse)
    if status == "diverged":
        return f"diverged (trial {result.diverged_at_trial})"
    if result.safeguard_trials:
        trials = ", ".join(str(t) for t in result.safeguard_trials[:3])
        more = f" +{len(result.safeguard_trials) - 3}" if len(result.safeguard_trials) > 3 else ""
        undone = f"safeguard undid trial {trials}{more}"
        return f"{status}; {undone}" if status != "safeguard acted" else undone
    return status


def _values(values: list[float]) -> str:
    return "/".join(f"{v:.3g}" for v in values)


def write_outputs(result: RunResult, out_dir: Path) -> list[Path]:
    """Write config.yaml, metrics.json, metrics.csv, gains.csv (gain adaptation) and the figures
    into ``out_dir``, each atomically; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | bytes] = {
        "config.yaml": dump_config(result.config),
        "metrics.json": json.dumps(result.metrics(), indent=2) + "\n",
        "metrics.csv": result.csv(),
    }
    gains = result.gains_csv()
    if gains is not None:
        files["gains.csv"] = gains
    files["error_per_trial.png"] = plot_error_per_trial(result)
    files["trajectories.png"] = plot_trajectories(result)
    if gains is not None:
        files["gains_per_trial.png"] = plot_gains_per_trial(result)
    for name, data in files.items():
        write_atomic(out_dir / name, data)
    return [out_dir / name for name in files]
