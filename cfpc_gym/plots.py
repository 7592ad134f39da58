"""Figures of a run, as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .runner import RunResult  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def plot_error_per_trial(result: RunResult) -> bytes:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for c in result.controllers:
        label = f"{c.name} ({c.rule})" + (" - diverged" if c.diverged_at_trial is not None else "")
        axes.semilogy(range(len(c.trial_rmse)), c.trial_rmse, marker=".", label=label)
    if result.optimum:
        axes.axhline(result.optimum.rmse, color="k", linestyle="--", label="least-squares optimum")
    axes.set(xlabel="trial", ylabel="tracking RMSE", title=f"{result.config.name}: {result.config.env.id}")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    return _png(figure)


def plot_gains_per_trial(result: RunResult) -> bytes:
    """Gain adaptation: model-following RMSE and each gain (first DOF) after every trial."""
    adapting = [c for c in result.controllers if c.trial_gains]
    figure, grid = plt.subplots(1, 4, figsize=(14, 3.4), layout="constrained")
    for c in adapting:
        grid[0].semilogy(c.trial_model_rmse, marker=".", label=c.name)
        for axes, name in zip(grid[1:], ("kp", "ki", "kd"), strict=True):
            axes.plot([gains[name][0] for gains in c.trial_gains], marker=".", label=c.name)
    grid[0].set(xlabel="trial", ylabel="model-following RMSE")
    for axes, name in zip(grid[1:], ("kp", "ki", "kd"), strict=True):
        axes.set(xlabel="trial", title=f"{name} after the trial")
        axes.set_yscale("symlog", linthresh=0.1)  # a learner that runs away stays on the same axes
    for axes in grid:
        axes.grid(True, which="both", alpha=0.3)
    grid[0].legend(fontsize=7)
    figure.suptitle(f"{result.config.name}: gain adaptation")
    return _png(figure)


def plot_trajectories(result: RunResult) -> bytes:
    """Target vs output in the first and last trial, and feed-forward vs counterfactual error."""
    controllers = [c for c in result.controllers if c.first_trial is not None]
    figure, grid = plt.subplots(2, len(controllers), figsize=(3.2 * len(controllers), 5.5), squeeze=False)
    for column, c in enumerate(controllers):
        top, bottom = grid[0, column], grid[1, column]
        steps = range(c.first_trial.target.shape[0])
        time = [k * result.dt for k in steps]
        top.plot(time, c.first_trial.target[:, 0, 0], "k--", label="target")
        top.plot(time, c.first_trial.output[:, 0, 0], label="output, first trial")
        top.plot(time, c.last_trial.output[:, 0, 0], label="output, last trial")
        top.set_title(c.name, fontsize=9)
        bottom.plot(time, c.last_trial.feedforward[:, 0, 0], label="feed-forward o")
        bottom.plot(time, c.last_trial.counterfactual_error[:, 0, 0], label="counterfactual error e + o")
        bottom.plot(time, c.last_trial.cue[:, 0, 0] * 0.2, ":", label="cue (x0.2)")
        bottom.set_xlabel("time in trial (s)")
    grid[0, 0].legend(fontsize=7)
    grid[1, 0].legend(fontsize=7)
    return _png(figure)


def plot_learning_curves(rows_by_task: dict) -> bytes:
    """Bench: error against env steps (log-log), one panel per task, one curve per method: the mean
    over seeds, with a band from the lowest to the highest seed."""
    tasks = list(rows_by_task)
    columns = min(3, len(tasks))
    lines = -(-len(tasks) // columns)
    figure, grid = plt.subplots(lines, columns, figsize=(5.2 * columns, 4 * lines), squeeze=False)
    for axes, task in zip(grid.flat, tasks, strict=False):
        for row in rows_by_task[task]:
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
        if axes.lines:  # a task whose every cell was skipped (a missing extra) has no curve
            axes.legend(fontsize=7)
        else:
            axes.text(0.5, 0.5, "no results", ha="center", va="center", transform=axes.transAxes)
    for axes in list(grid.flat)[len(tasks) :]:
        axes.set_visible(False)
    return _png(figure)


def plot_reaching(feedback, learner, title: str) -> bytes:
    """Force-field reaching (``reaching.Reaching`` of feedback alone and of a learner): excess
    deviation per trial, hand paths early and late in the field, and in washout."""
    figure, (curve, *paths) = plt.subplots(1, 4, figsize=(15, 3.6))
    for result, style in ((feedback, "."), (learner, "o")):
        for block, colour in (("baseline", "0.5"), ("field", "C3"), ("washout", "C0")):
            trials = result.select(block)
            curve.plot(trials, 1000 * abs(result.excess[trials]), style, color=colour, ms=4)
        catch = result.select("field", catch=True)
        curve.plot(catch, 1000 * abs(result.excess[catch]), style, color="C2", ms=4)
    curve.set(xlabel="trial (. feedback alone, o CFPC; red field, green catch, blue washout)",
              ylabel="|excess lateral deviation| (mm)", title=title)  # fmt: skip
    field, washout = learner.select("field"), learner.select("washout")
    for axes, label, trials in (
        (paths[0], "first field trial to each target", _first_per_target(learner, field)),
        (paths[1], "last field trial to each target", _first_per_target(learner, field[::-1])),
        (paths[2], "first washout trial to each target", _first_per_target(learner, washout)),
    ):
        for i in trials:
            hand = 100 * learner.trials[i].hand_path
            axes.plot(hand[:, 0], hand[:, 1], color="C3" if "field" in label else "C0", lw=1)
        axes.set(title=f"{learner.controller}: {label}", xlabel="x (cm)", ylabel="y (cm)", aspect="equal")
    return _png(figure)


def _first_per_target(result, trials) -> list[int]:
    seen: dict[int, int] = {}
    for i in trials:
        seen.setdefault(result.trials[i].target_index, int(i))
    return list(seen.values())


def plot_conditioning(results) -> bytes:
    """Eyeblink conditioning (``conditioning.Conditioning`` per ISI): acquisition of the CR
    amplitude, and the last probe's closure against time from puff onset."""
    figure, (acquisition, timing) = plt.subplots(1, 2, figsize=(11, 3.8))
    for result in results:
        label = f"ISI {result.interstimulus_interval * 1000:.0f} ms"
        trials, amplitude = result.acquisition
        acquisition.plot(trials, amplitude, marker=".", label=label)
        closure = result.probes[-1].closure
        time = (np.arange(len(closure)) - result.puff_step) * result.dt * 1000
        timing.plot(time, closure, label=label)
    acquisition.set(xlabel="training trials", ylabel="CR amplitude: probe closure at puff time")
    timing.axvline(0, color="k", linestyle="--", lw=1)
    timing.set(xlabel="ms from puff onset", ylabel="closure, CS-alone probe after training")
    acquisition.legend(fontsize=8)
    return _png(figure)
