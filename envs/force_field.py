"""Velocity-dependent force fields on the hand and the baseline / field / washout schedule of trials.

A field pushes the hand with ``F = B v`` (N), ``v`` the hand velocity (m/s) in the table frame
(x to the right, y away from the body), ``B`` in N*s/m:

- ``"shadmehr"``: the field of Shadmehr & Mussa-Ivaldi (1994), B = [[-10.1, -11.2], [-11.2, 11.1]];
- ``"curl"``: a pure curl B = [[0, b], [-b, 0]] (clockwise for b > 0; b < 0 gives its mirror);
- ``"none"``: no field in any block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHADMEHR_FIELD = np.array([[-10.1, -11.2], [-11.2, 11.1]])
FIELD_KINDS = ("none", "shadmehr", "curl")
BLOCKS = ("baseline", "field", "washout")


def field_matrix(kind: str, curl_strength: float = 15.0) -> np.ndarray:
    """The 2x2 viscosity matrix B (N*s/m) of a field kind."""
    if kind == "shadmehr":
        return SHADMEHR_FIELD.copy()
    if kind == "curl":
        return np.array([[0.0, curl_strength], [-curl_strength, 0.0]])
    if kind == "none":
        return np.zeros((2, 2))
    raise ValueError(f"force_field must be one of {FIELD_KINDS}, got {kind!r}")


@dataclass(frozen=True)
class FieldSchedule:
    """Trials ``0 .. baseline-1`` without the field, then ``field`` trials with it (each a catch trial,
    field off, with probability ``catch_fraction``), then washout without it for every later trial."""

    baseline_trials: int = 16
    field_trials: int = 48
    washout_trials: int = 16
    catch_fraction: float = 0.2

    def __post_init__(self):
        for name in ("baseline_trials", "field_trials", "washout_trials"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 0):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not 0.0 <= self.catch_fraction <= 1.0:
            raise ValueError(f"catch_fraction must be in [0, 1], got {self.catch_fraction}")

    def block(self, trial: int) -> str:
        """The block of trial ``trial`` (from 0): ``"baseline"``, ``"field"`` or ``"washout"``."""
        if trial < self.baseline_trials:
            return "baseline"
        if trial < self.baseline_trials + self.field_trials:
            return "field"
        return "washout"  # and after the schedule ends

    @property
    def total_trials(self) -> int:
        """Trials in the three blocks together."""
        return self.baseline_trials + self.field_trials + self.washout_trials
