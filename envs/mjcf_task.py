"""Any MuJoCo model in a few lines: cued tracking of named joints of a user's MJCF file.

The model comes from a path (or ``"package.module:relative/path.xml"``, ``mjcf_model.py``); its
actuators are all ``<muscle>``s (excitations in [0, 1], a co-contraction floor) or all motors
(controls within their ``ctrlrange``, no floor). The tracked joints are hinges; the model's other
hinge and slide joints still simulate, unheld (they start at ``qpos0``). Free and ball joints are
refused. Gravity, timestep and everything else are the model's own.

A trial, as in ``ElbowTrack``: at rest at ``rest_angles`` (held by the actuators against gravity);
a cue pulse at ``cue_time``; ``cue_to_movement`` seconds after its onset (plus a uniform draw in
+-``interval_jitter``) every tracked joint moves by its ``amplitudes`` along one minimum-jerk
profile lasting ``movement_duration``, then holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from .mjcf_model import actuated_hinges, check_free_of_contact, check_poles, coupled_states, load_mjcf
from .muscle_task import MuscleTaskEnv, shared_arguments
from .physics import MusclePhysics
from .profiles import check_cued_movement, draw_jitter, minimum_jerk, pulse
from .validation import require_positive

DEFAULT_MODEL = "cfpc_gym.envs:assets/elbow.xml"  # the bundled elbow, read as a user's model would be
REST_INSET = 0.1  # default rest: qpos0, kept this fraction of the joint's range inside its limits
MAX_AMPLITUDE = 0.5  # rad: the default movement, or a quarter of the range where that is less
DEFAULT_COCONTRACTION = 0.05  # muscles only: motors have no floor


def default_rest_angles(qpos0: np.ndarray, joint_range: np.ndarray) -> np.ndarray:
    """The model's reference angles ``qpos0``, moved ``REST_INSET`` of the range inside the limits.

    Args:
        qpos0: (joints,) the tracked joints' reference angles, rad.
        joint_range: (joints, 2) their ranges, rad.

    Returns:
        (joints,) rest angles, rad: off the joint limits, whose constraints would stiffen the body.
    """
    inset = REST_INSET * (joint_range[:, 1] - joint_range[:, 0])
    return np.clip(qpos0, joint_range[:, 0] + inset, joint_range[:, 1] - inset)


def default_amplitudes(rest: np.ndarray, joint_range: np.ndarray) -> np.ndarray:
    """A movement toward the farther limit: ``MAX_AMPLITUDE``, or a quarter of the range if less.

    Args:
        rest: (joints,) rest angles, rad.
        joint_range: (joints, 2) the ranges, rad.

    Returns:
        (joints,) signed amplitudes, rad.
    """
    size = np.minimum(MAX_AMPLITUDE, 0.25 * (joint_range[:, 1] - joint_range[:, 0]))
    return np.where(joint_range[:, 1] - rest >= rest - joint_range[:, 0], size, -size)


def per_joint(name: str, values: Any, joints: tuple[str, ...]) -> np.ndarray:
    """One finite float per tracked joint (a scalar is used for every joint).

    Args:
        name: The argument's name, for the message.
        values: A number, or one per joint.
        joints: The tracked joints' names.

    Returns:
        (joints,) float64.
    """
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.full(len(joints), array[0])
    if array.shape != (len(joints),) or not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: give one finite value per joint of {list(joints)}, got {values!r}")
    return array


def movement_of(physics: MusclePhysics, rest_angles: Any, amplitudes: Any) -> tuple[np.ndarray, np.ndarray]:
    """The tracked joints' rest angles and amplitudes: as given (checked), or the defaults.

    Args:
        physics: The model's physics (its tracked joints, their ranges, ``qpos0``).
        rest_angles: Per joint, rad, or None for ``default_rest_angles``.
        amplitudes: Per joint, rad, or None for ``default_amplitudes``.

    Returns:
        (rest, amplitudes), each (joints,); a rest or end angle outside a joint's range is refused
        with one line naming the argument and the joint.
    """
    names, limits, model = physics.joint_names, physics.joint_range, physics.model
    qpos0 = model.qpos0[model.jnt_qposadr[[model.joint(j).id for j in names]]]
    if rest_angles is None:
        rest = default_rest_angles(qpos0, limits)
    else:
        rest = per_joint("rest_angles", rest_angles, names)
    if amplitudes is None:
        amplitude = default_amplitudes(rest, limits)
    else:
        amplitude = per_joint("amplitudes", amplitudes, names)
    for label, angles in (("rest_angles", rest), ("amplitudes", rest + amplitude)):
        outside = [i for i, (low, high) in enumerate(limits) if not low < angles[i] < high]
        if outside:
            i = outside[0]
            raise ValueError(
                f"{label}: joint {names[i]} would be at {angles[i]:.4g} rad, outside its range "
                f"({limits[i, 0]:.4g}, {limits[i, 1]:.4g}) rad"
            )
    return rest, amplitude


class MJCFTrackEnv(MuscleTaskEnv):
    """Track a cued movement of named hinge joints (rad) of any MJCF model; one episode is one trial.

    Tracking signals: reference/measurement are the target and actual angles of ``joints`` (D of
    them), cue the cue pulse (M=1). ``allocate(torques)`` maps desired joint torques (N*m) to the
    action over the model's moment arms at the current posture; ``linearize()`` first refuses a
    model in contact at rest or with exploding poles, naming the geoms. ``info["movement_start"]``
    is the trial's movement onset (s).

    Args:
        model: Path to an MJCF ``.xml`` (relative to the working directory), or
            ``"package.module:relative/path.xml"`` for a model shipped in an installed package;
            default: the bundled elbow.
        joints: Names of the hinge joints to track, in order; default: every named hinge joint that
            an actuator turns.
        rest_angles: Per joint, rad, inside the range; default: the model's ``qpos0``, kept 10 % of
            the range inside the limits (an unlimited hinge's range is +-2 pi).
        amplitudes: Per joint, rad; the movement goes from rest to rest + amplitude, which must stay
            inside the range; default: 0.5 rad (or a quarter of the range, if less) toward the
            farther limit.
        camera: A camera's name (or index) in the model; default: its first camera, else a free
            camera framing the whole model.
        cue_time: Onset of the cue pulse, seconds into the trial.
        cue_duration: Length of the cue pulse, seconds.
        cue_to_movement: Seconds from cue onset to movement onset.
        interval_jitter: Half-width (s) of the uniform per-trial jitter of ``cue_to_movement``.
        movement_duration: Length of the minimum-jerk movement, seconds.
        cocontraction: Muscles: the excitation floor (default 0.05); motors: must be 0 or None.
        dt, sensory_delay, motor_delay, trial_duration, tracking_weight, effort_weight,
            max_joint_velocity, render_mode, render_width, render_height: As in ``MuscleTaskEnv``.

    Example:
        >>> import cfpc_gym, gymnasium
        >>> env = gymnasium.make(
        ...     "cfpc_gym/MuJoCoTrack-v0",
        ...     model="gymnasium.envs.mujoco:assets/reacher.xml",
        ...     joints=["joint0", "joint1"],
        ... )
        >>> observation, info = env.reset(seed=0)
        >>> info["tracking"]["reference"].shape, env.action_space.low.tolist()
        ((2,), [-1.0, -1.0])
    """

    n_cues = 1

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        joints: list[str] | None = None,
        rest_angles: float | list[float] | None = None,
        amplitudes: float | list[float] | None = None,
        camera: str | int | None = None,
        dt: float = 0.01,
        sensory_delay: float = 0.05,
        motor_delay: float = 0.0,
        trial_duration: float = 2.0,
        cue_time: float = 0.2,
        cue_duration: float = 0.05,
        cue_to_movement: float = 0.3,
        interval_jitter: float = 0.0,
        movement_duration: float = 0.5,
        cocontraction: float | None = None,
        tracking_weight: float = 1.0,
        effort_weight: float = 0.0,
        max_joint_velocity: float = 50.0,
        render_mode: str | None = None,
        render_width: int = 480,
        render_height: int = 480,
    ):
        require_positive(cue_duration=cue_duration, movement_duration=movement_duration)
        check_cued_movement(cue_time, cue_to_movement, interval_jitter, movement_duration, trial_duration)
        path, compiled = load_mjcf(model)
        if isinstance(joints, str):
            joints = [joints]
        if joints is None:
            joints = actuated_hinges(compiled)
            if not joints:
                raise ValueError(f"model: {path} has no named hinge joint that an actuator turns")
        self._physics = MusclePhysics(compiled, name=str(path), joints=list(joints))
        physics = self._physics
        if cocontraction is None:
            cocontraction = DEFAULT_COCONTRACTION if physics.kind == "muscle" else 0.0
        elif physics.kind == "motor" and cocontraction != 0:
            raise ValueError(f"cocontraction applies to muscles only; {path} is driven by motors")
        rest, amplitude = movement_of(physics, rest_angles, amplitudes)
        self.model_path = path
        self.rest_angles, self.amplitudes = rest, amplitude
        self.cue_time = cue_time
        self.cue_duration = cue_duration
        self.cue_to_movement = cue_to_movement
        self.interval_jitter = interval_jitter
        self.movement_duration = movement_duration
        self.camera = _camera(compiled, camera)
        self._coupled: np.ndarray | None = None  # the states linearize keeps
        super().__init__(**shared_arguments(locals()))
        visual = compiled.vis.global_  # the offscreen buffer must hold the frames asked for
        visual.offwidth = max(visual.offwidth, render_width)
        visual.offheight = max(visual.offheight, render_height)
        self.movement_start = cue_time + cue_to_movement

    def load_physics(self) -> MusclePhysics:
        """The model loaded from ``model`` (see ``MuscleTaskEnv.load_physics``)."""
        return self._physics

    def initial_joint_angles(self) -> np.ndarray:
        """The rest angles (rad) of the tracked joints."""
        return self.rest_angles.copy()

    def target_at(self, t: float) -> np.ndarray:
        """The desired angles (rad) at time ``t``: rest, then a minimum-jerk move by the amplitudes."""
        progress = minimum_jerk(t, self.movement_start, self.movement_duration)
        return self.rest_angles + self.amplitudes * progress

    def cue_at(self, t: float) -> np.ndarray:
        """The cue pulse (1,) at time ``t``."""
        return np.array([pulse(t, self.cue_time, self.cue_duration, self.dt)])

    def linearize(
        self, action: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``MuscleTaskEnv.linearize``, refused (one line naming the geoms) for a body in contact, or
        whose linearisation explodes (a pole of magnitude > 1e3 per control step). States that the
        actuators do not reach or that do not reach the tracked joints are dropped
        (``mjcf_model.coupled_states``): the state is then a subset of ``MuscleTaskEnv``'s."""
        when = "at rest" if self._step == 0 else f"at t = {self.time:.3g} s"
        check_free_of_contact(self.physics.model, self.physics.data, when)
        a, b, c, d = super().linearize(action)
        if self._coupled is None:  # fixed on the first call: every linearisation has one structure
            self._coupled = coupled_states(a, b, c)
        kept = self._coupled
        a, b, c = a[np.ix_(kept, kept)], b[kept], c[:, kept]
        check_poles(a, self.physics.model, self.physics.data, when)
        return a, b, c, d

    def _begin_trial(self, seed: int | None, options: dict[str, Any] | None) -> None:
        jitter = draw_jitter(self.np_random, self.interval_jitter)
        self.movement_start = self.cue_time + self.cue_to_movement + jitter

    def _task_info(self) -> dict[str, Any]:
        return {"movement_start": self.movement_start}


def _camera(model: mujoco.MjModel, camera: str | int | None) -> str | int | mujoco.MjvCamera:
    """The camera frames are rendered from: a model camera (name or index), or a free camera."""
    names = [model.camera(i).name for i in range(model.ncam)]
    if camera is None and model.ncam:
        return names[0] or 0
    if camera is None:  # no camera in the model: a free one framing it (MuJoCo's viewer default)
        free = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(model, free)
        return free
    known = camera in names if isinstance(camera, str) else 0 <= int(camera) < model.ncam
    if not known:
        raise ValueError(f"camera: no camera {camera!r} in the model; its cameras: {names or 'none'}")
    return camera
