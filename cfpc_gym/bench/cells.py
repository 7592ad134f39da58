"""Benchmarks: tasks x methods x seeds, side by side, on the same envs and the same error measure.

A task is a run config (bundled name or YAML path); a method turns it into one learner
(``methods.py``). Every cell records a learning curve: tracking RMSE (reference - measurement)
against env steps and learning wall time, and, where the env gives a goal, the episode-mean distance
to it and the share of episodes that succeed. Trial-based methods are measured on the trials they
learn from (and, where the task config asks for ``evaluation``, on held-out episodes at the end); RL
on deterministic evaluation episodes.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import yaml

from ..build import make_run_agent
from ..config import ConfigError, MissingExtra, RunConfig, apply_override, load_config
from ..experiment.runner import run_controller
from ..threads import one_blas_thread
from .baselines import Curve, require_sb3, train_rl
from .config import ALGORITHMS, TRIAL_METHODS, BenchConfig, ProfileConfig, validate_bench
from .methods import method_config, task_ilc


@dataclass(frozen=True)
class Cell:
    """One task, one method, one seed (and, in a sweep, one grid point).

    Args:
        task: A run config: bundled name or YAML path.
        method: One of ``METHODS``.
        seed: The seed of the envs and of the learner.
        variant: Sweep only: the grid point, e.g. ``"ilc.lead=0.1"``.
        task_overrides: Sweep only: ``key=value`` overrides of the task's run config.
    """

    task: str
    method: str
    seed: int
    variant: str = ""
    task_overrides: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method} [{self.variant}]" if self.variant else self.method


@dataclass
class CellResult:
    """A cell's learning curve and how it ended.

    Args:
        cell: The cell that ran.
        curve: Error against env steps and learning time.
        status: ``ok``, ``diverged`` or ``skipped`` (a missing optional extra).
        note: Why, for a cell that diverged or was skipped.
        lead_s: ILC cells: the lead they ran with, ``ilc.lead`` rounded to the task's control step.
        held_out: Cells of a task config with ``evaluation``: that many episodes on the runner's
            held-out seeds after learning, learning frozen (trial-based: the runner's evaluation;
            RL: its final policy, deterministic), the same goals for every method (``episodes``,
            ``success``, ``goal_error``, ``rmse``).
    """

    cell: Cell
    curve: Curve = field(default_factory=Curve)
    status: str = "ok"
    note: str = ""
    lead_s: float | None = None
    held_out: dict[str, float | int | None] | None = None

    task = property(lambda self: self.cell.task)
    method = property(lambda self: self.cell.method)
    seed = property(lambda self: self.cell.seed)
    variant = property(lambda self: self.cell.variant)
    label = property(lambda self: self.cell.label)

    @property
    def final_rmse(self) -> float:
        return self.curve.rmse[-1] if self.curve.rmse else math.nan

    @property
    def steps_per_second(self) -> float:
        wall = self.curve.wall_time_s[-1] if self.curve.wall_time_s else 0.0
        return self.curve.env_steps[-1] / wall if wall > 0 else math.nan

    def to_dict(self) -> dict:
        """A flat mapping: the cell's fields, then the curve, status, note, ILC lead and held-out
        evaluation (results.json, cells.jsonl)."""
        return {
            **asdict(self.cell),
            "curve": asdict(self.curve),
            "status": self.status,
            "note": self.note,
            "lead_s": self.lead_s,
            "held_out": self.held_out,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CellResult:
        """The inverse of ``to_dict``.

        Raises:
            ValueError: a field of the wrong type (a damaged cells.jsonl line).
        """
        cell = {name: data[name] for name in Cell.__dataclass_fields__ if name in data}
        cell["task_overrides"] = tuple(cell.get("task_overrides", ()))
        result = cls(
            Cell(**cell),
            Curve(**data["curve"]),
            data["status"],
            data["note"],
            data.get("lead_s"),  # absent in cells written before they were recorded
            data.get("held_out"),
        )
        curve = result.curve
        texts = (result.task, result.method, result.variant, result.note)
        optional = [*curve.goal_error, *curve.success, result.lead_s, *(result.held_out or {}).values()]
        if not (
            all(isinstance(t, str) for t in (*texts, *result.cell.task_overrides))
            and isinstance(result.seed, int)
            and result.status in ("ok", "diverged", "skipped")
            and len(curve.env_steps) == len(curve.rmse) == len(curve.wall_time_s)
            and all(len(values) in (0, len(curve.env_steps)) for values in (curve.goal_error, curve.success))
            and (curve.rmse or result.status == "skipped")
            and all(isinstance(v, int) for v in curve.env_steps)
            and all(isinstance(v, int | float) for v in (*curve.rmse, *curve.wall_time_s))
            and all(v is None or isinstance(v, int | float) for v in optional)
            and (result.held_out is None or isinstance(result.held_out, dict))
        ):
            raise ValueError("a cell field of the wrong type")
        return result


def task_config(cell: Cell) -> RunConfig:
    """The run config of a cell's task, with the cell's overrides."""
    return load_config(cell.task, list(cell.task_overrides))


def run_cell(bench: BenchConfig, profile: str, cell: Cell) -> CellResult:
    """Run one cell in this process (one torch and one BLAS thread: cells run side by side). A task whose
    optional extra is missing (MyoSuite) is skipped, with the install line as its note."""
    import torch

    torch.set_num_threads(1)
    result = CellResult(cell)
    try:
        with one_blas_thread():  # a spawned worker: the command line's limit does not reach it
            _learn(bench, bench.profiles[profile], result)
    except MissingExtra as exc:
        result.status, result.note = "skipped", str(exc)
    return result


def _learn(bench: BenchConfig, settings: ProfileConfig, result: CellResult) -> None:
    """Run the cell, filling ``result``'s curve, status, note, ILC lead and held-out evaluation."""
    cell = result.cell
    task = task_config(cell)
    if cell.method in ALGORITHMS:
        run = train_rl(
            task.model_copy(update={"seed": cell.seed}),
            cell.method,
            steps=settings.ppo_steps if cell.method == "ppo" else settings.sac_steps,
            seed=cell.seed,
            evaluations=settings.evaluations,
            eval_episodes=settings.eval_episodes,
            hyperparameters=getattr(bench, cell.method).hyperparameters,
        )
        result.curve, result.held_out = run.curve, run.held_out
        return
    trials = settings.trials or task.trials
    ilc = task_ilc(bench.ilc, task) if cell.method == "ilc" else bench.ilc
    config = method_config(task, cell.method, cell.seed, trials, ilc, bench.learning_rate)
    run = run_controller(config, 0, lambda message: None, make_run_agent(config, 0))
    curve, steps_per_trial = Curve(), run.env_steps // run.trials_done
    walls = np.cumsum(run.trial_wall_time_s)
    for trial, (rmse, wall, goal_error, success) in enumerate(
        zip(run.trial_rmse, walls, run.trial_goal_error, run.trial_success, strict=True)
    ):
        curve.add(steps_per_trial * (trial + 1), rmse, wall, goal_error, success)
    result.curve, result.held_out = curve, run.evaluation
    result.lead_s = ilc.lead if cell.method == "ilc" else None
    if run.diverged_at_trial is not None:
        result.status, result.note = "diverged", f"diverged at trial {run.diverged_at_trial}"


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
        try:
            for key, value in point.items():
                if key.startswith("task."):
                    task_overrides.append(f"{key.removeprefix('task.')}={yaml.safe_dump(value).strip()}")
                else:
                    apply_override(data, f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}")
            variant_bench = validate_bench(data)
        except ConfigError as exc:  # a grid value the bench config refuses: say which grid point
            raise ConfigError(f"grid: {variant}: {exc}") from None
        for task, method, seed in itertools.product(bench.tasks, bench.methods, range(bench.seeds)):
            cells.append((variant_bench, Cell(task, method, seed, variant, tuple(task_overrides))))
    return cells


def check(bench: BenchConfig, profile: str) -> None:
    """Every problem a bench would meet, found before anything runs: one line, naming the key.
    It builds each task's controllers (forward models included) once, as their cells will."""
    if profile not in bench.profiles:
        raise ConfigError(f"profiles: no {profile!r} profile in this bench config")
    for method in bench.methods:
        if method in ALGORITHMS:
            require_sb3(method)
    for variant, cell in expand(bench)[:: max(len(bench.methods) * bench.seeds, 1)]:
        try:
            task = task_config(cell)
            ilc = task_ilc(variant.ilc, task) if "ilc" in variant.methods else variant.ilc
        except MissingExtra:  # the cells of this task are skipped, with the install line
            continue
        except ConfigError as exc:
            raise ConfigError(f"tasks: {cell.task}: {exc}") from None
        for method in [m for m in variant.methods if m in TRIAL_METHODS]:
            try:
                config = method_config(task, method, 0, task.trials, ilc, variant.learning_rate)
                # Builds the forward model and controller, as the cell will.
                make_run_agent(config, 0).env.close()
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
    """What identifies a cell across runs (a resumed bench matches cells by it)."""
    return (cell.task, cell.method, cell.seed, cell.variant)


def outstanding(
    cells: list[tuple[BenchConfig, Cell]], done: dict[tuple, CellResult] | None
) -> tuple[list[CellResult | None], list[int]]:
    """Results so far (from ``done``) in cell order, and the indices of the cells still to run."""
    done = done or {}
    results = [done.get(key(cell)) for _, cell in cells]
    return results, [i for i, result in enumerate(results) if result is None]


def default_workers() -> int:
    """The CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def progress_printer(
    total: int, say: Callable[[str], None], save: Callable[[CellResult], None] = lambda r: None
) -> Callable[[CellResult], None]:
    """A line per finished cell (which, its final error, elapsed time), after ``save`` keeps it."""
    done, start = [0], time.perf_counter()

    def progress(result: CellResult) -> None:
        save(result)
        done[0] += 1
        final = f"RMSE {result.final_rmse:.4g}" if result.curve.rmse else result.note
        lead = f", lead {result.lead_s:g} s" if result.lead_s is not None else ""
        say(f"[{done[0]}/{total}] {result.task} {result.label} seed {result.seed}: {final}{lead} "
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
    """Check the bench, then run every cell on a local process pool.

    Args:
        bench: The bench config.
        profile: ``quick`` or ``full``.
        workers: Processes side by side (1: in this process).
        say: Where the progress lines go.
        save: Called with each finished cell (``store.save_cell``), before it is reported.
        done: Cells a killed run finished, by ``key``: not run again.

    Returns:
        Every cell's result, in cell order.
    """
    check(bench, profile)
    cells = expand(bench)
    return run_cells(cells, profile, workers, progress_printer(len(cells), say, save), done)
