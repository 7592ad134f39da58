"""The bench's figure: error against env steps, one panel per task, one curve per method."""

from __future__ import annotations

import numpy as np

from ..io import new_figure, png


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
            curves = row.curves()  # (env steps, RMSE smoothed over the task's window) per seed
            if not curves:
                continue
            length = min(len(steps) for steps, _ in curves)  # seeds that stopped early cut the band
            steps = np.mean([steps[:length] for steps, _ in curves], axis=0)
            rmse = np.array([rmse[:length] for _, rmse in curves])
            (line,) = axes.loglog(steps, rmse.mean(axis=0), label=row.label)
            axes.fill_between(steps, rmse.min(axis=0), rmse.max(axis=0), color=line.get_color(), alpha=0.2)
        axes.set(title=task, xlabel="environment steps", ylabel="tracking RMSE")
        axes.grid(True, which="both", alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=7, loc="best")
        else:
            axes.text(0.5, 0.5, "no results", ha="center", va="center", transform=axes.transAxes)
    for axes in list(grid.flat)[len(tasks) :]:
        axes.set_visible(False)
    return png(figure)
