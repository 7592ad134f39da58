"""Drive MyoSuite's elbow (``myoElbowPose1D6MRandom-v0``) with the same controllers as the cfpc_gym envs.

An optional extra: ``pip install 'cfpc-gym[myosuite]'``. MyoSuite is imported only when the env is
made. ``MyoElbowTracking`` wraps the MyoSuite env and adds this project's tracking surface:
``info["tracking"]`` (reference = desired elbow angle, measurement = elbow angle, both through
``sensory_delay``; cue = a target-onset pulse), ``tracking_spec``, ``dt``, ``sensory_delay``,
``holding_command()`` (the torque that holds the posture against gravity) and ``allocate()``
(agonist/antagonist split by the sign of each muscle's moment arm at the current posture).
Actions are muscle excitations in [0, 1] (MyoSuite's ``normalize_act=False``).
The observation is MyoSuite's (as float64) followed by [measurement, reference, cue], their place
given by ``tracking_spec.observation_index``, so observation-only policies can track too.

MyoSuite samples the target angle at reset; here it becomes the reference only after a cue:
a pulse at ``cue_time``, then ``cue_to_movement`` seconds later a minimum-jerk transition of
``movement_duration`` from the starting angle to MyoSuite's target (as in ``ElbowTrack-v0``).
MyoSuite's reward is passed on unchanged, its weighted terms in ``info["reward_components"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .allocation import antagonist_split
from .delay import DelayLine, delay_steps
from .muscle_task import ANGLE_MARGIN
from .physics import MusclePhysics
from .profiles import minimum_jerk, pulse
from .tracking import TRACKING_KEY, TrackingSpec, tracking_info

MYOSUITE_ENV_IDS = ("cfpc_gym/MyoElbowTrack-v0",)
MYOSUITE_ELBOW_ID = "myoElbowPose1D6MRandom-v0"
INSTALL_HINT = "MyoSuite is not installed: pip install 'cfpc-gym[myosuite]'"


class MyoElbowTracking(gym.Wrapper):
    """Adds the cfpc_gym tracking surface to a MyoSuite elbow-pose env (one elbow joint, muscles only)."""

    def __init__(
        self,
        env: gym.Env,
        sensory_delay: float = 0.05,
        cue_time: float = 0.2,
        cue_duration: float = 0.05,
        cue_to_movement: float = 0.3,
        movement_duration: float = 0.5,
        cocontraction: float = 0.05,
        joint: str = "r_elbow_flex",
    ):
        super().__init__(env)
        for name, value in (("cue_duration", cue_duration), ("movement_duration", movement_duration)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name, value in (
            ("sensory_delay", sensory_delay),
            ("cue_time", cue_time),
            ("cue_to_movement", cue_to_movement),
        ):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not 0 <= cocontraction < 1:
            raise ValueError(f"cocontraction must be in [0, 1), got {cocontraction}")
        base = env.unwrapped
        self.physics = MusclePhysics(base.model, base.data, name=MYOSUITE_ELBOW_ID)
        if joint not in self.physics.joint_names:
            raise ValueError(f"joint must be one of {self.physics.joint_names}, got {joint!r}")
        self._joint = self.physics.joint_names.index(joint)
        self.dt = float(base.dt)
        self.sensory_delay = sensory_delay
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.movement_duration = movement_duration
        self.cocontraction = cocontraction
        inner = env.observation_space
        if not isinstance(inner, spaces.Box) or len(inner.shape) != 1:
            raise ValueError(f"env must have a flat Box observation space, got {inner}")
        size = inner.shape[0]
        self.tracking_spec = TrackingSpec(
            dofs=1,
            cues=1,
            dt=self.dt,
            sensory_delay=sensory_delay,
            observation_index={
                "measurement": slice(size, size + 1),
                "reference": slice(size + 1, size + 2),
                "cue": slice(size + 2, size + 3),
            },
        )
        # Appended signals are bounded by the joint's range (angles may pass soft limits slightly).
        low, high = self.physics.joint_range[self._joint] + (-ANGLE_MARGIN, ANGLE_MARGIN)
        self.observation_space = spaces.Box(
            np.concatenate([inner.low, [low, low, 0.0]]),
            np.concatenate([inner.high, [high, high, 1.0]]),
            dtype=np.float64,
        )
        self._sensed = DelayLine(delay_steps(sensory_delay, self.dt), shape=(2,))  # angle, desired angle
        self._inner_low = np.asarray(env.action_space.low, dtype=np.float64)
        self._inner_high = np.asarray(env.action_space.high, dtype=np.float64)
        self.action_space = spaces.Box(0.0, 1.0, shape=env.action_space.shape, dtype=np.float32)
        self._step = 0
        self._start_angle = 0.0
        self._target_angle = 0.0

    @property
    def time(self) -> float:
        return self._step * self.dt

    def target_at(self, t: float) -> np.ndarray:
        fraction = minimum_jerk(t, self.cue_time + self.cue_to_movement, self.movement_duration)
        return np.array([self._start_angle + fraction * (self._target_angle - self._start_angle)])

    def cue_at(self, t: float) -> np.ndarray:
        return np.array([pulse(t, self.cue_time, self.cue_duration, self.dt)])

    def holding_command(self) -> np.ndarray:
        """The elbow torque (N*m) that holds the current posture against gravity."""
        return self.physics.holding_torques()[self._joint : self._joint + 1]

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """Desired elbow torque (N*m) to excitations in [0, 1]: agonists by moment-arm sign, now."""
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        if command.shape != (1,):
            raise ValueError(f"command must hold 1 elbow torque, got shape {command.shape}")
        capacity = self.physics.torque_per_excitation()[self._joint]
        return antagonist_split(command[0], capacity, self.cocontraction)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self._step = 0
        self._start_angle = float(self.physics.joint_angles()[self._joint])
        self._target_angle = float(np.asarray(self.env.unwrapped.target_jnt_value).reshape(-1)[0])
        self._sensed.reset(self._sense())
        info = self._info(dict(info), self._sensed.push(self._sense()))
        return self._observation(observation, info), info

    def step(self, action):
        excitation = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), 0.0, 1.0)
        inner = np.clip(excitation, self._inner_low, self._inner_high).astype(self.env.action_space.dtype)
        observation, reward, terminated, truncated, info = self.env.step(inner)
        self._step += 1
        info = self._info(dict(info), self._sensed.push(self._sense()))
        weights = self.env.unwrapped.rwd_keys_wt
        rewards = info.get("rwd_dict", {})
        if all(key in rewards for key in weights):
            info["reward_components"] = {key: float(w * np.sum(rewards[key])) for key, w in weights.items()}
        return self._observation(observation, info), reward, terminated, truncated, info

    def _observation(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        tracking = info[TRACKING_KEY]
        signals = np.concatenate([tracking["measurement"], tracking["reference"], tracking["cue"]])
        extended = np.concatenate([np.asarray(observation, dtype=np.float64).reshape(-1), signals])
        return np.clip(extended, self.observation_space.low, self.observation_space.high)

    def _sense(self) -> np.ndarray:
        return np.array([self.physics.joint_angles()[self._joint], self.target_at(self.time)[0]])

    def _info(self, info: dict[str, Any], sensed: np.ndarray) -> dict[str, Any]:
        t = self.time
        info[TRACKING_KEY] = tracking_info(
            reference=sensed[1:2],
            measurement=sensed[0:1],
            cue=self.cue_at(t),
            target=self.target_at(t),
            output=self.physics.joint_angles()[self._joint : self._joint + 1],
        )
        return info


def make_myo_elbow_track(
    dt: float = 0.01,
    trial_duration: float = 2.0,
    sensory_delay: float = 0.05,
    cue_time: float = 0.2,
    cue_duration: float = 0.05,
    cue_to_movement: float = 0.3,
    movement_duration: float = 0.5,
    cocontraction: float = 0.05,
    **myosuite_kwargs: Any,
) -> MyoElbowTracking:
    """Entry point of ``cfpc_gym/MyoElbowTrack-v0``: MyoSuite's random-target elbow, wrapped.

    ``dt`` sets MyoSuite's frame_skip (its model steps 2 ms); one episode lasts ``trial_duration``.
    Extra keyword arguments go to MyoSuite's env.
    """
    try:
        import myosuite  # noqa: F401  (registers MyoSuite's envs)
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    for name, value in (("dt", dt), ("trial_duration", trial_duration)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    timestep = 0.002
    frame_skip = round(dt / timestep)
    if frame_skip < 1 or abs(frame_skip * timestep - dt) > 1e-9:
        raise ValueError(f"dt must be a whole multiple of MyoSuite's timestep {timestep} s, got {dt}")
    env = gym.make(
        MYOSUITE_ELBOW_ID,
        normalize_act=False,
        frame_skip=frame_skip,
        max_episode_steps=round(trial_duration / dt),
        **myosuite_kwargs,
    )
    if abs(env.unwrapped.dt - dt) > 1e-9:
        raise ValueError(f"dt must be a whole multiple of MyoSuite's timestep, got {dt}")
    return MyoElbowTracking(
        env,
        sensory_delay=sensory_delay,
        cue_time=cue_time,
        cue_duration=cue_duration,
        cue_to_movement=cue_to_movement,
        movement_duration=movement_duration,
        cocontraction=cocontraction,
    )
