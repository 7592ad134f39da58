"""Reproduce the classic cerebellar paradigms: force-field reaching and eyeblink conditioning.

    python -m cfpc_gym.analysis.paradigms [--out docs/paradigms]

Runs ``configs/force_field.yaml`` and ``configs/curl_field.yaml`` (measures in ``reaching.py``)
and ``configs/eyeblink_conditioning.yaml`` across interstimulus intervals (``conditioning.py``),
prints every number docs/PARADIGMS.md quotes, and writes the figures and ``paradigms.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from ..config import load_config
from ..io import write_atomic
from .conditioning import CR_THRESHOLD, Conditioning, run_conditioning
from .plots import plot_conditioning, plot_reaching
from .reaching import after_effects, field_ratio, run_reaching, trials_to_halve

FIELDS = ("force_field", "curl_field")
TRAINED_INTERVALS = (0.15, 0.25, 0.5)  # s
SHORT_INTERVALS = (0.03, 0.05, 0.08)  # s, each run without and with an efferent (motor) delay
MOTOR_DELAYS = (0.0, 0.05)  # s
PUFF_DURATIONS = (0.02, 0.05, 0.1)  # s, at ISI 250 ms: does the CR peak follow the puff's end?


def reaching_summary(name: str, out: Path | None, say=print, overrides: tuple[str, ...] = ()) -> dict:
    """The measures of one reaching config (with ``overrides``); its figure in ``out`` if given."""
    config = load_config(name, list(overrides))
    feedback, learner = (run_reaching(config, i) for i in range(2))
    ratio = field_ratio(learner, feedback)
    effects = after_effects(learner)
    mm = {k: {t: round(1000 * v, 1) for t, v in sorted(getattr(effects, k).items())}
          for k in ("early_field", "catch", "washout")}  # fmt: skip
    field = learner.select("field", catch=None)
    cycles = {  # joint-angle RMSE (rad), what CFPC minimises, per 8 field trials (catch trials too)
        r.controller: [round(float(np.mean([r.trials[i].rmse for i in field[k : k + 8]])), 4)
                       for k in range(0, len(field), 8)]
        for r in (feedback, learner)
    }  # fmt: skip
    field = learner.select("field")
    summary = {
        "field_rmse_per_8_trials": cycles,
        "field_excess_mm": {
            "feedback": [round(1000 * abs(feedback.excess[i]), 1) for i in field],
            learner.controller: [round(1000 * abs(learner.excess[i]), 1) for i in field],
        },
        "field_ratio": [round(float(r), 3) for r in ratio],
        "field_ratio_first_window": round(float(ratio[0]), 3),
        "field_ratio_last_window": round(float(ratio[-1]), 3),
        "field_ratio_min": round(float(ratio.min()), 3),
        "trials_to_halve": trials_to_halve(learner, feedback),
        "after_effects_mm": mm,
        "catch_mirrored_fraction": effects.mirrored("catch"),
        "washout_mirrored_fraction": effects.mirrored("washout"),
    }
    label = " ".join((name, *overrides))
    say(f"{label}: field ratio (4-trial windows) first {ratio[0]:.2f}, min {ratio.min():.2f}, "
        f"last {ratio[-1]:.2f}; trials to halve: {summary['trials_to_halve']}")  # fmt: skip
    say(f"  joint RMSE (rad) per 8 field trials: {cycles}")
    for k, v in mm.items():
        say(f"  {k:12s} excess deviation (mm) per target: {v}")
    say(f"  mirrored: catch {effects.mirrored('catch'):.2f}, washout {effects.mirrored('washout'):.2f}")
    if out is not None:
        write_atomic(out / f"{name}.png", plot_reaching(feedback, learner, config.name))
    return summary


def conditioning_run(
    interval: float,
    motor_delay: float = 0.0,
    *,
    trials: int | None = None,
    probe_every: int = 5,
    overrides: tuple[str, ...] = (),
) -> Conditioning:
    """CFPC on ``eyeblink_conditioning`` at one interstimulus interval (s) and motor delay (s)."""
    settings = [
        f"env.kwargs.interstimulus_interval={interval}",
        f"env.kwargs.motor_delay={motor_delay}",
        f"env.kwargs.closure_ramp={min(interval, 0.1)}",  # the closure ramp starts no earlier than the CS
        *overrides,
    ]
    if trials is not None:
        settings.append(f"trials={trials}")
    return run_conditioning(load_config("eyeblink_conditioning", settings), index=1, probe_every=probe_every)


def conditioning_summary(out: Path, say=print) -> dict:
    """The eyeblink measures at every interstimulus interval, puff duration and motor delay; the
    acquisition figure into ``out``."""
    trained = [conditioning_run(isi) for isi in TRAINED_INTERVALS]
    summary: dict = {"trained": {}, "short": {}, "puff_duration": {}}
    for result in trained:
        last = result.probes[-1]
        trials, amplitude = result.acquisition
        first_cr = next((int(t) for t, a in zip(trials, amplitude, strict=True) if a >= CR_THRESHOLD), None)
        entry = {
            "cr_peak_ms": peak_ms(result, last),
            "cr_amplitude": round(result.cr_amplitude(last), 3),
            "closure_at_puff_last_training_trial": round(result.closure_at_puff[-1], 3),
            "acquisition": {int(t): round(float(a), 3) for t, a in zip(trials, amplitude, strict=True)},
            "first_probe_with_cr_after_trials": first_cr,
        }
        summary["trained"][f"{result.interstimulus_interval:g}"] = entry
        peak, amplitude = entry["cr_peak_ms"], entry["cr_amplitude"]
        say(f"ISI {result.interstimulus_interval * 1000:.0f} ms: CR peak {peak_text(peak)}, "
            f"CR amplitude {amplitude:.2f}, first CR after {first_cr} trials")  # fmt: skip
    write_atomic(out / "eyeblink_isi.png", plot_conditioning(trained))
    for motor_delay in MOTOR_DELAYS:
        for isi in (*SHORT_INTERVALS, 0.25):
            result = conditioning_run(isi, motor_delay, trials=30, probe_every=30)
            amplitude = result.cr_amplitude(result.probes[-1])
            summary["short"][f"isi={isi:g},motor_delay={motor_delay:g}"] = round(amplitude, 3)
            verdict = "CR" if result.has_cr(result.probes[-1]) else "no CR"
            say(f"ISI {isi * 1000:.0f} ms, motor delay {motor_delay * 1000:.0f} ms: CR amplitude after 30 "
                f"trials {amplitude:.2f} ({verdict})")  # fmt: skip
    for duration in PUFF_DURATIONS:
        result = conditioning_run(0.25, overrides=(f"env.kwargs.puff_duration={duration}",), probe_every=60)
        peak = peak_ms(result, result.probes[-1])
        summary["puff_duration"][f"{duration:g}"] = peak
        say(f"ISI 250 ms, puff {duration * 1000:.0f} ms: CR peak {peak_text(peak)}")
    return summary


def peak_ms(result: Conditioning, probe) -> int | None:
    """The CR peak (ms from puff onset) of a probe; None without a CR."""
    seconds = result.cr_peak_time(probe)
    return None if math.isnan(seconds) else round(1000 * seconds)


def peak_text(peak: int | None) -> str:
    """A CR peak's time in words."""
    return "none (no CR)" if peak is None else f"{peak:+d} ms from puff onset"


def main(argv: list[str] | None = None) -> None:
    """``python -m cfpc_gym.analysis.paradigms``: every paradigm, its figures and paradigms.json."""
    parser = argparse.ArgumentParser(prog="python -m cfpc_gym.paradigms", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/paradigms"), help="figures and paradigms.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {name: reaching_summary(name, args.out) for name in FIELDS}
    # The same task with one cue channel per target: nothing learned on a target serves another.
    results["force_field_target_cue"] = reaching_summary(
        "force_field", None, overrides=("env.kwargs.cue_coding=target",)
    )
    results["eyeblink"] = conditioning_summary(args.out)
    write_atomic(args.out / "paradigms.json", json.dumps(results, indent=1, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
