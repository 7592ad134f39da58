"""Cued anticipatory tracking at the elbow: a cue, then after a set interval the target angle moves.

The forearm hangs in a vertical plane under gravity (``gravity`` m/s^2; 0 for a supported forearm),
driven by a flexor and an extensor muscle (``assets/elbow.xml``). A trial: at rest at
``rest_angle``; a cue pulse at ``cue_time``; ``cue_to_movement`` seconds after its onset (plus a
uniform draw in +-``interval_jitter`` per trial) the target angle moves by ``amplitude`` along a
minimum-jerk profile lasting ``movement_duration``, then holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .muscle_task import MuscleTaskEnv
from .profiles import check_cued_movement, minimum_jerk, pulse


class ElbowTrackEnv(MuscleTaskEnv):
    """Track a cued elbow-angle step (rad, positive = flexion) with two muscles; one episode is one trial.

    Tracking signals: reference/measurement are the target and actual elbow angle (D=1), cue the
    cue pulse (M=1). ``allocate(torque)`` maps a desired elbow torque (N*m) to the two excitations.
    """

    asset = "elbow.xml"
    camera = "side"
    n_cues = 1

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
        gravity: float = 9.81,
        cocontraction: float = 0.05,
        tracking_weight: float = 1.0,
        effort_weight: float = 0.0,
        max_joint_velocity: float = 50.0,
        render_mode: str | None = None,
        render_width: int = 480,
        render_height: int = 480,
    ):
        for name, value in (("cue_duration", cue_duration), ("movement_duration", movement_duration)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not gravity >= 0:
            raise ValueError(f"gravity must be >= 0, got {gravity}")
        check_cued_movement(cue_time, cue_to_movement, interval_jitter, movement_duration, trial_duration)
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.interval_jitter = interval_jitter
        self.movement_duration = movement_duration
        self.rest_angle = rest_angle
        self.amplitude = amplitude
        self.gravity = gravity
        super().__init__(
            dt=dt,
            sensory_delay=sensory_delay,
            motor_delay=motor_delay,
            trial_duration=trial_duration,
            cocontraction=cocontraction,
            tracking_weight=tracking_weight,
            effort_weight=effort_weight,
            max_joint_velocity=max_joint_velocity,
            render_mode=render_mode,
            render_width=render_width,
            render_height=render_height,
        )
        low, high = self.physics.joint_range[0]
        for name, angle in (("rest_angle", rest_angle), ("rest_angle + amplitude", rest_angle + amplitude)):
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
        jitter = self.np_random.uniform(-1.0, 1.0) * self.interval_jitter if self.interval_jitter else 0.0
        self.movement_start = self.cue_time + self.cue_to_movement + jitter

    def _task_info(self) -> dict[str, Any]:
        return {"movement_start": self.movement_start}
