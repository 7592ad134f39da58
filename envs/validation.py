"""Argument checks shared by the envs: each refuses a bad value with a one-line ``ValueError`` naming it.

Keyword arguments carry the names: ``require_positive(dt=dt, trial_duration=trial_duration)`` checks
them in that order and reports the first that fails. Comparisons are written so that NaN fails too.
"""

from __future__ import annotations

import math

from .delay import delay_steps


def require_positive(**values: float) -> None:
    """Refuse the first value that is not a finite number > 0 (an infinite period or length is no
    setting: it would crawl or overflow).

    Args:
        **values: The values to check, by argument name.

    Example:
        >>> require_positive(dt=0.01, movement_duration=0.0)
        Traceback (most recent call last):
        ValueError: movement_duration must be a finite number > 0, got 0.0
    """
    for name, value in values.items():
        if not 0 < value < math.inf:
            raise ValueError(f"{name} must be a finite number > 0, got {value}")


def require_non_negative(**values: float) -> None:
    """Refuse the first value that is not >= 0.

    Args:
        **values: The values to check, by argument name.
    """
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def require_delay_within_trial(sensory_delay: float, trial_duration: float) -> None:
    """Refuse a sensory delay as long as the trial: feedback would sense nothing of it.

    Args:
        sensory_delay: Seconds.
        trial_duration: Seconds.
    """
    if sensory_delay >= trial_duration:
        raise ValueError(
            f"sensory_delay ({sensory_delay} s) must be shorter than trial_duration ({trial_duration} s)"
        )


def whole_steps(name: str, seconds: float, dt: float) -> int:
    """A duration in whole control steps, refused (naming the argument) if it is not a multiple of dt.

    Args:
        name: The argument's name, for the message.
        seconds: The duration.
        dt: The control period, seconds.

    Returns:
        The number of steps.
    """
    try:
        return delay_steps(seconds, dt)
    except ValueError:
        raise ValueError(f"{name} ({seconds} s) must be a whole number of steps of dt={dt} s") from None


def whole_substeps(dt: float, timestep: float, model: str) -> int:
    """How many physics steps of ``timestep`` make one control step ``dt``; refused unless whole.

    Args:
        dt: The control period, seconds.
        timestep: The physics model's timestep, seconds.
        model: Whose timestep, for the message (``"the model"``, ``"MyoSuite's"``).

    Returns:
        The number of physics steps per control step (>= 1).
    """
    substeps = round(dt / timestep)
    if substeps < 1 or abs(substeps * timestep - dt) > 1e-9:
        raise ValueError(f"dt must be a whole multiple of {model} timestep {timestep} s, got {dt}")
    return substeps
