"""Cued anticipatory tracking at the elbow: a cue, then after a set interval the target angle moves.

The forearm hangs in a vertical plane under gravity (``gravity`` m/s^2; 0 for a supported forearm),
driven by a flexor and an extensor muscle (``assets/elbow.xml``). A trial: at rest at
``rest_angle``; a cue pulse at ``cue_time``; ``cue_to_movement`` seconds after its onset (plus a
uniform draw in +-``interval_jitter`` per trial) the target angle moves by ``amplitude`` along a
minimum-jerk profile lasting ``movement_duration``, then holds. With ``amplitude_range`` the amplitude
is drawn anew each trial (a random goal); ``info["goal"]`` is the trial's end angle either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .muscle_task import MuscleTaskEnv, shared_arguments
from .profiles import check_cued_movement, draw_jitter, minimum_jerk, pulse
from .validation import require_non_negative, require_positive


class ElbowTrackEnv(MuscleTaskEnv):
    """Track a cued elbow-angle step (rad, positive = flexion) with two muscles; one episode is one trial.

    Tracking signals: reference/measurement are the target and actual elbow angle (D=1), cue the
    cue pulse (M=1). ``allocate(torque)`` maps a desired elbow torque (N*m) to the two excitations.
    ``info["movement_start"]`` is the trial's movement onset (s).

    Args:
        cue_time: Onset of the cue pulse, seconds into the trial.
        cue_duration: Length of the cue pulse, seconds.
        cue_to_movement: Seconds from cue onset to movement onset.
        interval_jitter: Half-width (s) of the uniform per-trial jitter of ``cue_to_movement``.
        movement_duration: Length of the minimum-jerk movement, seconds.
        rest_angle: Elbow angle at rest, radians (inside the joint's range).
        amplitude: Size of the movement, radians (``rest_angle + amplitude`` inside the range).
        amplitude_range: (low, high) radians: draw each trial's amplitude uniformly from it
            instead (a random goal per trial); None: always ``amplitude``.
        gravity: Gravitational acceleration, m/s^2; 0 for a supported forearm.
        dt, sensory_delay, motor_delay, trial_duration, cocontraction, tracking_weight, effort_weight,
            max_joint_velocity, render_mode, render_width, render_height: As in ``MuscleTaskEnv``.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = gymnasium.make("cfpc_gym/ElbowTrack-v0", sensory_delay=0.1, interval_jitter=0.05)
        >>> observation, info = env.reset(seed=0)
        >>> info["tracking"]["reference"].shape
        (1,)
    """

    asset = "elbow.xml"
    camera = "side"
    n_cues = 1
    goal_threshold = 0.05  # rad: a trial succeeds ending this close to its goal (for metrics)

    def __init__(
        self,
        dt: float = 0.01,
        sensory_delay: float = 0.05,
        motor_delay: float = 0.0,
        trial_duration: float = 2.0,
        cue_time: float = 0.2,
        cue_duration: float = 0.05,
        cue_to_movement: float = 0.3,
        interval_jitter: float = 0.0,
        movement_duration: float = 0.5,
        rest_angle: float = 0.5,
        amplitude: float = 0.8,
        amplitude_range: tuple[float, float] | None = None,
        gravity: float = 9.81,
        cocontraction: float = 0.05,
        tracking_weight: float = 1.0,
        effort_weight: float = 0.0,
        max_joint_velocity: float = 50.0,
        render_mode: str | None = None,
        render_width: int = 480,
        render_height: int = 480,
    ):
        require_positive(cue_duration=cue_duration, movement_duration=movement_duration)
        require_non_negative(gravity=gravity)
        check_cued_movement(cue_time, cue_to_movement, interval_jitter, movement_duration, trial_duration)
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.interval_jitter = interval_jitter
        self.movement_duration = movement_duration
        self.rest_angle = rest_angle
        self.amplitude = self.base_amplitude = amplitude
        self.amplitude_range = None if amplitude_range is None else tuple(float(a) for a in amplitude_range)
        self.gravity = gravity
        super().__init__(**shared_arguments(locals()))
        low, high = self.physics.joint_range[0]
        ends = [("rest_angle + amplitude", rest_angle + amplitude)]
        if self.amplitude_range is not None:
            if len(self.amplitude_range) != 2 or not self.amplitude_range[0] <= self.amplitude_range[1]:
                raise ValueError(
                    f"amplitude_range must be (low, high) with low <= high, got {amplitude_range}"
                )
            ends = [
                (f"rest_angle + amplitude_range[{i}]", rest_angle + a)
                for i, a in enumerate(self.amplitude_range)
            ]
        for name, angle in (("rest_angle", rest_angle), *ends):
            if not low < angle < high:
                raise ValueError(f"{name} ({angle} rad) must lie inside the elbow range ({low}, {high}) rad")
        self.physics.model.opt.gravity[:] = (0.0, 0.0, -gravity)
        self.movement_start = cue_time + cue_to_movement

    def initial_joint_angles(self) -> np.ndarray:
        return np.array([self.rest_angle])

    def target_at(self, t: float) -> np.ndarray:
        return np.array(
            [self.rest_angle + self.amplitude * minimum_jerk(t, self.movement_start, self.movement_duration)]
        )

    def cue_at(self, t: float) -> np.ndarray:
        return np.array([pulse(t, self.cue_time, self.cue_duration, self.dt)])

    def _begin_trial(self, seed: int | None, options: dict[str, Any] | None) -> None:
        jitter = draw_jitter(self.np_random, self.interval_jitter)
        self.movement_start = self.cue_time + self.cue_to_movement + jitter
        if self.amplitude_range is not None:  # drawn only then: fixed-goal trials keep their randomness
            self.amplitude = self.np_random.uniform(*self.amplitude_range)

    def _task_info(self) -> dict[str, Any]:
        return {"movement_start": self.movement_start, "goal": np.array([self.rest_angle + self.amplitude])}
