"""The bench's report: per task and method over seeds, final error, steps and time to 50 % and
90 % of the improvement, CFPC's steps against RL's; where the env gives a goal, the goal error and
success beside published references; as markdown, CSV, JSON and figures."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ConfigError, dump_config, load_config
from ..io import write_atomic
from .cells import CellResult
from .config import ALGORITHMS, BenchConfig, dump_bench
from .plots import plot_goal_errors, plot_learning_curves
from .references import ReferencePoint, references_for
from .store import BENCH_FILE


@dataclass
class Row:
    """One method on one task, over seeds."""

    task: str
    label: str
    results: list[CellResult]
    window: int = 1  # trials per running mean

    @property
    def ran(self) -> list[CellResult]:
        return [r for r in self.results if r.status != "skipped"]

    def curves(self, measure: str = "rmse") -> list[tuple[np.ndarray, np.ndarray]]:
        """Per seed that ran and recorded ``measure`` (``rmse``, ``goal_error``, ``success``): env
        steps and the smoothed measure."""
        return [
            (np.asarray(r.curve.env_steps), smoothed(r, self.window, measure))
            for r in self.ran
            if recorded(r, measure)
        ]

    @property
    def final(self) -> np.ndarray:
        """Per seed: the last point of the smoothed RMSE curve."""
        return self.final_of("rmse")

    def final_of(self, measure: str) -> np.ndarray:
        """Per seed that recorded ``measure``: the last point of its smoothed curve."""
        return np.array([smoothed(r, self.window, measure)[-1] for r in self.ran if recorded(r, measure)])

    def held_out(self, measure: str) -> np.ndarray:
        """Per seed: ``measure`` on held-out episodes after learning, learning frozen, where the task
        config asks for ``evaluation``: the runner's held-out seeds, the same goals for every
        method; else, for RL, its last evaluation (held-out episodes of its own)."""
        values = []
        for r in self.ran:
            if r.held_out is not None and r.held_out.get(measure) is not None:
                values.append(r.held_out[measure])
            elif r.method in ALGORITHMS and recorded(r, measure):
                values.append(getattr(r.curve, measure)[-1])
        return np.array(values, dtype=float)


def recorded(result: CellResult, measure: str) -> bool:
    """Whether the cell's curve holds ``measure`` at every point (goal error and success: only on
    envs with a goal, and cells written since they are recorded)."""
    values = getattr(result.curve, measure)
    return bool(values) and all(v is not None for v in values)


def smoothed(result: CellResult, window: int, measure: str = "rmse") -> np.ndarray:
    """The curve of ``measure`` as a running mean over ``window`` trials (trailing; the first
    window - 1 points are NaN); RL curves are left alone: each of their points already averages
    evaluation episodes."""
    values = np.array([np.nan if v is None else v for v in getattr(result.curve, measure)], dtype=float)
    if window <= 1 or result.method in ALGORITHMS or values.size < window:
        return values
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    return np.concatenate([np.full(window - 1, np.nan), means])


def level_reached(result: CellResult, level: float, window: int = 1) -> tuple[int, float] | None:
    """Env steps and learning time at which the (smoothed) curve first gets to ``level`` or below."""
    curve = result.curve
    for steps, rmse, wall in zip(curve.env_steps, smoothed(result, window), curve.wall_time_s, strict=True):
        if rmse <= level:
            return int(steps), float(wall)
    return None


def rows_by_task(results: list[CellResult], window: dict[str, int] | None = None) -> dict[str, list[Row]]:
    """Cells grouped by task, then by method label (one ``Row`` per method, over seeds)."""
    grouped: dict[str, dict[str, list[CellResult]]] = {}
    for r in results:
        grouped.setdefault(r.task, {}).setdefault(r.label, []).append(r)
    window = window or {}
    return {
        task: [Row(task, label, rs, window.get(task, 1)) for label, rs in labels.items()]
        for task, labels in grouped.items()
    }


def _mean_sd(values: np.ndarray) -> str:
    if values.size == 0:
        return "-"
    return f"{np.mean(values):.4g} ± {np.std(values):.2g}"


def _reach_text(row: Row, level: float, what: int) -> str:
    """Mean over the seeds that got there (steps: what=0, seconds: what=1), and how many did."""
    hits = [level_reached(r, level, row.window) for r in row.ran]
    got = [h[what] for h in hits if h is not None]
    if not row.ran:
        return "-"
    count = f" ({len(got)}/{len(row.ran)})" if len(got) < len(row.ran) else ""
    if not got:
        budget = max(r.curve.env_steps[-1] for r in row.ran if r.curve.env_steps)
        return f"never in {budget:,}" if what == 0 else "never"
    return (f"{np.mean(got):,.0f}" if what == 0 else f"{np.mean(got):.3g} s") + count


def improvement_levels(rows: list[Row]) -> tuple[float, float, float] | None:
    """Feedback-only RMSE, the best mean final RMSE of any method, and the 50 % and 90 % levels
    between them: (feedback, level50, level90)."""
    feedback = next((r for r in rows if r.label == "feedback" and r.ran), None)
    finals = [np.mean(r.final) for r in rows if r.ran and np.all(np.isfinite(r.final))]
    if feedback is None or not finals:
        return None
    start, best = float(np.mean(feedback.final)), min(finals)
    return start, start - 0.5 * (start - best), start - 0.9 * (start - best)


def markdown(
    results: list[CellResult],
    bench: BenchConfig,
    profile: str,
    references: dict[str, tuple[ReferencePoint, ...]] | None = None,
) -> str:
    """results.md: a table per task, CFPC's steps against RL's, the lead ILC ran with, and where the
    env gives a goal, a table of goal error and success beside ``references`` (by task)."""
    references = references or {}
    lines = [f"# {bench.name}", "", f"Profile `{profile}`. Final RMSE over seeds (mean ± sd); steps and "
             "learning wall time to reach 50 % and 90 % of the improvement from feedback-only to the best "
             "method (mean over the seeds that got there; (n/N) when not all did).", ""]  # fmt: skip
    for task, rows in rows_by_task(results, bench.window).items():
        levels = improvement_levels(rows)
        lines += [f"## {task}", ""]
        if rows[0].window > 1:
            lines += [f"Trial-based curves are running means over {rows[0].window} trials.", ""]
        if levels:
            lines.append(
                f"Feedback-only {levels[0]:.4g}; 50 % level {levels[1]:.4g}; 90 % level {levels[2]:.4g}."
            )
            lines.append("")
        lines.append(
            "| method | seeds | final RMSE | x feedback-only | steps to 50 % | steps to 90 % | "
            "time to 50 % | time to 90 % | env steps/s | status |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            if not row.ran:
                lines.append(f"| {row.label} | 0 | - | - | - | - | - | - | - | {row.results[0].note} |")
                continue
            ratio = f"{np.mean(row.final) / levels[0]:.3f}" if levels else "-"
            reached = [_reach_text(row, level, what) for level in (levels or [])[1:] for what in (0, 1)]
            reached = [reached[0], reached[2], reached[1], reached[3]] if reached else ["-"] * 4
            speed = np.nanmean([r.steps_per_second for r in row.ran])
            statuses = sorted({r.note or r.status for r in row.ran})
            lines.append(
                f"| {row.label} | {len(row.ran)} | {_mean_sd(row.final)} | {ratio} | "
                + " | ".join(reached)
                + f" | {speed:,.0f} | {'; '.join(statuses)} |"
            )
        lines += ["", *claims(rows), ""]
        lines += ilc_leads(rows, bench.ilc.lead)
        lines += goal_table(rows, references.get(task, ()))
    return "\n".join(lines).rstrip() + "\n"


def ilc_leads(rows: list[Row], configured: float) -> list[str]:
    """The lead each ILC row ran with (``ilc.lead`` rounded to the task's control step)."""
    leads = {
        row.label: sorted({r.lead_s for r in row.ran if r.lead_s is not None})
        for row in rows
        if any(r.lead_s is not None for r in row.ran)
    }
    if not leads:
        return []
    ran = "; ".join(f"{label} {', '.join(f'{v:g}' for v in values)} s" for label, values in leads.items())
    return [
        f"ILC's lead as run, `ilc.lead` ({configured:g} s) in whole control steps of this task: {ran}.",
        "",
    ]


def goal_table(rows: list[Row], references: tuple[ReferencePoint, ...] = ()) -> list[str]:
    """Where the env gives a goal: per method, the goal error (episode-mean distance to the goal)
    and success on held-out episodes and at the end of learning, and the published references.
    "x feedback-only" compares held-out goal errors where every method has them (the same goals for
    all), else the ends of learning."""
    ran = [row for row in rows if row.final_of("goal_error").size]
    if not ran:
        return []
    held_out = all(row.held_out("goal_error").size for row in ran)
    measure = (
        (lambda row: row.held_out("goal_error")) if held_out else (lambda row: row.final_of("goal_error"))
    )
    feedback = next((row for row in ran if row.label == "feedback"), None)
    start = float(np.mean(measure(feedback))) if feedback else None
    lines = [
        "Goal error: the episode-mean distance between output and goal after each step (on MyoSuite, its "
        "pose distance); "
        "success: the share of episodes that succeed by the env's rule. Held out: after learning, "
        "learning frozen, the task config's `evaluation` episodes, the same goals for every method (RL "
        "without them: its last evaluation). End of learning: the last point of the curve (a running "
        "mean of the trials, or the last RL evaluation). "
        + ("x feedback-only: held-out goal errors." if held_out else "x feedback-only: ends of learning."),
        "",
        "| method | seeds | goal error, held out | success, held out | x feedback-only | "
        "goal error, end of learning | success, end of learning | env steps | env steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ran:
        ratio = f"{np.mean(measure(row)) / start:.3f}" if start else "-"
        steps = int(np.mean([r.curve.env_steps[-1] for r in row.ran if r.curve.env_steps]))
        speed = np.nanmean([r.steps_per_second for r in row.ran])
        lines.append(
            f"| {row.label} | {len(row.ran)} | {_mean_sd(row.held_out('goal_error'))} | "
            f"{_percent(row.held_out('success'))} | {ratio} | {_mean_sd(row.final_of('goal_error'))} | "
            f"{_percent(row.final_of('success'))} | {steps:,} | {speed:,.0f} |"
        )
    if references:
        lines += [
            "",
            f"{references[0].label} (published; `cfpc_gym/bench/references.py`): "
            + reference_text(references)
            + ".",
        ]
    return [*lines, ""]


def reference_text(points: tuple[ReferencePoint, ...]) -> str:
    """Reference points in words: ``goal error 0.12 after 105,600 env steps; ...``."""
    said = []
    for point in points:
        measured = [
            f"goal error {point.goal_error:.4g}" if point.goal_error is not None else "",
            f"success {100 * point.success:.0f} %" if point.success is not None else "",
        ]
        said.append(f"{' and '.join(m for m in measured if m)} after {point.env_steps:,} env steps")
    return "; ".join(said)


def _percent(values: np.ndarray) -> str:
    return f"{100 * np.mean(values):.0f} %" if values.size else "-"


def claims(rows: list[Row]) -> list[str]:
    """CFPC against RL on the same error: steps CFPC needs for 90 % of its own improvement, steps
    each RL method needs to reach that same error (or never, within its budget)."""
    by_label = {r.label: r for r in rows}
    cfpc, feedback = by_label.get("eligibility"), by_label.get("feedback")
    if not (cfpc and feedback and cfpc.ran and feedback.ran):
        return []
    start = float(np.mean(feedback.final))
    level = start - 0.9 * (start - float(np.mean(cfpc.final)))
    hits = [level_reached(r, level, cfpc.window) for r in cfpc.ran]
    if level >= start or any(h is None for h in hits):
        return ["CFPC (eligibility) does not improve on feedback-only in every seed: no level to compare."]
    cfpc_steps = float(np.mean([h[0] for h in hits]))
    lines = [
        f"CFPC (eligibility) reaches 90 % of its improvement (RMSE {level:.4g}) after "
        f"{cfpc_steps:,.0f} env steps."
    ]
    for algorithm in ALGORITHMS:
        row = by_label.get(algorithm)
        if not (row and row.ran):
            continue
        rl_hits = [level_reached(r, level, row.window) for r in row.ran]
        if all(h is not None for h in rl_hits):
            steps = float(np.mean([h[0] for h in rl_hits]))
            ratio = steps / cfpc_steps
            lines.append(f"{algorithm.upper()} reaches it after {steps:,.0f} steps: {ratio:,.1f}x CFPC's.")
        else:
            budget = min(r.curve.env_steps[-1] for r in row.ran)
            best = float(np.min([min(r.curve.rmse) for r in row.ran]))
            lines.append(
                f"{algorithm.upper()} does not reach it within {budget:,} steps ({budget / cfpc_steps:,.0f}x "
                f"CFPC's) in {sum(h is None for h in rl_hits)}/{len(rl_hits)} seeds; best RMSE {best:.4g}."
            )
    return lines


def csv(results: list[CellResult]) -> str:
    """results.csv: one row per cell and curve point (goal error and success empty where not recorded)."""
    lines = ["task,method,variant,seed,status,env_steps,rmse,wall_time_s,goal_error,success"]
    for r in results:
        points = len(r.curve.env_steps)
        goal_errors = r.curve.goal_error or [None] * points
        successes = r.curve.success or [None] * points
        for steps, rmse, wall, goal, success in zip(
            r.curve.env_steps, r.curve.rmse, r.curve.wall_time_s, goal_errors, successes, strict=True
        ):
            extra = ",".join("" if v is None else f"{v:.9g}" for v in (goal, success))
            lines.append(
                f'{r.task},{r.method},"{r.variant}",{r.seed},{r.status},{steps},{rmse:.9g},{wall:.4f},{extra}'
            )
    return "\n".join(lines) + "\n"


def as_json(results: list[CellResult]) -> list[dict]:
    """Every cell as a plain mapping (results.json)."""
    return [r.to_dict() for r in results]


def task_references(bench: BenchConfig) -> dict[str, tuple[ReferencePoint, ...]]:
    """Published reference points by task (``references.py``); tasks without any are left out."""
    found = {}
    for task in bench.tasks:
        with contextlib.suppress(ConfigError):
            if points := references_for(load_config(task)):
                found[task] = points
    return found


def write_outputs(bench: BenchConfig, profile: str, results: list[CellResult], out: Path) -> list[Path]:
    """Write bench.yaml, results.md/.csv/.json, error_vs_steps.png, goal_error_vs_steps.png (where a
    task's env gives a goal) and the task configs into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    references = task_references(bench)
    rows = rows_by_task(results, bench.window)
    files = {
        BENCH_FILE: dump_bench(bench),
        "results.md": markdown(results, bench, profile, references),
        "results.csv": csv(results),
        "results.json": json.dumps({"profile": profile, "cells": as_json(results)}, indent=1) + "\n",
        "error_vs_steps.png": plot_learning_curves(rows),
    }
    if any(row.curves("goal_error") for task_rows in rows.values() for row in task_rows):
        files["goal_error_vs_steps.png"] = plot_goal_errors(rows, references)
    for task in bench.tasks:  # the run configs as they were: bundled ones change between versions
        with contextlib.suppress(ConfigError):
            files[f"tasks/{Path(task).stem}.yaml"] = dump_config(load_config(task))
    (out / "tasks").mkdir(exist_ok=True)
    for name, data in files.items():
        write_atomic(out / name, data)
    return [out / name for name in files]
