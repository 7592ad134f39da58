"""Benchmarks: tasks x methods x seeds, side by side, on the same envs and the same error measure.

A task is a run config (bundled name or YAML path): its env, feedback controller and basis. A
method turns it into one learner:

- ``feedback``: the task's PID alone;
- ``eligibility``, ``lms``, ``delayed``, ``fel``: the CFPC module with that rule, settings from the
  task's controller of that rule (else from its ``eligibility`` controller);
- ``ilc``: P-type iterative learning control, the engineering baseline: a lookup table in time since
  the cue (``time_table`` basis) learned trial to trial from the error ``lead`` seconds later;
- ``ppo``, ``sac``: Stable-Baselines3 on the env's observations and reward (``baselines.py``).

Every cell records a learning curve: tracking RMSE (reference - measurement) against env steps
and learning wall time. Trial-based methods are measured on the trials they learn from; RL on
deterministic evaluation episodes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import Field, field_validator

from .baselines import ALGORITHMS, Curve, require_sb3, train_rl
from .config import (
    ConfigError,
    ControllerConfig,
    MissingExtra,
    RunConfig,
    Section,
    TimeTableConfig,
    apply_override,
    dump_config,
    load_config,
    read_config,
    validated,
)

TRIAL_METHODS = ("feedback", "eligibility", "lms", "delayed", "fel", "ilc")
METHODS = TRIAL_METHODS + ALGORITHMS


class ProfileConfig(Section):
    trials: int | None = Field(None, ge=1)
    """Trials of every trial-based method (None: each task config's own ``trials``)."""
    ppo_steps: int = Field(100_000, ge=1)
    """Env steps PPO trains for."""
    sac_steps: int = Field(10_000, ge=1)
    """Env steps SAC trains for."""
    evaluations: int = Field(8, ge=1)
    """RL evaluation points, log-spaced up to the budget."""
    eval_episodes: int = Field(2, ge=1)
    """Deterministic episodes per RL evaluation."""


class ILCConfig(Section):
    learning_rate: float = Field(0.5, gt=0)
    """Gain of the trial-to-trial update (stable for 0 < gain < 2 when the lead matches the loop)."""
    lead: float = Field(0.15, ge=0)
    """Seconds: entry t learns from the error at t + lead (the loop's delay and lag)."""
    span: float = Field(2.0, gt=0)
    """Seconds after the cue the table covers."""


class RLConfig(Section):
    hyperparameters: dict[str, Any] = {}
    """Keyword arguments of the SB3 constructor (empty: SB3's defaults)."""


class BenchConfig(Section):
    name: str = "bench"
    tasks: list[str] = Field(min_length=1)
    """Run configs: bundled names (cued_elbow) or YAML paths."""
    methods: list[str] = Field(min_length=1)
    """Any of feedback, eligibility, lms, delayed, fel, ilc, ppo, sac."""
    seeds: int = Field(3, ge=1)
    """Seeds 0 .. seeds-1 for every task and method."""
    profiles: dict[Literal["quick", "full"], ProfileConfig]
    learning_rate: float | None = Field(None, gt=0)
    """Step size of every CFPC rule on every task (None: each task controller's own)."""
    ilc: ILCConfig = ILCConfig()
    ppo: RLConfig = RLConfig()
    sac: RLConfig = RLConfig()
    window: dict[str, int] = {}
    """Trials per running mean, by task (default 1): for tasks whose trials differ (the arm's 8
    targets), final RMSE and the steps to a level use the mean of that many consecutive trials."""
    grid: dict[str, list[Any]] = {}
    """cfpc-gym sweep only: dotted keys to values; ``task.KEY`` sets KEY in every task's run config,
    other keys set the bench config (e.g. ilc.lead, ppo.hyperparameters.learning_rate)."""

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        for method in methods:
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        return methods

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        return grid


DEFAULT_BENCH = "bench"


def load_bench(path: str | Path | None = None, overrides: Iterable[str] = ()) -> BenchConfig:
    """Read, override and validate a bench config (``path`` None: the bundled bench)."""
    return validate_bench(read_config(path, overrides, DEFAULT_BENCH))


def validate_bench(data: dict[str, Any]) -> BenchConfig:
    return validated(BenchConfig, data)


# --- cells: one task, one method, one seed ------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    task: str
    method: str
    seed: int
    variant: str = ""  # sweep: the grid point, e.g. "ilc.lead=0.1"
    task_overrides: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method} [{self.variant}]" if self.variant else self.method


@dataclass
class CellResult:
    task: str
    method: str
    seed: int
    variant: str = ""
    curve: Curve = field(default_factory=Curve)
    status: str = "ok"  # ok | diverged | skipped
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.method} [{self.variant}]" if self.variant else self.method

    @property
    def final_rmse(self) -> float:
        return self.curve.rmse[-1] if self.curve.rmse else math.nan

    @classmethod
    def from_dict(cls, data: dict) -> CellResult:
        return cls(**{**data, "curve": Curve(**data["curve"])})

    @property
    def steps_per_second(self) -> float:
        wall = self.curve.wall_time_s[-1] if self.curve.wall_time_s else 0.0
        return self.curve.env_steps[-1] / wall if wall > 0 else math.nan


def task_config(cell: Cell) -> RunConfig:
    return load_config(cell.task, list(cell.task_overrides))


LEARNING_SETTINGS = {"learning_rate", "normalized", "regularization", "shared_weights"}


def method_config(
    task: RunConfig,
    method: str,
    seed: int,
    trials: int,
    ilc: ILCConfig,
    learning_rate: float | None = None,
) -> RunConfig:
    """The task's run config with this method as its only controller."""
    by_rule = {c.rule: c for c in task.controllers}
    update: dict[str, Any] = {"name": f"{task.name}-{method}", "seed": seed, "trials": trials, "envs": 1}
    if method == "feedback":
        controller = ControllerConfig(name=method, rule="none")
    elif method == "ilc":
        controller = ControllerConfig(
            name=method, rule="delayed", learning_rate=ilc.learning_rate, trace_delay=ilc.lead
        )
        update["basis"] = TimeTableConfig(kind="time_table", span=ilc.span)
    else:
        if method in by_rule:
            settings = by_rule[method].model_dump()
        elif "eligibility" in by_rule:  # the task's learning settings, not its trace's forward model
            settings = by_rule["eligibility"].model_dump(include=LEARNING_SETTINGS)
        else:
            settings = {}
        if learning_rate is not None:
            settings["learning_rate"] = learning_rate
        controller = validated(ControllerConfig, {**settings, "name": method, "rule": method})
    return task.model_copy(update={**update, "controllers": [controller]})


def run_cell(bench: BenchConfig, profile: str, cell: Cell) -> CellResult:
    """Run one cell in this process (one torch thread: cells run side by side). A task whose
    optional extra is missing (MyoSuite) is skipped, with the install line as its note."""
    import torch

    torch.set_num_threads(1)
    result = CellResult(cell.task, cell.method, cell.seed, cell.variant)
    try:
        result.curve, result.status, result.note = _learn(bench, bench.profiles[profile], cell)
    except MissingExtra as exc:
        result.status, result.note = "skipped", str(exc)
    return result


def _learn(bench: BenchConfig, settings: ProfileConfig, cell: Cell) -> tuple[Curve, str, str]:
    from .runner import prepare, run_controller

    task = task_config(cell)
    if cell.method in ALGORITHMS:
        curve = train_rl(
            task.model_copy(update={"seed": cell.seed}),
            cell.method,
            steps=settings.ppo_steps if cell.method == "ppo" else settings.sac_steps,
            seed=cell.seed,
            evaluations=settings.evaluations,
            eval_episodes=settings.eval_episodes,
            hyperparameters=getattr(bench, cell.method).hyperparameters,
        )
        return curve, "ok", ""
    trials = settings.trials or task.trials
    config = method_config(task, cell.method, cell.seed, trials, bench.ilc, bench.learning_rate)
    run = run_controller(config, 0, lambda message: None, prepare(config, 0))
    curve, steps_per_trial = Curve(), run.env_steps // run.trials_done
    for trial, (rmse, wall) in enumerate(zip(run.trial_rmse, np.cumsum(run.trial_wall_time_s), strict=True)):
        curve.add(steps_per_trial * (trial + 1), rmse, wall)
    if run.diverged_at_trial is not None:
        return curve, "diverged", f"diverged at trial {run.diverged_at_trial}"
    return curve, "ok", ""


def expand(bench: BenchConfig) -> list[tuple[BenchConfig, Cell]]:
    """Every cell of the matrix, for every grid point (one when there is no grid)."""
    keys = list(bench.grid)
    cells = []
    for values in itertools.product(*(bench.grid[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        variant = ", ".join(f"{k}={v}" for k, v in point.items())
        data = bench.model_dump(mode="json")
        data["grid"] = {}
        task_overrides = []
        for key, value in point.items():
            if key.startswith("task."):
                task_overrides.append(f"{key.removeprefix('task.')}={yaml.safe_dump(value).strip()}")
            else:
                apply_override(data, f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}")
        variant_bench = validate_bench(data)
        for task, method, seed in itertools.product(bench.tasks, bench.methods, range(bench.seeds)):
            cells.append((variant_bench, Cell(task, method, seed, variant, tuple(task_overrides))))
    return cells


def check(bench: BenchConfig, profile: str) -> None:
    """Every problem a bench would meet, found before anything runs: one line, naming the key.
    It builds each task's controllers (forward models included) once, as their cells will."""
    from .runner import prepare

    if profile not in bench.profiles:
        raise ConfigError(f"profiles: no {profile!r} profile in this bench config")
    for method in bench.methods:
        if method in ALGORITHMS:
            require_sb3(method)
    for variant, cell in expand(bench)[:: max(len(bench.methods) * bench.seeds, 1)]:
        try:
            task = task_config(cell)
        except ConfigError as exc:
            raise ConfigError(f"tasks: {cell.task}: {exc}") from None
        for method in [m for m in variant.methods if m in TRIAL_METHODS]:
            try:
                config = method_config(task, method, 0, task.trials, variant.ilc, variant.learning_rate)
                prepare(config, 0).env.close()  # builds the forward model and controller, as the cell will
            except MissingExtra:  # the cells of this task are skipped, with the install line
                break
            except ConfigError as exc:
                reason = str(exc).removeprefix("controllers.0.")  # the one controller of the cell
                raise ConfigError(f"tasks: {cell.task}: method {method}: {reason}") from None


def run_cells(
    cells: list[tuple[BenchConfig, Cell]],
    profile: str,
    workers: int,
    on_result: Callable[[CellResult], None] = lambda r: None,
    done: dict[tuple, CellResult] | None = None,
) -> list[CellResult]:
    """Run cells on a local process pool (``workers`` 1: in this process), results in cell order;
    cells already ``done`` (a resumed run) are not run again."""
    results, todo = outstanding(cells, done)
    if workers <= 1:
        for index in todo:
            results[index] = run_cell(cells[index][0], profile, cells[index][1])
            on_result(results[index])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # torch and MuJoCo do not survive fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_cell, cells[i][0], profile, cells[i][1]): i for i in todo}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            on_result(results[futures[future]])
    return results


def key(cell: Cell | CellResult) -> tuple:
    return (cell.task, cell.method, cell.seed, cell.variant)


def outstanding(
    cells: list[tuple[BenchConfig, Cell]], done: dict[tuple, CellResult] | None
) -> tuple[list[CellResult | None], list[int]]:
    """Results so far (from ``done``) in cell order, and the indices of the cells still to run."""
    done = done or {}
    results = [done.get(key(cell)) for _, cell in cells]
    return results, [i for i, result in enumerate(results) if result is None]


def load_cells(out: Path, profile: str) -> dict[tuple, CellResult]:
    """The cells a killed run finished (``out/cells.jsonl``), by key."""
    import json

    path, done = out / CELLS, {}
    lines = path.read_text().splitlines() if path.exists() else []
    for number, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
            result = CellResult.from_dict({k: v for k, v in data.items() if k != "profile"})
        except (ValueError, TypeError, KeyError):
            if number == len(lines):
                break  # a line cut short by the kill: that cell runs again
            raise ConfigError(
                f"--resume: {path} line {number} is corrupted; delete it to rerun that cell"
            ) from None
        if data.get("profile") != profile:
            other = data.get("profile")
            raise ConfigError(f"--resume: {path} holds cells of the {other} profile; pass --{other}")
        done[key(result)] = result
    return done


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# --- summary ------------------------------------------------------------------------------------


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

    def curves(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per seed that ran: env steps and the smoothed RMSE."""
        return [(np.asarray(r.curve.env_steps), smoothed(r, self.window)) for r in self.ran if r.curve.rmse]

    @property
    def final(self) -> np.ndarray:
        """Per seed: the last point of the smoothed curve."""
        return np.array([smoothed(r, self.window)[-1] for r in self.ran])


def smoothed(result: CellResult, window: int) -> np.ndarray:
    """The curve's running mean over ``window`` trials (trailing; the first window - 1 points are
    NaN); RL curves are left alone: each of their points already averages evaluation episodes."""
    rmse = np.asarray(result.curve.rmse, dtype=float)
    if window <= 1 or result.method in ALGORITHMS or rmse.size < window:
        return rmse
    means = np.convolve(rmse, np.ones(window) / window, mode="valid")
    return np.concatenate([np.full(window - 1, np.nan), means])


def reach(result: CellResult, level: float, window: int = 1) -> tuple[int, float] | None:
    """Env steps and learning time at which the (smoothed) curve first gets to ``level`` or below."""
    curve = result.curve
    for steps, rmse, wall in zip(curve.env_steps, smoothed(result, window), curve.wall_time_s, strict=True):
        if rmse <= level:
            return int(steps), float(wall)
    return None


def rows_by_task(results: list[CellResult], window: dict[str, int] | None = None) -> dict[str, list[Row]]:
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
    hits = [reach(r, level, row.window) for r in row.ran]
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


def markdown(results: list[CellResult], bench: BenchConfig, profile: str) -> str:
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
    return "\n".join(lines).rstrip() + "\n"


def claims(rows: list[Row]) -> list[str]:
    """CFPC against RL on the same error: steps CFPC needs for 90 % of its own improvement, steps
    each RL method needs to reach that same error (or never, within its budget)."""
    by_label = {r.label: r for r in rows}
    cfpc, feedback = by_label.get("eligibility"), by_label.get("feedback")
    if not (cfpc and feedback and cfpc.ran and feedback.ran):
        return []
    start = float(np.mean(feedback.final))
    level = start - 0.9 * (start - float(np.mean(cfpc.final)))
    hits = [reach(r, level, cfpc.window) for r in cfpc.ran]
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
        rl_hits = [reach(r, level, row.window) for r in row.ran]
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
    lines = ["task,method,variant,seed,status,env_steps,rmse,wall_time_s"]
    for r in results:
        for steps, rmse, wall in zip(r.curve.env_steps, r.curve.rmse, r.curve.wall_time_s, strict=True):
            lines.append(
                f'{r.task},{r.method},"{r.variant}",{r.seed},{r.status},{steps},{rmse:.9g},{wall:.4f}'
            )
    return "\n".join(lines) + "\n"


def as_json(results: list[CellResult]) -> list[dict]:
    return [asdict(r) for r in results]


CELLS = "cells.jsonl"
BENCH_FILE = "bench.yaml"


def dump_bench(bench: BenchConfig) -> str:
    return yaml.safe_dump(bench.model_dump(mode="json"), sort_keys=False)


def save_cell(out: Path, profile: str, result: CellResult) -> None:
    """Append one finished cell to ``out/cells.jsonl``: a crash or a kill loses no finished work."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    with open(out / CELLS, "a") as stream:
        stream.write(json.dumps({**asdict(result), "profile": profile}) + "\n")


def write_outputs(bench: BenchConfig, profile: str, results: list[CellResult], out: Path) -> list[Path]:
    import json

    from .plots import plot_learning_curves
    from .runner import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    files = {
        BENCH_FILE: dump_bench(bench),
        "results.md": markdown(results, bench, profile),
        "results.csv": csv(results),
        "results.json": json.dumps({"profile": profile, "cells": as_json(results)}, indent=1) + "\n",
        "error_vs_steps.png": plot_learning_curves(rows_by_task(results, bench.window)),
    }
    for task in bench.tasks:  # the run configs as they were: bundled ones change between versions
        with contextlib.suppress(ConfigError):
            files[f"tasks/{Path(task).stem}.yaml"] = dump_config(load_config(task))
    (out / "tasks").mkdir(exist_ok=True)
    for name, data in files.items():
        write_atomic(out / name, data)
    return [out / name for name in files]


def progress_printer(
    total: int, say: Callable[[str], None], save: Callable[[CellResult], None] = lambda r: None
) -> Callable[[CellResult], None]:
    """A line per finished cell (which, its final error, elapsed time), after ``save`` keeps it."""
    done, start = [0], time.perf_counter()

    def progress(result: CellResult) -> None:
        save(result)
        done[0] += 1
        final = f"RMSE {result.final_rmse:.4g}" if result.curve.rmse else result.note
        say(f"[{done[0]}/{total}] {result.task} {result.label} seed {result.seed}: {final} "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip

    return progress


def run_bench(
    bench: BenchConfig,
    profile: str,
    workers: int,
    say: Callable[[str], None] = print,
    save: Callable[[CellResult], None] = lambda r: None,
    done: dict[tuple, CellResult] | None = None,
) -> list[CellResult]:
    check(bench, profile)
    cells = expand(bench)
    return run_cells(cells, profile, workers, progress_printer(len(cells), say, save), done)
