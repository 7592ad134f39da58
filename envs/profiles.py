"""Time courses shared by the tasks: minimum-jerk transitions and cue pulses (times in seconds)."""

from __future__ import annotations

import numpy as np


def minimum_jerk(t: np.ndarray | float, start: float, duration: float) -> np.ndarray | float:
    """Fraction of a minimum-jerk transition done at time ``t``: 0 before ``start``, 1 after it ends."""
    tau = np.clip((np.asarray(t, dtype=float) - start) / duration, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def pulse(t: float, start: float, duration: float, dt: float) -> float:
    """1 during [start, start + duration), else 0; a half-step tolerance keeps whole steps in any rounding."""
    return float(start - 0.5 * dt <= t < start + duration - 0.5 * dt)
