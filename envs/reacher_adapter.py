"""Gymnasium's ``Reacher-v5`` (a torque-driven planar 2-link arm) with the cfpc_gym tracking surface.

``ReacherTracking`` wraps the unchanged Reacher env, which knows nothing of CFPC, and adds:
``info["tracking"]`` with reference = the joint angles that put the fingertip on Reacher's target
(analytic 2-link inverse kinematics from the model's link lengths) and measurement = the joint
angles, both through ``sensory_delay``; cue = a target-onset pulse at t = 0. The reference stays at
the starting posture, then ``cue_to_movement`` seconds after the cue moves to the inverse-kinematics
solution along a minimum-jerk profile lasting ``movement_duration``.

``allocate(torque)`` maps joint torques (N*m) to Reacher's action (motor controls in [-1, 1], each
multiplied by its actuator gear). The observation is Reacher's followed by [measurement, reference,
cue] (``tracking_spec.observation_index``). Reacher's reward is passed on unchanged; its two terms
are ``info["reward_components"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .delay import DelayLine, delay_steps
from .profiles import minimum_jerk, pulse
from .tracking import TRACKING_KEY, TrackingSpec, tracking_info

REACHER_ID = "Reacher-v5"
JOINTS = ("joint0", "joint1")  # shoulder, elbow


def two_link_inverse_kinematics(
    point: np.ndarray, link_lengths: tuple[float, float], near: np.ndarray
) -> np.ndarray:
    """Joint angles (shoulder, elbow) that put a planar 2-link arm's tip on ``point`` (relative to the
    shoulder), choosing the elbow branch and the shoulder turn closest to the posture ``near``.
    Points out of reach get the closest reachable posture."""
    x, y = float(point[0]), float(point[1])
    upper, fore = link_lengths
    cosine = np.clip((x * x + y * y - upper**2 - fore**2) / (2 * upper * fore), -1.0, 1.0)
    candidates = []
    for elbow in (np.arccos(cosine), -np.arccos(cosine)):
        shoulder = np.arctan2(y, x) - np.arctan2(fore * np.sin(elbow), upper + fore * np.cos(elbow))
        # The shoulder is unlimited: take the turn nearest to where it is now.
        shoulder += 2 * np.pi * np.round((near[0] - shoulder) / (2 * np.pi))
        candidates.append(np.array([shoulder, elbow]))
    return min(candidates, key=lambda angles: float(np.sum((angles - near) ** 2)))


class ReacherTracking(gym.Wrapper):
    """Adds the cfpc_gym tracking surface to Reacher-v5: reach its target as a cued joint-angle track."""

    def __init__(
        self,
        env: gym.Env,
        sensory_delay: float = 0.04,
        cue_duration: float = 0.04,
        cue_to_movement: float = 0.2,
        movement_duration: float = 0.4,
    ):
        super().__init__(env)
        for name, value in (("cue_duration", cue_duration), ("movement_duration", movement_duration)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name, value in (("sensory_delay", sensory_delay), ("cue_to_movement", cue_to_movement)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        base = env.unwrapped
        model = base.model
        self.dt = float(base.dt)
        try:
            steps = delay_steps(sensory_delay, self.dt)
        except ValueError:
            raise ValueError(
                f"sensory_delay ({sensory_delay} s) must be a whole number of steps of dt={self.dt} s"
            ) from None
        self.sensory_delay = sensory_delay
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.movement_duration = movement_duration
        self._qpos = np.array([model.joint(name).qposadr[0] for name in JOINTS])
        # Shoulder to elbow, elbow to fingertip: the body offsets along each link.
        self.link_lengths = (
            float(np.linalg.norm(model.body("body1").pos)),
            float(np.linalg.norm(model.body("fingertip").pos)),
        )
        self.gear = model.actuator_gear[:, 0].copy()
        self._control_low, self._control_high = model.actuator_ctrlrange.T.copy()

        inner = env.observation_space
        size = inner.shape[0]
        self.tracking_spec = TrackingSpec(
            dofs=2,
            cues=1,
            dt=self.dt,
            sensory_delay=sensory_delay,
            observation_index={
                "measurement": slice(size, size + 2),
                "reference": slice(size + 2, size + 4),
                "cue": slice(size + 4, size + 5),
            },
        )
        # Like Reacher's own, the joint angles are unbounded (the shoulder turns freely).
        self.observation_space = spaces.Box(
            np.concatenate([inner.low, np.full(4, -np.inf), [0.0]]),
            np.concatenate([inner.high, np.full(4, np.inf), [1.0]]),
            dtype=np.float64,
        )
        self._sensed = DelayLine(steps, shape=(4,))  # joint angles, desired joint angles
        self._step = 0
        self._start = np.zeros(2)
        self._goal = np.zeros(2)

    @property
    def time(self) -> float:
        return self._step * self.dt

    def joint_angles(self) -> np.ndarray:
        return self.env.unwrapped.data.qpos[self._qpos].copy()

    def target_point(self) -> np.ndarray:
        """Reacher's target relative to the shoulder, in the arm's plane."""
        data = self.env.unwrapped.data
        return (data.body("target").xpos - data.body("body0").xpos)[:2].copy()

    def target_at(self, t: float) -> np.ndarray:
        fraction = minimum_jerk(t, self.cue_to_movement, self.movement_duration)
        return self._start + fraction * (self._goal - self._start)

    def cue_at(self, t: float) -> np.ndarray:
        return np.array([pulse(t, 0.0, self.cue_duration, self.dt)])

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """Joint torques (N*m, shoulder and elbow) to Reacher's action: divided by the gear, saturated."""
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        if command.shape != (2,):
            raise ValueError(f"command must hold 2 joint torques, got shape {command.shape}")
        return np.clip(command / self.gear, self._control_low, self._control_high)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        self._step = 0
        self._start = self.joint_angles()
        self._goal = two_link_inverse_kinematics(self.target_point(), self.link_lengths, near=self._start)
        self._sensed.reset(self._sense())
        info = self._info(dict(info), self._sensed.push(self._sense()))
        return self._observation(observation, info), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._step += 1
        info = self._info(dict(info), self._sensed.push(self._sense()))
        info["reward_components"] = {
            "distance": float(info["reward_dist"]),
            "control": float(info["reward_ctrl"]),
        }
        return self._observation(observation, info), reward, terminated, truncated, info

    def _sense(self) -> np.ndarray:
        return np.concatenate([self.joint_angles(), self.target_at(self.time)])

    def _info(self, info: dict[str, Any], sensed: np.ndarray) -> dict[str, Any]:
        t = self.time
        info[TRACKING_KEY] = tracking_info(
            reference=sensed[2:],
            measurement=sensed[:2],
            cue=self.cue_at(t),
            target=self.target_at(t),
            output=self.joint_angles(),
        )
        return info

    def _observation(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        tracking = info[TRACKING_KEY]
        signals = np.concatenate([tracking["measurement"], tracking["reference"], tracking["cue"]])
        return np.concatenate([np.asarray(observation, dtype=np.float64).reshape(-1), signals])


def make_reacher_track(
    trial_duration: float = 1.0,
    sensory_delay: float = 0.04,
    cue_duration: float = 0.04,
    cue_to_movement: float = 0.2,
    movement_duration: float = 0.4,
    **reacher_kwargs: Any,
) -> ReacherTracking:
    """Entry point of ``cfpc_gym/ReacherTrack-v0``: Reacher-v5 for ``trial_duration`` seconds, wrapped.

    Extra keyword arguments go to Reacher-v5 (``frame_skip``, reward weights, ...); its dt is 0.02 s
    by default, so delays and durations are multiples of 0.02 s.
    """
    if not trial_duration > 0:
        raise ValueError(f"trial_duration must be > 0, got {trial_duration}")
    probe = gym.make(REACHER_ID, **reacher_kwargs)  # dt depends on Reacher's frame_skip
    dt = float(probe.unwrapped.dt)
    probe.close()
    try:
        steps = delay_steps(trial_duration, dt)
    except ValueError:
        raise ValueError(
            f"trial_duration ({trial_duration} s) must be a whole number of steps of dt={dt} s"
        ) from None
    if cue_to_movement + movement_duration > trial_duration + 1e-9:
        raise ValueError(
            f"trial_duration ({trial_duration} s) must cover the movement "
            f"(ends at {cue_to_movement + movement_duration} s)"
        )
    env = gym.make(REACHER_ID, max_episode_steps=steps, **reacher_kwargs)
    return ReacherTracking(
        env,
        sensory_delay=sensory_delay,
        cue_duration=cue_duration,
        cue_to_movement=cue_to_movement,
        movement_duration=movement_duration,
    )
