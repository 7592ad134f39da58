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

from .adapter import TrackingAdapter
from .validation import require_positive, whole_steps

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


class ReacherTracking(TrackingAdapter):
    """Adds the cfpc_gym tracking surface to Reacher-v5: reach its target as a cued joint-angle track.

    The cue pulses at reset (``cue_time`` is 0); the reference is the joint angles (shoulder,
    elbow; D=2, radians) that put the fingertip on Reacher's target.

    Args:
        env: A Reacher-v5 env (as ``gymnasium.make("Reacher-v5")`` returns it).
        sensory_delay: As in ``TrackingAdapter``; a whole number of Reacher's steps.
        cue_duration, cue_to_movement, movement_duration: As in ``TrackingAdapter``.
    """

    def __init__(
        self,
        env: gym.Env,
        sensory_delay: float = 0.04,
        cue_duration: float = 0.04,
        cue_to_movement: float = 0.2,
        movement_duration: float = 0.4,
    ):
        super().__init__(
            env,
            sensory_delay=sensory_delay,
            cue_time=0.0,
            cue_duration=cue_duration,
            cue_to_movement=cue_to_movement,
            movement_duration=movement_duration,
        )
        model = env.unwrapped.model
        steps = whole_steps("sensory_delay", sensory_delay, self.dt)
        self._qpos = np.array([model.joint(name).qposadr[0] for name in JOINTS])
        # Shoulder to elbow, elbow to fingertip: the body offsets along each link.
        self.link_lengths = (
            float(np.linalg.norm(model.body("body1").pos)),
            float(np.linalg.norm(model.body("fingertip").pos)),
        )
        self.gear = model.actuator_gear[:, 0].copy()
        self._control_low, self._control_high = model.actuator_ctrlrange.T.copy()
        # Like Reacher's own, the joint angles are unbounded (the shoulder turns freely).
        self._append_tracking(steps, np.full(2, -np.inf), np.full(2, np.inf))

    def joint_angles(self) -> np.ndarray:
        """Shoulder and elbow angles (rad) now."""
        return self.env.unwrapped.data.qpos[self._qpos].copy()

    def output(self) -> np.ndarray:
        """The tracked output: the joint angles (rad)."""
        return self.joint_angles()

    def target_point(self) -> np.ndarray:
        """Reacher's target relative to the shoulder, in the arm's plane."""
        data = self.env.unwrapped.data
        return (data.body("target").xpos - data.body("body0").xpos)[:2].copy()

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """Joint torques (N*m, shoulder and elbow) to Reacher's action: divided by the gear, saturated."""
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        if command.shape != (2,):
            raise ValueError(f"command must hold 2 joint torques, got shape {command.shape}")
        return np.clip(command / self.gear, self._control_low, self._control_high)

    def _goal_of_trial(self) -> np.ndarray:
        return two_link_inverse_kinematics(self.target_point(), self.link_lengths, near=self._start)

    def _reward_components(self, info: dict[str, Any]) -> dict[str, float]:
        return {"distance": float(info["reward_dist"]), "control": float(info["reward_ctrl"])}


def make_reacher_track(
    trial_duration: float = 1.0,
    sensory_delay: float = 0.04,
    cue_duration: float = 0.04,
    cue_to_movement: float = 0.2,
    movement_duration: float = 0.4,
    **reacher_kwargs: Any,
) -> ReacherTracking:
    """Entry point of ``cfpc_gym/ReacherTrack-v0``: Reacher-v5 for ``trial_duration`` seconds, wrapped.

    Args:
        trial_duration: Seconds; a whole number of Reacher's steps. The episode is truncated after it.
        sensory_delay, cue_duration, cue_to_movement, movement_duration: As in ``ReacherTracking``.
        **reacher_kwargs: For Reacher-v5 (``frame_skip``, reward weights, ...); its dt is 0.02 s by
            default, so delays and durations are multiples of 0.02 s.

    Returns:
        The wrapped env.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = gymnasium.make("cfpc_gym/ReacherTrack-v0", sensory_delay=0.06)
        >>> observation, info = env.reset(seed=0)
        >>> info["tracking"]["measurement"].shape
        (2,)
    """
    require_positive(trial_duration=trial_duration)
    probe = gym.make(REACHER_ID, **reacher_kwargs)  # dt depends on Reacher's frame_skip
    dt = float(probe.unwrapped.dt)
    probe.close()
    steps = whole_steps("trial_duration", trial_duration, dt)
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
