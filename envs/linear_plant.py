"""A damped linear oscillator behind a sensory delay: the plant of the CFPC paper's analysis.

    y'' + 2 zeta omega y' + omega^2 y = omega^2 u      (unit static gain, u a force in units of y)

The state advances by the exact zero-order-hold solution of this ODE (matrix exponential), so
a discrete model of the loop can be checked against the simulation to round-off.

A trial: a cue pulse at ``cue_time``; ``cue_to_movement`` seconds after its onset the target
follows a smooth bump (sin^2) of height ``amplitude`` lasting ``movement_duration``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy.linalg import expm

from .delay import DelayLine, delay_steps
from .profiles import check_cued_movement, draw_jitter, pulse
from .tracking import TRACKING_KEY, TrackingSpec, tracking_info
from .validation import require_delay_within_trial, require_non_negative, require_positive

OBSERVATION_BOUND = 100.0


def sin2_bump(t: np.ndarray | float, start: float, duration: float, amplitude: float):
    """A smooth bump: 0 outside [start, start + duration], amplitude * sin^2 inside."""
    phase = np.clip((np.asarray(t, dtype=float) - start) / duration, 0.0, 1.0)
    return amplitude * np.sin(np.pi * phase) ** 2


class LinearPlantEnv(gym.Env):
    """Cued tracking on a damped oscillator; one episode is one trial.

    Action: the force as a fraction of ``max_force``, ``Box(-1, 1, (1,))``; ``allocate`` maps a
    force command (what a feedback controller outputs) to it.
    Observation: [sensed output, sensed velocity, sensed reference, cue, time in trial / duration],
    clipped to +-100.
    Reward: minus the squared true tracking error, minus an optional effort cost (components in
    ``info["reward_components"]``). Tracking signals in ``info["tracking"]`` (see ``tracking.py``).

    Args:
        natural_freq_hz: The oscillator's undamped natural frequency, Hz.
        damping_ratio: zeta (1: critically damped).
        sensory_delay: Seconds between the world and what the observation and tracking signals
            report; a whole number of steps, shorter than the trial.
        dt: Control period, seconds (the force is held over it).
        trial_duration: Seconds; the episode is truncated after it.
        cue_time: Onset of the cue pulse, seconds into the trial.
        cue_duration: Length of the cue pulse, seconds.
        cue_to_movement: Seconds from cue onset to the bump's start.
        interval_jitter: Half-width (s) of the uniform per-trial jitter of ``cue_to_movement``.
        movement_duration: Length of the bump, seconds.
        amplitude: Height of the bump, in units of y.
        max_force: The force u at action 1, in units of y (the static gain is 1).
        effort_weight: Weight of the squared force in the reward.
        render_mode: Must be None: nothing to render.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = gymnasium.make("cfpc_gym/LinearPlant-v0", sensory_delay=0.1, damping_ratio=0.2)
        >>> observation, info = env.reset(seed=0)
        >>> observation.shape
        (5,)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        natural_freq_hz: float = 1.0,
        damping_ratio: float = 0.5,
        sensory_delay: float = 0.05,
        dt: float = 0.01,
        trial_duration: float = 2.0,
        cue_time: float = 0.2,
        cue_duration: float = 0.05,
        cue_to_movement: float = 0.3,
        interval_jitter: float = 0.0,
        movement_duration: float = 0.5,
        amplitude: float = 1.0,
        max_force: float = 50.0,
        effort_weight: float = 0.0,
        render_mode: str | None = None,
    ):
        require_positive(
            natural_freq_hz=natural_freq_hz,
            dt=dt,
            trial_duration=trial_duration,
            cue_duration=cue_duration,
            movement_duration=movement_duration,
            max_force=max_force,
        )
        require_non_negative(
            damping_ratio=damping_ratio, sensory_delay=sensory_delay, effort_weight=effort_weight
        )
        check_cued_movement(cue_time, cue_to_movement, interval_jitter, movement_duration, trial_duration)
        require_delay_within_trial(sensory_delay, trial_duration)
        if render_mode is not None:
            raise ValueError(f"LinearPlant has no renderer; render_mode must be None, got {render_mode!r}")
        self.natural_freq_hz = natural_freq_hz
        self.damping_ratio = damping_ratio
        self.sensory_delay = sensory_delay
        self.dt = dt
        self.trial_duration = trial_duration
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.interval_jitter = interval_jitter
        self.movement_duration = movement_duration
        self.amplitude = amplitude
        self.max_force = max_force
        self.effort_weight = effort_weight
        self.render_mode = render_mode

        self.trial_steps = round(trial_duration / dt)
        self.tracking_spec = TrackingSpec(
            dofs=1,
            cues=1,
            dt=dt,
            sensory_delay=sensory_delay,
            observation_index={"measurement": slice(0, 1), "reference": slice(2, 3), "cue": slice(3, 4)},
        )
        a, b, _, _ = self.linear_model()
        # Exact ZOH: expm([[A, B], [0, 0]] dt) = [[Ad, Bd], [0, I]].
        block = np.zeros((3, 3))
        block[:2, :2], block[:2, 2:] = a, b
        phi = expm(block * dt)
        self._ad, self._bd = phi[:2, :2], phi[:2, 2:]
        self._sensed = DelayLine(delay_steps(sensory_delay, dt), shape=(3,))  # y, y', r

        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        # Finite bounds (observations are clipped to them): outputs of +-100 mean a loop blew up anyway.
        bound = OBSERVATION_BOUND
        self.observation_space = spaces.Box(
            np.array([-bound, -bound, -bound, 0.0, 0.0]),
            np.array([bound, bound, bound, 1.0, 1.0]),
            dtype=np.float64,
        )
        self._state = np.zeros(2)
        self._step = 0
        self._movement_start = cue_time + cue_to_movement

    def linear_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Continuous-time state space (A, B, C, D) from force u to output y; state [y, y']."""
        w = 2 * np.pi * self.natural_freq_hz
        a = np.array([[0.0, 1.0], [-(w**2), -2 * self.damping_ratio * w]])
        b = np.array([[0.0], [w**2]])
        c = np.array([[1.0, 0.0]])
        d = np.zeros((1, 1))
        return a, b, c, d

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """A force command (D,) to the action: its fraction of max_force, saturated."""
        # minimum/maximum: np.clip's wrapper costs several microseconds on a (1,) array, every step.
        return np.minimum(np.maximum(np.asarray(command, dtype=np.float64) / self.max_force, -1.0), 1.0)

    def target_at(self, t: np.ndarray | float):
        """The desired output at time(s) ``t`` (s) in the trial."""
        return sin2_bump(t, self._movement_start, self.movement_duration, self.amplitude)

    def cue_at(self, t: float) -> float:
        """The cue pulse (0 or 1) at time ``t`` (s) in the trial."""
        return pulse(t, self.cue_time, self.cue_duration, self.dt)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a trial at rest; ``seed`` seeds the interval jitter's draws."""
        super().reset(seed=seed)
        jitter = draw_jitter(self.np_random, self.interval_jitter)
        self._movement_start = self.cue_time + self.cue_to_movement + jitter
        self._state = np.zeros(2)
        self._step = 0
        self._sensed.reset(np.zeros(3))
        sensed = self._sensed.push(self._world())
        return self._observation(sensed), self._info(sensed, force=0.0)

    def step(self, action):
        """Hold the force for ``dt`` (exact zero-order hold); truncated at the trial's end."""
        action = np.asarray(action, dtype=np.float64)
        if action.size != 1:
            raise ValueError(f"action must hold 1 force, got shape {action.shape}")
        force = self.max_force * float(np.clip(action.reshape(-1)[0], -1.0, 1.0))
        self._state = self._ad @ self._state + self._bd[:, 0] * force
        self._step += 1
        sensed = self._sensed.push(self._world())
        info = self._info(sensed, force)
        reward = float(sum(info["reward_components"].values()))
        truncated = self._step >= self.trial_steps
        return self._observation(sensed), reward, False, truncated, info

    def _world(self) -> np.ndarray:
        """What the sensors pick up now: output, velocity, target."""
        return np.array([self._state[0], self._state[1], self.target_at(self._step * self.dt)])

    def _observation(self, sensed: np.ndarray) -> np.ndarray:
        t = self._step * self.dt
        observation = np.array([sensed[0], sensed[1], sensed[2], self.cue_at(t), t / self.trial_duration])
        return np.clip(observation, self.observation_space.low, self.observation_space.high)

    def _info(self, sensed: np.ndarray, force: float) -> dict[str, Any]:
        t = self._step * self.dt
        target = self.target_at(t)
        error = target - self._state[0]
        return {
            TRACKING_KEY: tracking_info(
                reference=sensed[2:3],
                measurement=sensed[0:1],
                cue=np.array([self.cue_at(t)]),
                target=np.array([target]),
                output=self._state[0:1],
            ),
            "reward_components": {"tracking": -(error**2), "effort": -self.effort_weight * force**2},
        }
