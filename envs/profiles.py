"""Time courses shared by the tasks (times in seconds): minimum-jerk transitions, cue pulses, the checks
of a cued movement's timing and the per-trial jitter of its interval."""

from __future__ import annotations

import numpy as np

from .validation import require_non_negative


def minimum_jerk(t: np.ndarray | float, start: float, duration: float) -> np.ndarray | float:
    """Fraction of a minimum-jerk transition done at time ``t``: 0 before ``start``, 1 after it ends."""
    tau = np.clip((np.asarray(t, dtype=float) - start) / duration, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def pulse(t: float, start: float, duration: float, dt: float) -> float:
    """1 during [start, start + duration), else 0; a half-step tolerance keeps whole steps in any rounding."""
    return float(start - 0.5 * dt <= t < start + duration - 0.5 * dt)


def check_cued_movement(
    cue_time: float,
    cue_to_movement: float,
    interval_jitter: float,
    movement_duration: float,
    trial_duration: float,
) -> None:
    """Refuse a cued movement that could start before its cue or end after the trial."""
    require_non_negative(cue_time=cue_time, interval_jitter=interval_jitter)
    if not cue_to_movement - interval_jitter >= 0:
        raise ValueError(
            f"cue_to_movement ({cue_to_movement} s) must be >= interval_jitter ({interval_jitter} s)"
        )
    last_end = cue_time + cue_to_movement + interval_jitter + movement_duration
    if last_end > trial_duration:
        raise ValueError(
            f"trial_duration ({trial_duration} s) must cover the movement (ends by {last_end} s)"
        )


def draw_jitter(np_random: np.random.Generator, interval_jitter: float) -> float:
    """A trial's jitter of the cue-to-event interval (s), uniform in +-``interval_jitter``.

    Without jitter nothing is drawn, so a jitter-free env leaves ``np_random`` where it was.
    """
    return np_random.uniform(-1.0, 1.0) * interval_jitter if interval_jitter else 0.0
