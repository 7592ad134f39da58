"""Figures of a run, as PNG bytes (drawn apart from pyplot: no global state changes)."""

from __future__ import annotations

from ..io import new_figure, png
from .results import RunResult


def plot_error_per_trial(result: RunResult) -> bytes:
    """Tracking RMSE per trial, one curve per controller, with the least-squares optimum."""
    figure = new_figure(figsize=(7, 4.5))
    axes = figure.subplots()
    for c in result.controllers:
        label = f"{c.name} ({c.rule})" + (" - diverged" if c.diverged_at_trial is not None else "")
        axes.semilogy(range(len(c.trial_rmse)), c.trial_rmse, marker=".", label=label)
    if result.optimum:
        axes.axhline(result.optimum.rmse, color="k", linestyle="--", label="least-squares optimum")
    axes.set(xlabel="trial", ylabel="tracking RMSE", title=f"{result.config.name}: {result.config.env.id}")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    return png(figure)


def plot_gains_per_trial(result: RunResult) -> bytes:
    """Gain adaptation: model-following RMSE and each gain (first DOF) after every trial."""
    adapting = [c for c in result.controllers if c.trial_gains]
    figure = new_figure(figsize=(14, 3.4), layout="constrained")
    grid = figure.subplots(1, 4)
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
    return png(figure)


def plot_trajectories(result: RunResult) -> bytes:
    """Target vs output in the first and last trial, and feed-forward vs counterfactual error."""
    controllers = [c for c in result.controllers if c.first_trial is not None]
    figure = new_figure(figsize=(3.2 * len(controllers), 5.5))
    grid = figure.subplots(2, len(controllers), squeeze=False)
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
    return png(figure)
