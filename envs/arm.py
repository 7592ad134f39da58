"""Centre-out reaching with a planar two-joint, six-muscle arm, in and out of a force field.

The arm moves in a horizontal plane, supported as on a manipulandum, so gravity does no work on
the joints (``assets/arm.xml``). A trial: the hand at rest on the centre; at ``cue_time`` one of
``n_targets`` targets (evenly spaced on a circle of ``target_distance`` m) appears, with a pulse
on that target's cue channel; ``cue_to_movement`` seconds later the reference moves: the joint
angles that put the hand on a straight minimum-jerk path to the target (closed-form inverse
kinematics, elbow flexed). Joint angles are the tracked output, so joint-space feedback applies.

A force field (``force_field.py``) acts on the hand through the Jacobian, ``tau = J^T B v``. Trials
follow a baseline / field / washout schedule with catch trials; one episode is one trial and the
trial counter advances across resets. ``reset(seed=...)`` starts the schedule again (a seed names an
experiment), ``reset(options={"trial": k})`` jumps to trial k. Targets come in shuffled cycles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding

from .force_field import FieldSchedule, field_matrix
from .muscle_task import MuscleTaskEnv, shared_arguments
from .profiles import minimum_jerk, pulse
from .validation import require_non_negative, require_positive

# "target": one channel per target, pulsing at its onset (what is learned for one target stays
# there); "direction": three channels pulsing with amplitudes 1, cos and sin of the target angle,
# so a feed-forward linear in the cue (delay-line or alpha basis) generalises across directions.
CUE_CODINGS = ("target", "direction")


class ArmReachEnv(MuscleTaskEnv):
    """Reach from the centre to one of ``n_targets`` targets; joint angles (shoulder, elbow) tracked (D=2).

    Cue (``cue_coding``): ``"target"``, ``n_targets`` channels, the current target's pulses at target
    onset (M=n_targets); ``"direction"``, 3 channels pulsing at onset with amplitudes
    (1, cos angle, sin angle) of the target's direction (M=3).
    ``allocate(torques)`` maps desired shoulder and elbow torques (N*m) to six excitations.
    ``info`` also holds the trial's ``trial``, ``block``, ``field_on``, ``catch_trial``,
    ``target_index``, ``target_position`` and ``hand_position`` (m).

    Args:
        cue_time: Onset of the target (and of its cue pulse), seconds into the trial.
        cue_duration: Length of the cue pulse, seconds.
        cue_to_movement: Seconds from target onset to movement onset.
        movement_duration: Length of the minimum-jerk reach, seconds.
        centre: Hand start (x, y), metres in the table plane.
        target_distance: Distance of the targets from the centre, metres.
        n_targets: Targets evenly spaced on the circle.
        cue_coding: ``"target"`` or ``"direction"`` (above).
        force_field: ``"shadmehr"``, ``"curl"`` or ``"none"`` (``force_field.py``).
        curl_strength: b of the curl field, N*s/m.
        baseline_trials, field_trials, washout_trials: Trials in each block of the schedule.
        catch_fraction: Probability that a field trial is a catch trial (field off).
        dt, sensory_delay, motor_delay, trial_duration, cocontraction, tracking_weight, effort_weight,
            max_joint_velocity, render_mode, render_width, render_height: As in ``MuscleTaskEnv``.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = gymnasium.make("cfpc_gym/ArmReach-v0", force_field="curl", baseline_trials=4)
        >>> observation, info = env.reset(seed=0, options={"trial": 5})  # jump into the field block
        >>> info["block"]
        'field'
    """

    asset = "arm.xml"
    camera = "top"
    hand_site = "hand"

    def __init__(
        self,
        dt: float = 0.01,
        sensory_delay: float = 0.05,
        motor_delay: float = 0.0,
        trial_duration: float = 1.5,
        cue_time: float = 0.2,
        cue_duration: float = 0.05,
        cue_to_movement: float = 0.3,
        movement_duration: float = 0.5,
        centre: tuple[float, float] = (0.0, 0.42),
        target_distance: float = 0.1,
        n_targets: int = 8,
        cue_coding: str = "target",
        force_field: str = "shadmehr",
        curl_strength: float = 15.0,
        baseline_trials: int = 16,
        field_trials: int = 48,
        washout_trials: int = 16,
        catch_fraction: float = 0.2,
        cocontraction: float = 0.05,
        tracking_weight: float = 1.0,
        effort_weight: float = 0.0,
        max_joint_velocity: float = 50.0,
        render_mode: str | None = None,
        render_width: int = 480,
        render_height: int = 480,
    ):
        require_positive(
            cue_duration=cue_duration, movement_duration=movement_duration, target_distance=target_distance
        )
        require_non_negative(cue_time=cue_time, cue_to_movement=cue_to_movement)
        if not (isinstance(n_targets, (int, np.integer)) and n_targets >= 1):
            raise ValueError(f"n_targets must be an integer >= 1, got {n_targets!r}")
        if cue_coding not in CUE_CODINGS:
            raise ValueError(f"cue_coding must be one of {CUE_CODINGS}, got {cue_coding!r}")
        if cue_time + cue_to_movement + movement_duration > trial_duration:
            raise ValueError(
                f"trial_duration ({trial_duration} s) must cover the cue, the interval and the movement"
            )
        self.field = field_matrix(force_field, curl_strength)
        self.schedule = FieldSchedule(baseline_trials, field_trials, washout_trials, catch_fraction)
        self.force_field = force_field
        self.curl_strength = curl_strength
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.movement_duration = movement_duration
        self.centre = np.asarray(centre, dtype=np.float64).reshape(2)
        self.target_distance = target_distance
        self.n_targets = int(n_targets)
        self.cue_coding = cue_coding
        self.n_cues = self.n_targets if cue_coding == "target" else 3
        super().__init__(**shared_arguments(locals()))
        model = self.physics.model
        self.upper_arm_length = float(np.linalg.norm(model.body("forearm").pos[:2]))
        self.forearm_length = float(np.linalg.norm(model.site(self.hand_site).pos[:2]))
        angles = 2 * np.pi * np.arange(self.n_targets) / self.n_targets
        self.targets = self.centre + target_distance * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        low, high = self.physics.joint_range.T
        for point in (self.centre, *self.targets):
            q = self.inverse_kinematics(point)
            if not (np.all(np.isfinite(q)) and np.all(low < q) and np.all(q < high)):
                raise ValueError(
                    f"centre and target_distance put a target at {point} m outside the arm's reach"
                )

        self.trial = 0
        self.block = "baseline"
        self.catch_trial = False
        self.field_on = False
        self.target_index = 0
        self._next_trial = 0
        self._seed: int | None = None  # of the last seeded reset: trial k's draws replay from it
        self._target_order = np.arange(self.n_targets)
        self._start_angles = self.inverse_kinematics(self.centre)
        self._target_angles = self._start_angles

    # --- kinematics ----------------------------------------------------------------------------

    def inverse_kinematics(self, hand: np.ndarray) -> np.ndarray:
        """Shoulder and elbow angles (rad) putting the hand at ``hand`` (m), elbow flexed; NaN if too far."""
        x, y = hand
        l1, l2 = self.upper_arm_length, self.forearm_length
        cos_elbow = (x * x + y * y - l1 * l1 - l2 * l2) / (2 * l1 * l2)
        if abs(cos_elbow) > 1:
            return np.full(2, np.nan)
        elbow = np.arccos(cos_elbow)
        shoulder = np.arctan2(y, x) - np.arctan2(l2 * np.sin(elbow), l1 + l2 * np.cos(elbow))
        return np.array([shoulder, elbow])

    def forward_kinematics(self, joint_angles: np.ndarray) -> np.ndarray:
        """Hand position (m) in the table plane."""
        shoulder, elbow = joint_angles
        l1, l2 = self.upper_arm_length, self.forearm_length
        return np.array(
            [
                l1 * np.cos(shoulder) + l2 * np.cos(shoulder + elbow),
                l1 * np.sin(shoulder) + l2 * np.sin(shoulder + elbow),
            ]
        )

    def hand_position(self) -> np.ndarray:
        """The hand's position now (m) in the table plane."""
        return self.physics.site_position(self.hand_site)[:2]

    # --- the task ------------------------------------------------------------------------------

    @property
    def movement_start(self) -> float:
        """Movement onset, seconds into the trial."""
        return self.cue_time + self.cue_to_movement

    def hand_target_at(self, t: float) -> np.ndarray:
        """The desired hand position (m): a straight minimum-jerk path from the centre to the target."""
        fraction = minimum_jerk(t, self.movement_start, self.movement_duration)
        return self.centre + fraction * (self.targets[self.target_index] - self.centre)

    def initial_joint_angles(self) -> np.ndarray:
        return self._start_angles.copy()

    def target_at(self, t: float) -> np.ndarray:
        if t <= self.movement_start:
            return self._start_angles.copy()
        if t >= self.movement_start + self.movement_duration:
            return self._target_angles.copy()
        return self.inverse_kinematics(self.hand_target_at(t))

    def cue_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.zeros(self.n_cues) if self.cue_coding == "target" else -np.ones(self.n_cues)
        return low, np.ones(self.n_cues)

    def cue_at(self, t: float) -> np.ndarray:
        onset = pulse(t, self.cue_time, self.cue_duration, self.dt)
        if self.cue_coding == "direction":
            angle = 2 * np.pi * self.target_index / self.n_targets
            return onset * np.array([1.0, np.cos(angle), np.sin(angle)])
        cue = np.zeros(self.n_targets)
        cue[self.target_index] = onset
        return cue

    def _begin_trial(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if seed is not None:
            self._next_trial, self._seed = 0, seed
        if options and "trial" in options:
            trial = int(options["trial"])
            if trial < 0:
                raise ValueError(f"options['trial'] must be >= 0, got {trial}")
            self._replay_draws(trial)
            self._next_trial = trial
        self.trial = self._next_trial
        self._next_trial += 1
        self._draw(self.trial)
        self.target_index = int(self._target_order[self.trial % self.n_targets])
        self._target_angles = self.inverse_kinematics(self.targets[self.target_index])
        self.field_on = self.block == "field" and not self.catch_trial and self.force_field != "none"
        self.physics.apply_joint_torques(np.zeros(2))

    def _draw(self, trial: int) -> None:
        """Trial ``trial``'s randomness: a shuffled target order at each cycle's start, whether a
        field trial is a catch trial."""
        if trial % self.n_targets == 0:
            self._target_order = self.np_random.permutation(self.n_targets)
        self.block = self.schedule.block(trial)
        self.catch_trial = self.block == "field" and bool(
            self.np_random.random() < self.schedule.catch_fraction
        )

    def _replay_draws(self, trials: int) -> None:
        """Draw, from the last seed, what trials 0 .. ``trials`` - 1 drew: a jump to a trial then
        gets the target and catch status that trial has in sequence (without a seed ever given,
        the draws go on from the current state)."""
        if self._seed is not None:
            self.np_random, _ = seeding.np_random(self._seed)
        for trial in range(trials - trials % self.n_targets, trials) if self._seed is None else range(trials):
            self._draw(trial)

    def _before_substep(self) -> None:
        if self.field_on:
            jacobian = self.physics.site_jacobian(self.hand_site)[:2]
            force = self.field @ (jacobian @ self.physics.joint_velocities())
            self.physics.apply_joint_torques(jacobian.T @ force)

    def _task_info(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "block": self.block,
            "field_on": self.field_on,
            "catch_trial": self.catch_trial,
            "target_index": self.target_index,
            "target_position": self.targets[self.target_index].copy(),
            "hand_position": self.hand_position(),
        }
