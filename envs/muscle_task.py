"""The Gymnasium surface shared by the musculoskeletal tasks: delays, observation, tracking info, render.

A task subclasses ``MuscleTaskEnv``, names its model (``asset``, or ``load_physics`` for a model from
elsewhere; ``camera``, ``n_cues``) and says what the trial is: ``_begin_trial`` (draws from
``self.np_random``), ``target_at``, ``cue_at``, and optionally ``output_of``, ``_before_substep``
(external forces), ``_after_step``, ``_reward_components`` and ``_task_info``. Muscle and joint
queries go through ``self.physics`` (``physics.py``). Its constructor lists the shared arguments
with its own defaults and passes them on with ``super().__init__(**shared_arguments(locals()))``.

One step: the action (excitations) passes the motor delay, is held for ``dt`` seconds of physics,
then everything the sensors see (joint angles, velocities, activations, the target) enters the
sensory delay; what comes out is what the observation and ``info["tracking"]`` report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from .allocation import antagonist_split, bounded_allocation, check_cocontraction, least_squares_allocation
from .delay import DelayLine
from .physics import MusclePhysics
from .tracking import TRACKING_KEY, TrackingSpec, tracking_info
from .validation import (
    require_delay_within_trial,
    require_non_negative,
    require_positive,
    whole_steps,
    whole_substeps,
)

ANGLE_MARGIN = 0.2  # rad: joint limits are soft, so angles can pass them slightly


# The arguments every task passes on to ``MuscleTaskEnv``. Each task lists them in its own signature,
# with its own defaults: ``gymnasium.make``, ``help()`` and ``cfpc-gym envs`` read them there.
SHARED_ARGUMENTS = (
    "dt",
    "sensory_delay",
    "motor_delay",
    "trial_duration",
    "cocontraction",
    "tracking_weight",
    "effort_weight",
    "max_joint_velocity",
    "render_mode",
    "render_width",
    "render_height",
)


def shared_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``MuscleTaskEnv``'s arguments (``SHARED_ARGUMENTS``), picked from a task constructor's ``locals()``.

    Args:
        arguments: The task constructor's ``locals()``.

    Returns:
        The shared arguments by name, to pass on without listing them again:
        ``super().__init__(**shared_arguments(locals()))``.
    """
    return {name: arguments[name] for name in SHARED_ARGUMENTS}


class MuscleTaskEnv(gym.Env):
    """One episode is one trial of a cued task on a MuJoCo muscle model.

    Action: muscle excitations, ``Box(0, 1, (muscles,), float32)`` (motors: their ``ctrlrange``).
    Observation (float64, clipped to finite bounds; layout in ``observation_layout``): sensed joint
    angles, joint velocities and muscle activations, the sensed output (measurement) and reference,
    the cue (undelayed) and the time in the trial as a fraction of ``trial_duration``.
    Reward: minus ``tracking_weight`` x squared true tracking error, minus ``effort_weight`` x summed
    squared excitations, plus any task terms; components in ``info["reward_components"]``.
    Every task takes these arguments, listed in its own signature with its own defaults.

    Args:
        dt: Control period, seconds; a whole multiple of the model's timestep.
        sensory_delay: Seconds between the world and what the observation and tracking signals
            report; a whole number of steps, shorter than the trial.
        motor_delay: Seconds between an action and the excitation reaching the muscles.
        trial_duration: Seconds; the episode is truncated after it.
        cocontraction: Excitation floor on every muscle that ``allocate`` keeps, in [0, 1).
        tracking_weight: Weight of the squared tracking error in the reward.
        effort_weight: Weight of the summed squared excitations in the reward.
        max_joint_velocity: Bound on the observed joint velocities, rad/s.
        render_mode: None or ``"rgb_array"``.
        render_width: Frame width, pixels.
        render_height: Frame height, pixels.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}
    asset = ""  # MJCF file in assets/
    camera = ""  # camera for rgb_array frames
    n_cues = 1

    def __init__(
        self,
        *,
        dt: float,
        sensory_delay: float,
        motor_delay: float,
        trial_duration: float,
        cocontraction: float,
        tracking_weight: float,
        effort_weight: float,
        max_joint_velocity: float,
        render_mode: str | None,
        render_width: int,
        render_height: int,
    ):
        require_positive(
            dt=dt,
            trial_duration=trial_duration,
            max_joint_velocity=max_joint_velocity,
            render_width=render_width,
            render_height=render_height,
        )
        require_non_negative(
            sensory_delay=sensory_delay,
            motor_delay=motor_delay,
            tracking_weight=tracking_weight,
            effort_weight=effort_weight,
        )
        check_cocontraction(cocontraction)
        require_delay_within_trial(sensory_delay, trial_duration)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.physics = self.load_physics()
        substeps = whole_substeps(dt, self.physics.timestep, "the model")
        self.dt = dt
        self.sensory_delay = sensory_delay
        self.motor_delay = motor_delay
        self.trial_duration = trial_duration
        self.cocontraction = cocontraction
        self.tracking_weight = tracking_weight
        self.effort_weight = effort_weight
        self.max_joint_velocity = max_joint_velocity
        self.render_mode = render_mode
        self.render_width = render_width
        self.render_height = render_height
        self.metadata = {**self.metadata, "render_fps": round(1.0 / dt)}
        self._substeps = substeps
        self.trial_steps = round(trial_duration / dt)

        joints, muscles = self.physics.n_joints, self.physics.n_muscles
        activations = self.physics.n_activations  # one per muscle; none for motors
        reference_low, reference_high = self.output_bounds()
        dofs = len(reference_low)
        # Sensed vector: joint angles, joint velocities, activations, target.
        self._sensed = DelayLine(
            whole_steps("sensory_delay", sensory_delay, dt), shape=(2 * joints + activations + dofs,)
        )
        self._motor = DelayLine(whole_steps("motor_delay", motor_delay, dt), shape=(muscles,))

        sizes = {
            "joint_angles": joints,
            "joint_velocities": joints,
            "activations": activations,
            "measurement": dofs,
            "reference": dofs,
            "cue": self.n_cues,
            "time": 1,
        }
        edges = np.cumsum([0, *sizes.values()])
        bounds = zip(sizes, edges[:-1], edges[1:], strict=True)
        self.observation_layout = {name: slice(int(a), int(b)) for name, a, b in bounds}
        self.tracking_spec = TrackingSpec(
            dofs=dofs,
            cues=self.n_cues,
            dt=dt,
            sensory_delay=sensory_delay,
            observation_index={k: self.observation_layout[k] for k in ("reference", "measurement", "cue")},
        )
        angle_range = self.physics.joint_range
        bounds = [  # (low, high) of each entry of observation_layout, in its order
            (angle_range[:, 0] - ANGLE_MARGIN, angle_range[:, 1] + ANGLE_MARGIN),
            (np.full(joints, -max_joint_velocity), np.full(joints, max_joint_velocity)),
            (np.zeros(activations), np.ones(activations)),
            # The measured output can pass its range slightly.
            (reference_low - ANGLE_MARGIN, reference_high + ANGLE_MARGIN),
            (reference_low, reference_high),
            self.cue_bounds(),
            (np.zeros(1), np.ones(1)),
        ]
        low, high = (np.concatenate(side) for side in zip(*bounds, strict=True))
        self.observation_space = spaces.Box(low, high, dtype=np.float64)
        self._control_low, self._control_high = self.physics.control_range.T.copy()
        self.action_space = spaces.Box(
            self._control_low.astype(np.float32), self._control_high.astype(np.float32), dtype=np.float32
        )
        self._step = 0
        self._renderer = None
        self.last_observation: np.ndarray | None = None  # what the latest reset or step returned

    # --- the task: overridden by subclasses -------------------------------------------------------

    def load_physics(self) -> MusclePhysics:
        """The task's body: by default the model ``asset`` shipped in ``assets/``."""
        return MusclePhysics.from_asset(self.asset)

    def output_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Range of the tracked output (and of the reference); by default the joint angles' range."""
        return self.physics.joint_range[:, 0].copy(), self.physics.joint_range[:, 1].copy()

    def output_of(self, joint_angles: np.ndarray) -> np.ndarray:
        """The tracked output for given joint angles; by default the angles themselves."""
        return np.asarray(joint_angles, dtype=np.float64).copy()

    def cue_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Range of the cue channels; by default pulses in [0, 1]."""
        return np.zeros(self.n_cues), np.ones(self.n_cues)

    def initial_joint_angles(self) -> np.ndarray:
        """The joint angles (rad) the trial starts from, held at rest."""
        raise NotImplementedError

    def target_at(self, t: float) -> np.ndarray:
        """The desired output at time ``t`` in the trial."""
        raise NotImplementedError

    def cue_at(self, t: float) -> np.ndarray:
        """The cue channels (M,) at time ``t`` in the trial."""
        raise NotImplementedError

    def _begin_trial(self, seed: int | None, options: dict[str, Any] | None) -> None:
        """Draw this trial's randomness from ``self.np_random``."""

    def _before_substep(self) -> None:
        """Apply external forces before each physics substep."""

    def _after_step(self) -> None:
        """Record trial events once the step's physics is done."""

    def _reward_components(self, target: np.ndarray, output: np.ndarray, excitation: np.ndarray) -> dict:
        error = target - output
        return {
            "tracking": -self.tracking_weight * float(error @ error),
            "effort": -self.effort_weight * float(excitation @ excitation),
        }

    def _task_info(self) -> dict[str, Any]:
        return {}

    def linearize(
        self, action: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Discrete (A, B, C, D) of one control step, from excitations to the tracked output, about
        the current state (e.g. the rest posture after ``reset``). With ``action``: about the step
        that action is about to start (the excitations it holds are those leaving the motor delay),
        so activation dynamics are linearised on the side they are on (activating or deactivating).
        Delays are not included: they are the ``sensory_delay`` and ``motor_delay`` attributes."""
        if action is not None:
            excitation = np.asarray(action, dtype=np.float64).reshape(-1)
            excitation = np.clip(excitation, self._control_low, self._control_high)
            self.physics.data.ctrl[:] = self._motor.upcoming(excitation)
        a, b = self.physics.linearize(self._substeps)
        joints, epsilon = self.physics.n_joints, 1e-6
        angles = self.physics.joint_angles()
        # d output / d joint angles, numerically: output_of may rescale angles (eyelid closure).
        jacobian = np.stack(
            [(self.output_of(angles + epsilon * e) - self.output_of(angles - epsilon * e)) / (2 * epsilon)
             for e in np.eye(joints)],
            axis=1,
        )  # fmt: skip
        c = np.zeros((jacobian.shape[0], a.shape[0]))
        c[:, self.physics.dof_indices] = jacobian  # the tracked joints' angle deviations
        return a, b, c, np.zeros((c.shape[0], b.shape[1]))

    # --- muscle allocation --------------------------------------------------------------------------

    def holding_command(self) -> np.ndarray:
        """The joint command (N*m) that holds the current posture against gravity."""
        return self.physics.holding_torques()

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """Desired joint torques (N*m, one per joint) to excitations in [0, 1] at the current posture.

        One joint: agonist/antagonist split; several: bounded least squares over the moment-arm
        matrix (see ``allocation.py``). Both include the ``cocontraction`` floor. Motors: bounded
        least squares within their ``ctrlrange``, no floor. Stateless.
        """
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        if command.shape != (self.physics.n_joints,):
            raise ValueError(
                f"command must have {self.physics.n_joints} joint torques, got shape {command.shape}"
            )
        capacity = self.physics.torque_per_excitation()
        if self.physics.kind == "motor":
            return bounded_allocation(command, capacity, self._control_low, self._control_high)
        if self.physics.n_joints == 1:
            return antagonist_split(command[0], capacity, self.cocontraction)
        return least_squares_allocation(command, capacity, self.cocontraction)

    # --- Gymnasium -------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a trial at rest, the muscles holding the initial posture; task ``options`` as documented."""
        super().reset(seed=seed)
        self._begin_trial(seed, options)
        self._step = 0
        # The world is at rest before the trial: muscles hold the initial posture (against gravity).
        self.physics.reset(self.initial_joint_angles())
        holding = self.allocate(self.physics.holding_torques())
        self.physics.reset(self.initial_joint_angles(), activations=holding)
        self._motor.reset(holding)
        self._sensed.reset(self._sense())
        sensed = self._sensed.push(self._sense())
        return self._observation(sensed), self._info(sensed, holding)

    def step(self, action):
        """Hold the excitations (after the motor delay) for ``dt``; truncated at the trial's end."""
        excitation = np.asarray(action, dtype=np.float64).reshape(-1)
        if excitation.shape != (self.physics.n_muscles,):
            raise ValueError(
                f"action must have {self.physics.n_muscles} excitations, got shape {excitation.shape}"
            )
        excitation = np.clip(excitation, self._control_low, self._control_high)
        self.physics.step(self._motor.push(excitation), self._substeps, self._before_substep)
        self._step += 1
        self._after_step()
        sensed = self._sensed.push(self._sense())
        info = self._info(sensed, excitation)
        reward = float(sum(info["reward_components"].values()))
        truncated = self._step >= self.trial_steps
        return self._observation(sensed), reward, False, truncated, info

    def render(self):
        """An RGB frame from the task's camera with ``render_mode="rgb_array"``, else None."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:  # created lazily: runs that never render never touch OpenGL
            self._renderer = mujoco.Renderer(self.physics.model, self.render_height, self.render_width)
        self._renderer.update_scene(self.physics.data, camera=self.camera)
        return self._renderer.render()

    def close(self):
        """Release the renderer, if one was made."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # --- internals -------------------------------------------------------------------------------

    @property
    def time(self) -> float:
        """Seconds since the trial began."""
        return self._step * self.dt

    def _sense(self) -> np.ndarray:
        physics = self.physics
        return np.concatenate(
            [
                physics.joint_angles(),
                physics.joint_velocities(),
                physics.activations(),
                self.target_at(self.time),
            ]
        )

    def _split_sensed(self, sensed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sensed joint-state part and the sensed reference."""
        dofs = self.tracking_spec.dofs
        return sensed[:-dofs], sensed[-dofs:]

    def _observation(self, sensed: np.ndarray) -> np.ndarray:
        state, reference = self._split_sensed(sensed)
        t = self.time
        measurement = self.output_of(state[: self.physics.n_joints])
        time_fraction = [t / self.trial_duration]
        observation = np.concatenate([state, measurement, reference, self.cue_at(t), time_fraction])
        self.last_observation = np.clip(observation, self.observation_space.low, self.observation_space.high)
        return self.last_observation

    def _info(self, sensed: np.ndarray, excitation: np.ndarray) -> dict[str, Any]:
        joints = self.physics.n_joints
        state, reference = self._split_sensed(sensed)
        t = self.time
        target = self.target_at(t)
        output = self.output_of(self.physics.joint_angles())
        return {
            TRACKING_KEY: tracking_info(
                reference=reference,
                measurement=self.output_of(state[:joints]),
                cue=self.cue_at(t),
                target=target,
                output=output,
            ),
            "reward_components": self._reward_components(target, output, excitation),
            **self._task_info(),
        }
