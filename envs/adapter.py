"""The tracking surface a wrapper adds to a third-party env (Reacher-v5, MyoSuite's elbow).

``TrackingAdapter`` keeps the trial's timing, the reference and the sensory delay. The reference
stays at the output's value at reset until ``cue_to_movement`` seconds after the cue (a pulse at
``cue_time``), then moves to the trial's goal along a minimum-jerk profile lasting
``movement_duration``. Reference and measurement pass the ``sensory_delay``; the observation is the
wrapped env's followed by [measurement, reference, cue] (``tracking_spec.observation_index``).

A subclass says what the tracked output is (``output``), where this trial's reference goes
(``_goal_of_trial``), and where needed how an action reaches the wrapped env (``_inner_action``)
and what the wrapped env's reward is made of (``_reward_components``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .delay import DelayLine
from .profiles import minimum_jerk, pulse
from .tracking import TRACKING_KEY, TrackingSpec, tracking_info
from .validation import require_non_negative, require_positive


class TrackingAdapter(gym.Wrapper):
    """Base of the wrappers that give a third-party env ``info["tracking"]`` and ``tracking_spec``.

    Args:
        env: The env to wrap; its ``unwrapped.dt`` is the control period.
        sensory_delay: Seconds between the world and the reference and measurement reported.
        cue_time: Onset of the cue pulse, seconds after reset.
        cue_duration: Length of the cue pulse, seconds.
        cue_to_movement: Seconds from cue onset to the reference's movement.
        movement_duration: Length of the reference's minimum-jerk movement, seconds.
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        sensory_delay: float,
        cue_time: float,
        cue_duration: float,
        cue_to_movement: float,
        movement_duration: float,
    ):
        super().__init__(env)
        require_positive(cue_duration=cue_duration, movement_duration=movement_duration)
        require_non_negative(sensory_delay=sensory_delay, cue_time=cue_time, cue_to_movement=cue_to_movement)
        self.dt = float(env.unwrapped.dt)
        self.sensory_delay = sensory_delay
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.movement_duration = movement_duration
        self._step = 0
        self.last_observation: np.ndarray | None = None  # what the latest reset or step returned

    def _append_tracking(self, delay_steps: int, low: np.ndarray, high: np.ndarray) -> None:
        """Set up ``tracking_spec``, the observation space and the delay line for outputs bounded by
        ``low`` and ``high`` (one entry per tracked degree of freedom)."""
        inner = self.env.observation_space
        size, dofs = inner.shape[0], len(low)
        self.tracking_spec = TrackingSpec(
            dofs=dofs,
            cues=1,
            dt=self.dt,
            sensory_delay=self.sensory_delay,
            observation_index={
                "measurement": slice(size, size + dofs),
                "reference": slice(size + dofs, size + 2 * dofs),
                "cue": slice(size + 2 * dofs, size + 2 * dofs + 1),
            },
        )
        self.observation_space = spaces.Box(
            np.concatenate([inner.low, low, low, [0.0]]),
            np.concatenate([inner.high, high, high, [1.0]]),
            dtype=np.float64,
        )
        self._sensed = DelayLine(delay_steps, shape=(2 * dofs,))  # output, desired output
        self._start = np.zeros(dofs)
        self._goal = np.zeros(dofs)

    # --- what a subclass says -------------------------------------------------------------------

    def output(self) -> np.ndarray:
        """The tracked output now (D,)."""
        raise NotImplementedError

    def _goal_of_trial(self) -> np.ndarray:
        """Where this trial's reference goes (D,), read from the wrapped env just after its reset."""
        raise NotImplementedError

    def _inner_action(self, action: np.ndarray) -> np.ndarray:
        """The wrapped env's action for ``action``; by default the same."""
        return action

    def _reward_components(self, info: dict[str, Any]) -> dict[str, float] | None:
        """The wrapped env's reward terms, from its ``info``; None: not known."""
        return None

    # --- the trial ----------------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """Seconds since reset."""
        return self._step * self.dt

    def target_at(self, t: float) -> np.ndarray:
        """The desired output at ``t`` seconds after reset."""
        fraction = minimum_jerk(t, self.cue_time + self.cue_to_movement, self.movement_duration)
        return self._start + fraction * (self._goal - self._start)

    def cue_at(self, t: float) -> np.ndarray:
        """The cue (one channel, 0 or 1) at ``t`` seconds after reset."""
        return np.array([pulse(t, self.cue_time, self.cue_duration, self.dt)])

    # --- Gymnasium ----------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the wrapped env and start the trial from its posture; ``info`` gains ``"tracking"``."""
        observation, info = self.env.reset(seed=seed, options=options)
        self._step = 0
        self._start = self.output()
        self._goal = self._goal_of_trial()
        self._sensed.reset(self._sense())
        info = self._info(dict(info), self._sensed.push(self._sense()))
        return self._observation(observation, info), info

    def step(self, action):
        """Step the wrapped env; its reward passes unchanged, ``info`` gains the tracking signals."""
        observation, reward, terminated, truncated, info = self.env.step(self._inner_action(action))
        self._step += 1
        info = self._info(dict(info), self._sensed.push(self._sense()))
        components = self._reward_components(info)
        if components is not None:
            info["reward_components"] = components
        return self._observation(observation, info), reward, terminated, truncated, info

    def _sense(self) -> np.ndarray:
        return np.concatenate([self.output(), self.target_at(self.time)])

    def _info(self, info: dict[str, Any], sensed: np.ndarray) -> dict[str, Any]:
        t, dofs = self.time, self.tracking_spec.dofs
        info[TRACKING_KEY] = tracking_info(
            reference=sensed[dofs:],
            measurement=sensed[:dofs],
            cue=self.cue_at(t),
            target=self.target_at(t),
            output=self.output(),
        )
        info["goal"] = self._goal.copy()  # where the trial's movement goes (a goal code reads it)
        return info

    def _observation(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        tracking = info[TRACKING_KEY]
        signals = np.concatenate([tracking["measurement"], tracking["reference"], tracking["cue"]])
        self.last_observation = np.concatenate(
            [np.asarray(observation, dtype=np.float64).reshape(-1), signals]
        )
        return self.last_observation
