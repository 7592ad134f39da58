"""A pure transport delay in whole control steps, for sensory and motor delays, and a wrapper that
adds a sensory delay to any env's observations."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def delay_steps(delay: float, dt: float) -> int:
    """Seconds to whole steps; delays must be multiples of dt (up to rounding)."""
    steps = round(delay / dt)
    if abs(steps * dt - delay) > 1e-9 * max(1.0, delay):
        raise ValueError(f"delay {delay} s is not a whole number of steps of dt={dt} s")
    return steps


class DelayLine:
    """A ring buffer: ``push(x)`` returns the value pushed ``steps`` pushes ago.

    Args:
        steps: The delay in pushes (0: ``push`` returns its argument).
        shape: The shape of one value.
    """

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
        """Store ``value`` and return the value pushed ``steps`` pushes ago."""
        self._buffer[self._head] = value
        self._head = (self._head + 1) % (self.steps + 1)
        return self._buffer[self._head].copy()  # the oldest entry


class SensoryDelay(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observations reach the agent ``delay`` seconds late, for envs that model no sensory delay.

    The observation returned at step k is the env's from step k - d, d = delay / dt (dt: the env's
    ``unwrapped.dt``; the delay must be a whole number of steps). Before the episode's start the
    world was at rest: the first d observations repeat the reset observation. Only the observation
    vector is delayed; ``info`` (and any ``info["tracking"]``) passes unchanged.
    """

    def __init__(self, env: gym.Env, delay: float):
        gym.utils.RecordConstructorArgs.__init__(self, delay=delay)
        super().__init__(env)
        if not delay >= 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        dt = getattr(env.unwrapped, "dt", None)
        if dt is None:
            raise ValueError("env: SensoryDelay needs the control period env.unwrapped.dt")
        try:
            steps = delay_steps(delay, dt)
        except ValueError:
            raise ValueError(
                f"delay ({delay} s) must be a whole number of steps of the env's dt={dt} s"
            ) from None
        if not isinstance(env.observation_space, spaces.Box):
            raise ValueError(f"env: observation_space must be a Box, got {env.observation_space}")
        self.delay, self.dt, self.delay_steps = delay, float(dt), steps
        self._line = DelayLine(steps, shape=env.observation_space.shape)
        self.last_observation: np.ndarray | None = None  # what the latest reset or step returned

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env; the line fills with the reset observation (the world was at rest)."""
        observation, info = self.env.reset(seed=seed, options=options)
        self._line.reset(observation)
        return self._delayed(observation), info

    def step(self, action):
        """Step the env; the observation returned is the one from ``delay`` seconds ago."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self._delayed(observation), reward, terminated, truncated, info

    def _delayed(self, observation: np.ndarray) -> np.ndarray:
        self.last_observation = self._line.push(observation).astype(self.observation_space.dtype)
        return self.last_observation
