"""Goal-conditioned cues: the cue multiplied by a code of where the movement goes and where it starts.

The cerebellum's mossy fibres carry context as well as the conditioned stimulus. Here each cue
channel is multiplied by a code of the trial's goal (``info["goal"]``, known at reset) and start
(the output at reset), so whatever learns a function of time since the cue learns one of goal and
start too, with the learner unchanged:

- ``affine``: the "gain field" code ``[1, goal - start, start]`` (1 + 2D channels per cue): a
  feed-forward linear in the cue then scales with the movement's size and shifts with its start;
- ``population``: radial bases over the goal, ``size`` per goal dimension, evenly spread over the
  goal's range (jointly, a grid of ``size**D``, for D <= 2; else per dimension side by side); with
  ``with_start``, over the goal and the start (a grid of ``size**2D`` for D = 1), for tasks whose
  start varies too.

The coded cue replaces ``info["tracking"]["cue"]`` and is appended to the observation, where
``tracking_spec.observation_index["cue"]`` points.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .tracking import TRACKING_KEY, TrackingSpec

GOAL_CODES = ("affine", "population")
JOINT_POPULATION_DOFS = 2  # a grid over the goal space up to this many dimensions


class GoalCode(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Multiply an env's cue by a code of the trial's goal and start (module docstring).

    Args:
        env: An env with tracking signals whose ``reset`` info holds ``goal`` (D,).
        kind: ``"affine"`` or ``"population"``.
        size: Population code: bases per goal dimension (>= 2).
        low: Population code: the goal range's low end (D,); default: the reference's bounds.
        high: Population code: its high end (D,).
        with_start: Population code: over (goal, start) instead of the goal alone; the start's
            range is the goal's.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = GoalCode(gymnasium.make("cfpc_gym/ElbowTrack-v0", amplitude_range=(0.3, 0.9)), "affine")
        >>> observation, info = env.reset(seed=0)
        >>> env.tracking_spec.cues  # 1 cue x [1, goal - start, start]
        3
    """

    def __init__(
        self,
        env: gym.Env,
        kind: str = "affine",
        size: int = 5,
        low: list[float] | None = None,
        high: list[float] | None = None,
        with_start: bool = False,
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self, kind=kind, size=size, low=low, high=high, with_start=with_start
        )
        super().__init__(env)
        if kind not in GOAL_CODES:
            raise ValueError(f"kind must be one of {', '.join(GOAL_CODES)}, got {kind!r}")
        spec = env.get_wrapper_attr("tracking_spec")
        if not isinstance(spec, TrackingSpec) or "cue" not in spec.observation_index:
            raise ValueError(
                "env: a goal code needs an env with tracking signals and the cue in its observation"
            )
        if with_start and kind != "population":
            raise ValueError("with_start applies to the population code (the affine one holds the start)")
        self.kind, self.dofs, self.with_start = kind, spec.dofs, with_start
        if kind == "population":
            if not (isinstance(size, int) and size >= 2):
                raise ValueError(f"size must be an integer >= 2, got {size!r}")
            reference = spec.observation_index["reference"]
            low = np.asarray(env.observation_space.low[reference] if low is None else low, dtype=np.float64)
            high = np.asarray(
                env.observation_space.high[reference] if high is None else high, dtype=np.float64
            )
            if low.shape != (spec.dofs,) or high.shape != (spec.dofs,) or not np.all(low < high):
                raise ValueError(f"low and high must be {spec.dofs} finite values with low < high")
            self._centres = [np.linspace(a, b, size) for a, b in zip(low, high, strict=True)]
            self._widths = (high - low) / (size - 1)
            if with_start:  # the start ranges over where goals lie
                self._centres, self._widths = self._centres * 2, np.concatenate([self._widths] * 2)
        codes = self._code(np.zeros(spec.dofs), np.zeros(spec.dofs)).size
        inner = env.observation_space
        self._cue_slice = slice(inner.shape[0], inner.shape[0] + spec.cues * codes)
        self.tracking_spec = replace(
            spec, cues=spec.cues * codes, observation_index={**spec.observation_index, "cue": self._cue_slice}
        )
        self.observation_space = spaces.Box(
            np.concatenate([inner.low, np.full(spec.cues * codes, -np.inf)]),
            np.concatenate([inner.high, np.full(spec.cues * codes, np.inf)]),
            dtype=inner.dtype,
        )
        self._goal_code = np.zeros(codes)
        self.last_observation: np.ndarray | None = None  # what the latest reset or step returned

    def _code(self, goal: np.ndarray, start: np.ndarray) -> np.ndarray:
        """The trial's code: affine ``[1, goal - start, start]`` or the population's activities."""
        if self.kind == "affine":
            return np.concatenate([[1.0], goal - start, start])
        values = np.concatenate([goal, start]) if self.with_start else goal
        activity = [
            np.exp(-0.5 * ((g - c) / w) ** 2)
            for g, c, w in zip(values, self._centres, self._widths, strict=True)
        ]
        if len(values) <= JOINT_POPULATION_DOFS:
            return np.array([np.prod(combo) for combo in itertools.product(*activity)])
        return np.concatenate(activity)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and code this trial's goal and start."""
        observation, info = self.env.reset(seed=seed, options=options)
        if "goal" not in info:
            raise ValueError(
                'env: a goal code needs the goal in the reset info (info["goal"]); this env gives none'
            )
        goal = np.asarray(info["goal"], dtype=np.float64).reshape(self.dofs)
        self._goal_code = self._code(goal, np.asarray(info[TRACKING_KEY]["output"], dtype=np.float64))
        return self._coded(observation, info)

    def step(self, action):
        """Step the env; the cue leaves coded."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        observation, info = self._coded(observation, info)
        return observation, reward, terminated, truncated, info

    def _coded(self, observation: np.ndarray, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        cue = np.kron(info[TRACKING_KEY]["cue"], self._goal_code)
        info = {**info, TRACKING_KEY: {**info[TRACKING_KEY], "cue": cue}}
        self.last_observation = np.concatenate([observation, cue]).astype(self.observation_space.dtype)
        return self.last_observation, info
