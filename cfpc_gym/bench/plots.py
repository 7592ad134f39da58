"""The bench's figures: error against env steps, one panel per task, one curve per method; and,
where the env gives a goal, goal error and success against env steps beside published references."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..io import new_figure, png
from .references import ReferencePoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_learning_curves(rows_by_task: dict) -> bytes:
    """Bench: error against env steps (log-log), one panel per task that ran, one curve per method:
    the mean over seeds, with a band from the lowest to the highest seed. A task whose every cell
    was skipped (a missing extra) gets no panel; its table says why."""
    tasks = [task for task, rows in rows_by_task.items() if any(row.curves() for row in rows)] or ["-"]
    columns = min(3, len(tasks))
    lines = -(-len(tasks) // columns)
    figure = new_figure(figsize=(5.6 * columns, 4.4 * lines), layout="constrained")
    grid = figure.subplots(lines, columns, squeeze=False)
    for axes, task in zip(grid.flat, tasks, strict=False):
        for row in rows_by_task.get(task, []):
            _mean_curve(axes, row.curves(), row.label)  # RMSE smoothed over the task's window, per seed
        axes.set(title=task, xlabel="environment steps", ylabel="tracking RMSE", xscale="log", yscale="log")
        axes.grid(True, which="both", alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=7, loc="best")
        else:
            axes.text(0.5, 0.5, "no results", ha="center", va="center", transform=axes.transAxes)
    for axes in list(grid.flat)[len(tasks) :]:
        axes.set_visible(False)
    return png(figure)


def plot_goal_errors(rows_by_task: dict, references: dict[str, tuple[ReferencePoint, ...]]) -> bytes:
    """``goal_error_figure`` as PNG bytes."""
    return png(goal_error_figure(rows_by_task, references))


def goal_error_figure(rows_by_task: dict, references: dict[str, tuple[ReferencePoint, ...]]) -> Figure:
    """Bench, tasks whose env gives a goal: a column per task, goal error (the episode-mean distance
    to the goal, log scale) above success (the share of episodes that succeed), against env steps
    (log), one curve per method (mean over seeds, band from the lowest to the highest seed), an open
    circle in its colour at its last step for its held-out episodes (the same goals for every
    method, learning frozen), and the task's published ``references`` as black stars labelled with
    their source ("MyoSuite NPG")."""
    tasks = [task for task, rows in rows_by_task.items() if any(row.curves("goal_error") for row in rows)]
    tasks = tasks or ["-"]
    figure = new_figure(figsize=(5.6 * len(tasks), 8.2), layout="constrained")
    grid = figure.subplots(2, len(tasks), squeeze=False)
    for column, task in enumerate(tasks):
        for line, measure in enumerate(("goal_error", "success")):
            axes = grid[line, column]
            held_out = False
            for row in rows_by_task.get(task, []):
                line_of = _mean_curve(axes, row.curves(measure), row.label)
                if line_of is not None and row.held_out(measure).size:
                    final = line_of.get_xdata()[-1]
                    axes.plot(
                        final, np.mean(row.held_out(measure)), "o", mfc="none", color=line_of.get_color()
                    )
                    held_out = True
            if held_out and line == 0:  # one legend entry for every method's circle
                axes.plot([], [], "o", mfc="none", color="0.3", label="held out, learning frozen")
            points = [p for p in references.get(task, ()) if getattr(p, measure) is not None]
            if points:
                steps, values = [p.env_steps for p in points], [getattr(p, measure) for p in points]
                axes.plot(steps, values, "k*", markersize=11, label=points[0].label)
                for x, y in zip(steps, values, strict=True):
                    axes.annotate(_steps(x), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
            axes.set_xscale("log")
            if measure == "goal_error":
                axes.set(yscale="log", title=task, ylabel="goal error (episode-mean distance)")
            else:
                axes.set(ylim=(-0.05, 1.05), ylabel="success (share of episodes)")
            axes.set(xlabel="environment steps")
            axes.grid(True, which="both", alpha=0.3)
            if not axes.lines:
                axes.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes.transAxes)
            elif line == 0:  # one legend per task: the success panel has the same curves
                axes.legend(fontsize=7, loc="best")
    return figure


def _steps(count: int) -> str:
    """An env step count in a few characters: 28.8k steps, 1.19M steps."""
    return f"{count / 1e6:.3g}M steps" if count >= 1e6 else f"{count / 1e3:.3g}k steps"


def _mean_curve(axes, curves: list, label: str):
    """One method's curve: the mean over seeds, with a band from the lowest to the highest seed.
    Returns the line drawn (None without curves)."""
    if not curves:
        return None
    length = min(len(steps) for steps, _ in curves)  # seeds that stopped early cut the band
    steps = np.mean([steps[:length] for steps, _ in curves], axis=0)
    values = np.array([values[:length] for _, values in curves])
    (line,) = axes.plot(steps, values.mean(axis=0), label=label)
    axes.fill_between(steps, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
    return line
