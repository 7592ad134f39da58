"""The tracking-signal convention: how every cfpc-gym env exposes what a controller needs.

Each ``reset`` and ``step`` returns ``info["tracking"]``, a dict of float64 arrays:

- ``reference``   (D,) the desired output, as the controller senses it (through the sensory delay)
- ``measurement`` (D,) the measured output, through the same sensory delay
- ``cue``         (M,) cue / context signals (conditioned stimulus, target-onset pulse), undelayed
- ``target``      (D,) the desired output now (for metrics, not for feedback)
- ``output``      (D,) the true output now (for metrics, not for feedback)

Reference and measurement reach the controller through the same delay, so
``reference - measurement`` is the true tracking error ``sensory_delay`` seconds ago: the error
a feedback controller can know. ``env.unwrapped.tracking_spec`` gives the sizes and timing, and
where reference, measurement and cue sit in the observation vector, so a policy that sees only
observations (Stable-Baselines3's ``predict``) can read them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TRACKING_KEY = "tracking"
TRACKING_FIELDS = ("reference", "measurement", "cue", "target", "output")


@dataclass(frozen=True)
class TrackingSpec:
    """Sizes and timing of an env's tracking signals."""

    dofs: int  # D: controlled degrees of freedom
    cues: int  # M: cue channels
    dt: float  # control period, seconds
    sensory_delay: float  # seconds between the world and what feedback senses
    # Slices of the flat observation holding "reference", "measurement" and "cue".
    observation_index: dict[str, slice] = field(default_factory=dict)

    def from_observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        """Reference, measurement and cue read from observations (..., obs_dim) -> (..., n)."""
        missing = {"reference", "measurement", "cue"} - set(self.observation_index)
        if missing:
            raise KeyError(f"this env's observation does not hold {', '.join(sorted(missing))}")
        observation = np.asarray(observation, dtype=np.float64)
        return {name: observation[..., index] for name, index in self.observation_index.items()}


def tracking_info(
    reference: np.ndarray,
    measurement: np.ndarray,
    cue: np.ndarray,
    target: np.ndarray,
    output: np.ndarray,
) -> dict[str, np.ndarray]:
    """Pack the tracking signals as float64 copies (callers may keep mutating their buffers)."""
    values = (reference, measurement, cue, target, output)
    return {
        k: np.array(v, dtype=np.float64).reshape(-1) for k, v in zip(TRACKING_FIELDS, values, strict=True)
    }
