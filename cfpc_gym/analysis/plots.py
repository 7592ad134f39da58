"""Figures of the paradigm analyses: force-field reaching and eyeblink conditioning."""

from __future__ import annotations

import numpy as np

from ..io import new_figure, png


def plot_reaching(feedback, learner, title: str) -> bytes:
    """Force-field reaching (``reaching.Reaching`` of feedback alone and of a learner): excess
    deviation per trial, hand paths early and late in the field, and in washout."""
    figure = new_figure(figsize=(15, 3.6))
    curve, *paths = figure.subplots(1, 4)
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
    return png(figure)


def _first_per_target(result, trials) -> list[int]:
    seen: dict[int, int] = {}
    for i in trials:
        seen.setdefault(result.trials[i].target_index, int(i))
    return list(seen.values())


def plot_conditioning(results) -> bytes:
    """Eyeblink conditioning (``conditioning.Conditioning`` per ISI): acquisition of the CR
    amplitude, and the last probe's closure against time from puff onset."""
    figure = new_figure(figsize=(11, 3.8))
    acquisition, timing = figure.subplots(1, 2)
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
    return png(figure)
