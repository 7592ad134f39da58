"""A pure transport delay in whole control steps, for sensory and motor delays."""

from __future__ import annotations

import numpy as np


def delay_steps(delay: float, dt: float) -> int:
    """Seconds to whole steps; delays must be multiples of dt (up to rounding)."""
    steps = round(delay / dt)
    if abs(steps * dt - delay) > 1e-9 * max(1.0, delay):
        raise ValueError(f"delay {delay} s is not a whole number of steps of dt={dt} s")
    return steps


class DelayLine:
    """Ring buffer: ``push(x)`` returns the value pushed ``steps`` pushes ago."""

    def __init__(self, steps: int, shape: tuple[int, ...]):
        if steps < 0:
            raise ValueError(f"delay steps must be >= 0, got {steps}")
        self.steps = steps
        self._buffer = np.zeros((steps + 1, *shape))
        self._head = 0

    def reset(self, value: np.ndarray) -> None:
        """Fill the line with ``value``: the world was at rest before the trial."""
        self._buffer[:] = value
        self._head = 0

    def upcoming(self, value: np.ndarray) -> np.ndarray:
        """What ``push(value)`` would return, without pushing."""
        return value if self.steps == 0 else self._buffer[(self._head + 1) % (self.steps + 1)].copy()

    def push(self, value: np.ndarray) -> np.ndarray:
        self._buffer[self._head] = value
        self._head = (self._head + 1) % (self.steps + 1)
        return self._buffer[self._head].copy()  # the oldest entry
