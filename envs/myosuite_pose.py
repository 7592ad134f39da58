"""Any MyoSuite pose task (elbow, finger, hand: MyoSuite's ``PoseEnvV0``) with the cfpc_gym tracking surface.

An optional extra, like ``myosuite_adapter.py``: MyoSuite is imported only when the env is made.
``MyoPoseTracking`` tracks every joint MyoSuite's target pose covers (D of them: the first D joints,
the ones MyoSuite's ``pose_err`` and reward compare). MyoSuite's own timing is kept (its ``dt``, its
horizon, 100 steps for the elbow, finger and hand), and so is its reward, its weighted terms in
``info["reward_components"]``.

The goal is known from the first step: the desired output is MyoSuite's target pose from reset on,
and the cue is a one-step pulse at reset (one channel). Reference and measurement pass
``sensory_delay`` (whole steps of ``dt``); before the trial the world was at rest and nothing was
asked, so for the first ``sensory_delay`` seconds the reference sensed is the start posture.
Besides ``info["tracking"]``, every ``info`` holds ``goal`` (the target pose, (D,)), ``start``
(the posture at reset, (D,)), and MyoSuite's ``solved`` (bool) and ``pose_distance`` (the L2
distance between target and current joint angles, MyoSuite's ``-pose`` reward term).

Actions are muscle excitations in [0, 1]: the MyoSuite env is made with ``normalize_act=False``, so
no sigmoid lies between an action and the excitation it sets (MyoSuite's default, ``True``, would map
[-1, 1] through ``1/(1+exp(-5(a-0.5)))``, which reaches only [0.0006, 0.92]).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from .allocation import least_squares_allocation, transpose_allocation
from .myosuite_adapter import MyoSuiteAdapter, import_myosuite
from .tracking import TRACKING_KEY

MYOSUITE_POSE_ID = "myoElbowPose1D6MRandom-v0"
ALLOCATIONS = {"least_squares": least_squares_allocation, "transpose": transpose_allocation}


class MyoPoseTracking(MyoSuiteAdapter):
    """Adds the cfpc_gym tracking surface to a MyoSuite pose env (muscles only, hinge joints).

    Args:
        env: A MyoSuite ``PoseEnvV0`` made with ``normalize_act=False``.
        sensory_delay: Seconds, a whole number of the env's steps, between the world and the
            reference and measurement reported.
        cocontraction: Excitation floor on every muscle that ``allocate`` keeps, in [0, 1). Default 0:
            in the hand a floor of 0.05 makes a net torque (~1 N*m at the wrist) ten times the
            holding torques, which its coupled muscles do not cancel: holding then drifted more
            than doing nothing (measured).
        allocation: How ``allocate`` maps joint torques to excitations: ``"least_squares"`` (bounded
            least squares over the moment arms) or ``"transpose"`` (by the transposed moment arms:
            on the finger, whose MCP and PIP share their muscles with nearly proportional arms,
            least squares inverts them and answers a command that moves the two apart with large
            opposing excitations; see ``allocation.py``).
        name: The MyoSuite id, for error messages.
    """

    def __init__(
        self,
        env: gym.Env,
        sensory_delay: float = 0.0,
        cocontraction: float = 0.0,
        allocation: str = "least_squares",
        name: str = MYOSUITE_POSE_ID,
    ):
        if allocation not in ALLOCATIONS:
            raise ValueError(f"allocation must be one of {sorted(ALLOCATIONS)}, got {allocation!r}")
        self._allocation = ALLOCATIONS[allocation]
        model = env.unwrapped.model
        if model.nu == 0 or not np.all(model.actuator_dyntype == mujoco.mjtDyn.mjDYN_MUSCLE):
            raise ValueError(f"{name}: every actuator must be a muscle (no motor or exo variants)")
        dt = float(env.unwrapped.dt)
        # The cue is a pulse of one step at reset; the reference does not move (``target_at``), so
        # the movement timing TrackingAdapter keeps is unused.
        super().__init__(
            env,
            name=name,
            cocontraction=cocontraction,
            sensory_delay=sensory_delay,
            cue_time=0.0,
            cue_duration=dt,
            cue_to_movement=0.0,
            movement_duration=dt,
        )
        dofs = np.size(env.unwrapped.target_jnt_value)
        if not 0 < dofs <= self.physics.n_joints:
            raise ValueError(f"{name}: the target must cover 1 to {self.physics.n_joints} joints, got {dofs}")
        self._dofs = dofs
        self._append_joint_tracking(np.arange(dofs))

    # --- the tracked output and the trial --------------------------------------------------------

    def output(self) -> np.ndarray:
        """The tracked output: the angles (rad) of the joints the target covers, shape (D,)."""
        return self.physics.joint_angles()[: self._dofs]

    def target_at(self, t: float) -> np.ndarray:
        """The desired output at ``t`` seconds after reset: MyoSuite's target pose, from reset on.

        Args:
            t: Seconds after reset.

        Returns:
            The target pose (D,).
        """
        return self._goal.copy()

    def _goal_of_trial(self) -> np.ndarray:
        return np.array(self.env.unwrapped.target_jnt_value, dtype=np.float64).reshape(-1)

    # --- muscle allocation and linearisation -----------------------------------------------------

    def holding_command(self) -> np.ndarray:
        """The joint torques (N*m) that hold the current posture against gravity and passive forces.

        Returns:
            Torques of the D tracked joints, shape (D,).
        """
        return self.physics.holding_torques()[: self._dofs]

    def allocate(self, command: np.ndarray) -> np.ndarray:
        """Desired joint torques to excitations, over the moment-arm matrix (the ``allocation`` chosen).

        Stateless: uses the current posture (moment arms x isometric forces). Joints beyond the D
        tracked ones (none in MyoSuite's elbow, finger and hand) are left out of the fit.

        Args:
            command: Desired torques (N*m) of the D tracked joints.

        Returns:
            Excitations (muscles,) in [cocontraction, 1]: an action of this env.
        """
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        if command.shape != (self._dofs,):
            raise ValueError(f"command must hold {self._dofs} joint torques, got shape {command.shape}")
        capacity = self.physics.torque_per_excitation()[: self._dofs]
        return self._allocation(command, capacity, self.cocontraction)

    # --- Gymnasium -------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset MyoSuite's env; the trial's goal is its target pose, known from this first step.

        Args:
            seed: For MyoSuite's env (target and start posture).
            options: For MyoSuite's env.

        Returns:
            The observation and ``info`` (with ``tracking``, ``goal``, ``start``, ``solved`` and
            ``pose_distance``).
        """
        observation, info = self.env.reset(seed=seed, options=options)
        self._step = 0
        self._start = self.output()
        self._goal = self._goal_of_trial()
        # Before the trial: at rest at the start, nothing asked (the reference was the start too).
        self._sensed.reset(np.concatenate([self._start, self._start]))
        info = self._info(dict(info), self._sensed.push(self._sense()))
        return self._observation(observation, info), info

    def _info(self, info: dict[str, Any], sensed: np.ndarray) -> dict[str, Any]:
        info = super()._info(info, sensed)
        if "solved" in info and "pose" in info:  # a step: MyoSuite's own terms (pose = -distance)
            solved, distance = info["solved"], -np.asarray(info["pose"])
        else:  # at reset MyoSuite reports nothing: its formula (pose_reward), on the same angles
            distance = np.linalg.norm(self._goal - info[TRACKING_KEY]["output"])
            solved = distance < self.env.unwrapped.pose_thd
        info["solved"], info["pose_distance"] = bool(np.asarray(solved).item()), float(distance)
        info["goal"], info["start"] = self._goal.copy(), self._start.copy()
        return info


def _pose_class() -> type:
    """MyoSuite's pose env class (3.x; 2.x kept it in ``myobase.pose_v0``)."""
    try:
        from myosuite.envs.myo.tasks.basic.arm.pose import PoseEnvV0
    except ImportError:
        from myosuite.envs.myo.myobase.pose_v0 import PoseEnvV0
    return PoseEnvV0


def check_pose_task(task: str) -> None:
    """Refuse an id that is not a registered MyoSuite pose env, with a one-line ``ValueError`` naming it.

    Needs MyoSuite imported (its envs registered). Reads the registration only: no model is loaded.

    Args:
        task: A Gymnasium id, e.g. ``"myoHandPoseRandom-v0"``.
    """
    try:
        entry_point = gym.spec(task).entry_point
    except gym.error.Error:
        raise ValueError(f"task must be a registered MyoSuite pose env, got {task!r}") from None
    creator = entry_point
    if isinstance(creator, str):
        creator = gym.envs.registration.load_env_creator(creator)
    if not (isinstance(creator, type) and issubclass(creator, _pose_class())):
        raise ValueError(f"task must be a MyoSuite pose env (PoseEnvV0), got {task!r}")


def make_myo_pose(
    task: str = MYOSUITE_POSE_ID,
    sensory_delay: float = 0.0,
    cocontraction: float = 0.0,
    allocation: str = "least_squares",
    **myosuite_kwargs: Any,
) -> MyoPoseTracking:
    """Entry point of ``cfpc_gym/MyoPose-v0``: any MyoSuite pose task, its target tracked from reset.

    Args:
        task: The MyoSuite id of a pose task (``PoseEnvV0``): ``"myoElbowPose1D6MRandom-v0"``,
            ``"myoFingerPoseRandom-v0"``, ``"myoHandPoseRandom-v0"``, ... Its actuators must all be
            muscles (the ``motor*`` and ``*Exo*`` variants are refused).
        sensory_delay: Seconds, a whole number of MyoSuite's steps (``dt``, 0.02 s for those above).
        cocontraction: Excitation floor that ``allocate`` keeps, in [0, 1).
        allocation: ``"least_squares"`` or ``"transpose"``: how ``allocate`` maps joint torques to
            excitations (``MyoPoseTracking``).
        **myosuite_kwargs: For MyoSuite's env (e.g. ``frame_skip``, ``max_episode_steps``);
            ``normalize_act`` can only be False.

    Returns:
        The wrapped env; its actions are muscle excitations in [0, 1].

    Raises:
        ImportError: MyoSuite is not installed (the message says how to install it).
        ValueError: ``task`` is not a MyoSuite pose env, its model is not muscles on hinges, or
            ``allocation`` is not one of the two.

    Example:
        >>> import cfpc_gym, gymnasium  # doctest: +SKIP
        >>> env = gymnasium.make("cfpc_gym/MyoPose-v0", task="myoHandPoseRandom-v0")  # doctest: +SKIP
        >>> _, info = env.reset(seed=0)  # doctest: +SKIP
        >>> torques = env.get_wrapper_attr("holding_command")()  # doctest: +SKIP
        >>> action = env.get_wrapper_attr("allocate")(torques)  # doctest: +SKIP
        >>> _, reward, _, _, info = env.step(action)  # doctest: +SKIP
        >>> info["goal"].shape, info["pose_distance"] > 0  # doctest: +SKIP
        ((23,), True)
    """
    import_myosuite()
    check_pose_task(task)
    if myosuite_kwargs.pop("normalize_act", False):
        raise ValueError("normalize_act must be False: this env's actions are excitations in [0, 1]")
    env = gym.make(task, normalize_act=False, **myosuite_kwargs)
    try:
        return MyoPoseTracking(
            env, sensory_delay=sensory_delay, cocontraction=cocontraction, allocation=allocation, name=task
        )
    except Exception:
        env.close()
        raise
