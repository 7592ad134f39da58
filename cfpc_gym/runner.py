"""Run an experiment: every configured controller on the same task, trial after trial."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .agent import CFPCAgent, env_attribute
from .build import make_agent, make_vector_env
from .config import RunConfig, dump_config
from .optimum import Optimum, least_squares_optimum
from .rollout import TrialRecord, run_trial


@dataclass
class ControllerResult:
    name: str
    rule: str
    trial_rmse: list[float] = field(default_factory=list)
    trial_max_error: list[float] = field(default_factory=list)
    diverged_at_trial: int | None = None
    wall_time_s: float = 0.0
    first_trial: TrialRecord | None = None
    last_trial: TrialRecord | None = None

    @property
    def final_rmse(self) -> float:
        return self.trial_rmse[-1]


@dataclass
class RunResult:
    config: RunConfig
    controllers: list[ControllerResult]
    optimum: Optimum | None
    dt: float  # control period of the env, seconds

    def metrics(self) -> dict:
        optimum = self.optimum.rmse if self.optimum else None
        runs = []
        for c in self.controllers:
            runs.append(
                {
                    "name": c.name,
                    "rule": c.rule,
                    "trial_rmse": c.trial_rmse,
                    "trial_max_error": c.trial_max_error,
                    "final_rmse": c.final_rmse,
                    "best_rmse": min(c.trial_rmse),
                    "final_to_optimum": c.final_rmse / optimum if optimum else None,
                    "diverged": c.diverged_at_trial is not None,
                    "diverged_at_trial": c.diverged_at_trial,
                    "wall_time_s": c.wall_time_s,
                }
            )
        return {
            "name": self.config.name,
            "env": self.config.env.id,
            "trials": self.config.trials,
            "seed": self.config.seed,
            "ls_optimum_rmse": optimum,
            "feedback_only_rmse": self.optimum.feedback_rmse if self.optimum else None,
            "runs": runs,
        }


def prepare(config: RunConfig, index: int) -> CFPCAgent:
    """The agent of one configured controller over its envs: every config error surfaces here."""
    return make_agent(config, index, make_vector_env(config, config.envs))


def run_controller(
    config: RunConfig, index: int, say: Callable[[str], None], agent: CFPCAgent | None = None
) -> ControllerResult:
    settings = config.controllers[index]
    agent = agent or prepare(config, index)
    result = ControllerResult(settings.name, settings.rule)
    start = time.perf_counter()
    for trial in range(config.trials):
        seeds = [config.seed + i for i in range(config.envs)] if trial == 0 else None
        record = run_trial(agent, seeds=seeds)
        rmse = float(np.mean(record.rmse))
        result.trial_rmse.append(rmse)
        result.trial_max_error.append(float(np.max(record.max_error)))
        if trial == 0:
            result.first_trial = record
        result.last_trial = record
        if trial == 0:
            # Diverged: error beyond a multiple of the movement itself, or of the first trial's error.
            target_rms = float(np.sqrt(np.mean(record.target**2)))
            scale = min(rmse, target_rms) if target_rms > 0 else rmse
            limit = config.divergence_factor * scale
        if not math.isfinite(rmse) or rmse > limit:
            result.diverged_at_trial = trial
            say(
                f"controller {settings.name!r} ({settings.rule}): learning diverged at trial {trial} "
                f"(RMSE {rmse:.3g} > {limit:.3g}, {config.divergence_factor:g} x the smaller of the first "
                "trial's RMSE and the target's RMS); stopped it. Lower learning_rate, or use rule "
                "eligibility with a forward model."
            )
            break
    result.wall_time_s = time.perf_counter() - start
    agent.env.close()
    return result


def run_experiment(config: RunConfig, say: Callable[[str], None] = print) -> RunResult:
    """Run every controller; compute the least-squares optimum when the env is linear."""
    agents = [prepare(config, index) for index in range(len(config.controllers))]  # fail early
    spec = agents[0].spec
    optimum = least_squares_optimum(config) if env_attribute(agents[0].env, "linear_model") else None
    results = []
    for index, settings in enumerate(config.controllers):
        count = f"[{index + 1}/{len(config.controllers)}]"
        say(f"{count} {settings.name} ({settings.rule}): {config.trials} trials")
        results.append(run_controller(config, index, say, agents[index]))
    return RunResult(config, results, optimum, spec.dt)


def summary_table(result: RunResult) -> str:
    optimum = result.optimum.rmse if result.optimum else None
    rows = [("controller", "rule", "first RMSE", "final RMSE", "x LS optimum", "status")]
    for c in result.controllers:
        ratio = f"{c.final_rmse / optimum:.3f}" if optimum else "-"
        status = f"diverged (trial {c.diverged_at_trial})" if c.diverged_at_trial is not None else "ok"
        rows.append((c.name, c.rule, f"{c.trial_rmse[0]:.4g}", f"{c.final_rmse:.4g}", ratio, status))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if optimum:
        lines.append(f"least-squares optimum RMSE for this basis: {optimum:.4g}")
    return "\n".join(lines)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see a partial file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(temporary, path)


def write_outputs(result: RunResult, out_dir: Path) -> list[Path]:
    from .plots import plot_error_per_trial, plot_trajectories

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("config.yaml", dump_config(result.config)),
        ("metrics.json", json.dumps(result.metrics(), indent=2) + "\n"),
    ):
        write_atomic(out_dir / name, text)
        written.append(out_dir / name)
    for name, figure in (
        ("error_per_trial.png", plot_error_per_trial(result)),
        ("trajectories.png", plot_trajectories(result)),
    ):
        write_atomic(out_dir / name, figure)
        written.append(out_dir / name)
    return written
