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
``MyoSuiteAdapter`` (what MyoSuite adapters share) and ``import_myosuite`` serve ``myosuite_pose.py`` too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .adapter import TrackingAdapter
from .allocation import antagonist_split, check_cocontraction
from .delay import delay_steps
from .muscle_task import ANGLE_MARGIN
from .physics import MusclePhysics
from .validation import require_positive, whole_substeps

MYOSUITE_ENV_IDS = ("cfpc_gym/MyoElbowTrack-v0", "cfpc_gym/MyoPose-v0")
MYOSUITE_ELBOW_ID = "myoElbowPose1D6MRandom-v0"
INSTALL_HINT = "MyoSuite is not installed: pip install 'cfpc-gym[myosuite]'"
MYOSUITE_TIMESTEP = 0.002  # s, of MyoSuite's elbow model
INSIDE = 1e-5  # linearise this far inside the control range (MusclePhysics.linearize steps 1e-6)


def import_myosuite() -> None:
    """Import MyoSuite, which registers its envs with Gymnasium.

    Raises:
        ImportError: MyoSuite is not installed; the one-line message (``INSTALL_HINT``) says how to
            install it.
    """
    try:
        import myosuite  # noqa: F401  (registers MyoSuite's envs)
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error


class MyoSuiteAdapter(TrackingAdapter):
    """What the adapters of MyoSuite's muscle envs share: physics, excitation actions, reward terms.

    Actions are muscle excitations in [0, 1] (the wrapped env made with ``normalize_act=False``),
    clipped to the wrapped env's control range. A subclass calls ``_append_joint_tracking`` with the
    joints it tracks once its own checks are done.

    Args:
        env: A MyoSuite env made with ``normalize_act=False``, all of whose actuators are muscles.
        name: The model's name, for error messages.
        cocontraction: Excitation floor on every muscle that ``allocate`` keeps, in [0, 1).
        **timing: ``TrackingAdapter``'s ``sensory_delay``, ``cue_time``, ``cue_duration``,
            ``cue_to_movement`` and ``movement_duration``.
    """

    def __init__(self, env: gym.Env, *, name: str, cocontraction: float, **timing: float):
        super().__init__(env, **timing)
        check_cocontraction(cocontraction)
        base = env.unwrapped
        self.physics = MusclePhysics(base.model, base.data, name=name)
        self.cocontraction = cocontraction

    def _append_joint_tracking(self, joints: np.ndarray) -> None:
        """Track the angles of ``joints`` (indices): observation, spec, delay line and action space."""
        inner = self.env.observation_space
        if not isinstance(inner, spaces.Box) or len(inner.shape) != 1:
            raise ValueError(f"env must have a flat Box observation space, got {inner}")
        # Appended signals are bounded by the joints' range (angles may pass soft limits slightly).
        self._tracked_dofs = self.physics.model.jnt_dofadr[np.asarray(joints)]
        ranges = self.physics.joint_range[np.asarray(joints)]
        low, high = ranges[:, 0] + (-ANGLE_MARGIN), ranges[:, 1] + ANGLE_MARGIN
        self._append_tracking(delay_steps(self.sensory_delay, self.dt), low, high)
        self._inner_low = np.asarray(self.env.action_space.low, dtype=np.float64)
        self._inner_high = np.asarray(self.env.action_space.high, dtype=np.float64)
        self.action_space = spaces.Box(0.0, 1.0, shape=self.env.action_space.shape, dtype=np.float32)

    def linearize(
        self, action: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Discrete (A, B, C, D) of one control step, from excitations to the tracked joint angles.

        State: joint-angle deviations, joint velocities, muscle activations (``MusclePhysics.linearize``),
        about the current state with ``action``'s excitations held (so activation dynamics are
        linearised on the side the step is on), or, without one, those that hold the posture
        (``allocate(holding_command())``): after MyoSuite's reset every control is 0, below its
        range, where a finite difference of the control would see no muscle at all. The sensory delay is not
        included (the ``sensory_delay`` attribute). Measured one-step error: ~5% for the elbow held
        still; 50-80% for the finger and hand held still, whose joints then rest on their limits
        (constraint forces the linearisation about the step's start does not follow).

        Args:
            action: Excitations the next step holds; None: those holding the posture.

        Returns:
            A (n, n), B (n, muscles), C (D, n), D (D, muscles), n = 2 x joints + muscles.
        """
        excitation = self._inner_action(self.allocate(self.holding_command()) if action is None else action)
        # Inside the control range by more than the finite difference's step: both sides must move.
        self.physics.data.ctrl[:] = np.clip(excitation, self._inner_low + INSIDE, self._inner_high - INSIDE)
        a, b = self.physics.linearize(int(self.env.unwrapped.frame_skip))
        c = np.zeros((len(self._tracked_dofs), a.shape[0]))
        c[np.arange(len(self._tracked_dofs)), self._tracked_dofs] = 1.0
        return a, b, c, np.zeros((c.shape[0], b.shape[1]))

    def _inner_action(self, action: np.ndarray) -> np.ndarray:
        excitation = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), 0.0, 1.0)
        return np.clip(excitation, self._inner_low, self._inner_high).astype(self.env.action_space.dtype)

    def _reward_components(self, info: dict[str, Any]) -> dict[str, float] | None:
        weights = self.env.unwrapped.rwd_keys_wt
        rewards = info.get("rwd_dict", {})
        if not all(key in rewards for key in weights):
            return None
        return {key: float(w * np.sum(rewards[key])) for key, w in weights.items()}

    def _observation(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        extended = super()._observation(observation, info)
        return np.clip(extended, self.observation_space.low, self.observation_space.high)


class MyoElbowTracking(MyoSuiteAdapter):
    """Adds the cfpc_gym tracking surface to a MyoSuite elbow-pose env (one elbow joint, muscles only).

    Args:
        env: A MyoSuite elbow-pose env made with ``normalize_act=False``.
        sensory_delay: As in ``TrackingAdapter``; a whole number of the env's steps.
        cue_time, cue_duration, cue_to_movement, movement_duration: As in ``TrackingAdapter``.
        cocontraction: Excitation floor on every muscle that ``allocate`` keeps, in [0, 1).
        joint: The tracked joint's name in MyoSuite's model.
    """

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
        super().__init__(
            env,
            name=MYOSUITE_ELBOW_ID,
            cocontraction=cocontraction,
            sensory_delay=sensory_delay,
            cue_time=cue_time,
            cue_duration=cue_duration,
            cue_to_movement=cue_to_movement,
            movement_duration=movement_duration,
        )
        if joint not in self.physics.joint_names:
            raise ValueError(f"joint must be one of {self.physics.joint_names}, got {joint!r}")
        self._joint = self.physics.joint_names.index(joint)
        self._append_joint_tracking(np.array([self._joint]))

    def output(self) -> np.ndarray:
        """The tracked output: the elbow angle (rad), shape (1,)."""
        return self.physics.joint_angles()[self._joint : self._joint + 1]

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

    def _goal_of_trial(self) -> np.ndarray:
        return np.array(self.env.unwrapped.target_jnt_value, dtype=np.float64).reshape(-1)[:1]


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

    Args:
        dt: Control period, seconds: sets MyoSuite's frame_skip (its model steps 2 ms).
        trial_duration: Seconds; the episode is truncated after it.
        sensory_delay, cue_time, cue_duration, cue_to_movement, movement_duration, cocontraction: As
            in ``MyoElbowTracking``.
        **myosuite_kwargs: For MyoSuite's env.

    Returns:
        The wrapped env.

    Raises:
        ImportError: MyoSuite is not installed (the message says how to install it).

    Example:
        >>> import cfpc_gym, gymnasium  # doctest: +SKIP
        >>> env = gymnasium.make("cfpc_gym/MyoElbowTrack-v0", sensory_delay=0.1)  # doctest: +SKIP
    """
    import_myosuite()
    require_positive(dt=dt, trial_duration=trial_duration)
    frame_skip = whole_substeps(dt, MYOSUITE_TIMESTEP, "MyoSuite's")
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
