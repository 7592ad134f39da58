"""Named queries on a MuJoCo musculoskeletal model: joints, muscles, sites (dm_control's ``Physics`` role).

Task logic (cues, references, rewards) lives in the task modules; this module only loads a model
(shipped in ``assets/``, or any MJCF file: ``mjcf_model.py``) and answers questions about its
current state in the field's terms.

Actuators are all Hill-type ``<muscle>``s (excitations in [0, 1], activation dynamics) or all
motors (``<motor>``, or ``<general>`` with a fixed gain, no bias and no dynamics: the control times
the gain is the force, within ``ctrlrange``); a mix is refused. The tracked joints are hinges
(a subset of the model's joints may be tracked; the others still simulate); hinge and slide joints
only: free and ball joints are refused (their quaternions have no joint angle to track).

Sign conventions: joint angles increase with flexion (lid closure for the eyelid); a muscle's
moment arm is positive where its pull increases the joint angle; muscle forces are tensions (>= 0).
A motor's "moment arm" is d joint torque / d actuator force (its gear), its force gain x control.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import mujoco
import numpy as np

from .mjcf_model import load_mjcf

UNLIMITED_RANGE = 2 * np.pi  # rad: an unlimited hinge is given one turn either way as its range


def load_model(asset: str) -> mujoco.MjModel:
    """Compile an MJCF file shipped as package data in ``assets/``.

    Args:
        asset: The file's name in ``assets/``, e.g. ``"elbow.xml"``.

    Returns:
        The compiled model.
    """
    xml = resources.files(__package__).joinpath("assets", asset).read_text()
    return mujoco.MjModel.from_xml_string(xml)


def actuator_kind(model: mujoco.MjModel, name: str = "model") -> str:
    """``"muscle"`` when every actuator is a ``<muscle>``, ``"motor"`` when every one is a motor.

    Args:
        model: The model.
        name: The model's name, for the message.

    Returns:
        The kind. A model without actuators, a mix, or an actuator of another kind (a position or
        velocity servo, a stateful ``<general>``) is refused with a one-line ``ValueError``.
    """
    if model.nu == 0:
        raise ValueError(f"{name}: the model has no actuators")
    muscle = model.actuator_dyntype == mujoco.mjtDyn.mjDYN_MUSCLE
    if np.all(muscle):
        return "muscle"
    motor = (
        (model.actuator_dyntype == mujoco.mjtDyn.mjDYN_NONE)
        & (model.actuator_gaintype == mujoco.mjtGain.mjGAIN_FIXED)
        & (model.actuator_biastype == mujoco.mjtBias.mjBIAS_NONE)
    )
    if np.all(motor):
        unlimited = [i for i in range(model.nu) if not model.actuator_ctrllimited[i]]
        if unlimited:
            motor = model.actuator(unlimited[0]).name or unlimited[0]
            raise ValueError(f"{name}: motor {motor} needs a ctrlrange (the action space is bounded)")
        return "motor"
    if np.any(muscle):
        raise ValueError(f"{name}: actuators must be all <muscle> or all motors, not a mix")
    other = next(i for i in range(model.nu) if not motor[i])
    raise ValueError(
        f"{name}: actuator {model.actuator(other).name or other} is neither a <muscle> nor a motor "
        "(<motor>, or <general> with a fixed gain, no bias and no dynamics)"
    )


def stepped_transition(
    model: mujoco.MjModel, data: mujoco.MjData, epsilon: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """One ``mj_step``'s (A, B) by centred finite differences, for any integrator (RK4 included).

    Args:
        model: The model.
        data: Its data: the state and controls to linearise about (restored afterwards).
        epsilon: The perturbation.

    Returns:
        (A, B) in ``mjd_transitionFD``'s layout: state = (qpos tangent, qvel, act), input = ctrl.
    """
    nv, na, nu = model.nv, model.na, model.nu
    kind = mujoco.mjtState.mjSTATE_INTEGRATION
    saved = np.zeros(mujoco.mj_stateSize(model, kind))
    mujoco.mj_getState(model, data, saved, kind)
    qpos0, velocity0, ctrl0 = data.qpos.copy(), np.concatenate([data.qvel, data.act]), data.ctrl.copy()

    def step(delta: np.ndarray, control: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mujoco.mj_setState(model, data, saved, kind)
        data.qpos[:] = qpos0
        mujoco.mj_integratePos(model, data.qpos, delta[:nv], 1.0)
        data.qvel[:], data.act[:] = velocity0[:nv] + delta[nv : 2 * nv], velocity0[nv:] + delta[2 * nv :]
        data.ctrl[:] = ctrl0 + control
        mujoco.mj_step(model, data)
        return data.qpos.copy(), np.concatenate([data.qvel, data.act])

    def column(delta: np.ndarray, control: np.ndarray) -> np.ndarray:
        (qpos_plus, rest_plus), (qpos_minus, rest_minus) = step(delta, control), step(-delta, -control)
        tangent = np.zeros(nv)
        mujoco.mj_differentiatePos(model, tangent, 2 * epsilon, qpos_minus, qpos_plus)
        return np.concatenate([tangent, (rest_plus - rest_minus) / (2 * epsilon)])

    size, none = 2 * nv + na, np.zeros(nu)
    a = np.stack([column(epsilon * e, none) for e in np.eye(size)], axis=1)
    b = (
        np.stack([column(np.zeros(size), epsilon * e) for e in np.eye(nu)], axis=1)
        if nu
        else np.zeros((size, 0))
    )
    mujoco.mj_setState(model, data, saved, kind)
    mujoco.mj_forward(model, data)
    return a, b


class MusclePhysics:
    """A MuJoCo model driven by muscles (or motors), its tracked joints hinges, with named queries.

    Wraps a model and its data (shared, not copied: another owner may step them).

    Args:
        model: The compiled model: actuators all ``<muscle>`` or all motors, joints hinge or slide.
        data: Its data (None: made here).
        name: The model's name, for messages.
        joints: Names of the joints to track (hinges), in order; None: every joint (then all
            must be hinges, as in the bundled models).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData | None = None,
        name: str = "model",
        joints: list[str] | tuple[str, ...] | None = None,
    ):
        self.model = model
        self.data = mujoco.MjData(model) if data is None else data
        self.kind = actuator_kind(model, name)
        hinge, slide = mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE
        if joints is None:
            if not np.all(model.jnt_type == hinge):
                raise ValueError(f"{name}: only hinge joints are supported")
            ids = np.arange(model.njnt)
        else:
            if not np.all((model.jnt_type == hinge) | (model.jnt_type == slide)):
                free = next(i for i in range(model.njnt) if model.jnt_type[i] not in (hinge, slide))
                raise ValueError(
                    f"{name}: joint {model.joint(free).name or free} is a free or ball joint; "
                    "only hinge and slide joints are supported"
                )
            known = [model.joint(i).name for i in range(model.njnt)]
            for joint in joints:
                if joint not in known:
                    raise ValueError(f"joints: no joint {joint!r} in {name}; its joints: {', '.join(known)}")
            if not joints or len(set(joints)) != len(joints):
                raise ValueError(f"joints: name each joint to track once, got {list(joints)}")
            ids = np.array([model.joint(j).id for j in joints], dtype=int)
            if not np.all(model.jnt_type[ids] == hinge):
                raise ValueError(f"{name}: the tracked joints must be hinges")
        self.joint_names = tuple(model.joint(i).name for i in ids)
        self.muscle_names = tuple(model.actuator(i).name for i in range(model.nu))
        self.joint_range = model.jnt_range[ids].copy()
        unlimited = model.jnt_limited[ids] == 0
        self.joint_range[unlimited] = (-UNLIMITED_RANGE, UNLIMITED_RANGE)
        # Muscles: excitations in [0, 1]; motors: their ctrlrange.
        self.control_range = model.actuator_ctrlrange.copy()
        if self.kind == "muscle":
            self.control_range[:] = (0.0, 1.0)
        self.timestep = float(model.opt.timestep)
        self._qpos = model.jnt_qposadr[ids].copy()
        self._dof = model.jnt_dofadr[ids].copy()
        self._moment = np.zeros((model.nu, model.nv))
        self._every_dof = np.array_equal(self._dof, np.arange(model.nv))  # no columns to pick
        # Per muscle: views of what mju_muscleGain reads besides length and velocity (fixed per model).
        self._gain_parameters = [
            (model.actuator_lengthrange[i], model.actuator_acc0[i], model.actuator_gainprm[i, :9])
            for i in range(model.nu)
        ]

    @classmethod
    def from_asset(cls, asset: str) -> MusclePhysics:
        """Load one of the models shipped in ``assets/`` (e.g. ``"elbow.xml"``)."""
        return cls(load_model(asset), name=asset)

    @classmethod
    def from_path(cls, model: str | Path, joints: list[str] | tuple[str, ...] | None = None) -> MusclePhysics:
        """Load any MJCF file (see ``mjcf_model.load_mjcf``), tracking ``joints``.

        Args:
            model: A path to an ``.xml`` file, or ``"package.module:relative/path.xml"`` for a model
                shipped in an installed package.
            joints: Names of the hinge joints to track; None: every joint (all must be hinges).

        Returns:
            The physics of that model. Errors are one-line ``ValueError``s naming ``model`` or ``joints``.
        """
        path, compiled = load_mjcf(model)
        return cls(compiled, name=str(path), joints=joints)

    @property
    def n_joints(self) -> int:
        """Number of tracked (hinge) joints."""
        return len(self._dof)

    @property
    def n_muscles(self) -> int:
        """Number of muscles (actuators; motors for a motor-driven model)."""
        return self.model.nu

    @property
    def n_activations(self) -> int:
        """Number of activation states: one per muscle, none for motors."""
        return self.model.na

    @property
    def dof_indices(self) -> np.ndarray:
        """The tracked joints' indices among the model's degrees of freedom (velocity coordinates)."""
        return self._dof.copy()

    def reset(self, joint_angles: np.ndarray, activations: np.ndarray | None = None) -> None:
        """At rest at ``joint_angles``; activations (and the excitations holding them) as given, else 0.

        Motors have no activations: ``activations`` are then their controls. Untracked joints
        start at the model's reference posture (``qpos0``).
        """
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qpos] = joint_angles
        if activations is not None:
            if self.model.na:
                self.data.act[:] = activations
            self.data.ctrl[:] = activations
        mujoco.mj_forward(self.model, self.data)

    def step(self, excitations: np.ndarray, substeps: int, before_substep: Callable[[], None] | None = None):
        """Hold ``excitations`` for ``substeps`` physics steps; ``before_substep`` may add outside forces."""
        self.data.ctrl[:] = excitations
        for _ in range(substeps):
            # mj_step split so outside forces see this substep's positions and velocities.
            mujoco.mj_step1(self.model, self.data)
            if before_substep is not None:
                before_substep()
            mujoco.mj_step2(self.model, self.data)
        # mj_step leaves derived quantities one substep stale; recompute them for the new state.
        mujoco.mj_forward(self.model, self.data)

    def linearize(self, substeps: int, epsilon: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
        """Discrete (A, B) of ``substeps`` physics steps with excitations held, about the current state.

        State: joint-angle deviations (tangent space), joint velocities, muscle activations; input:
        excitations. One step comes from ``mjd_transitionFD`` (finite differences, centred; for the
        RK4 integrator, which it refuses, ``stepped_transition``); holding the input for ``substeps``
        steps composes it: A^s and sum_i A^i B.
        """
        model = self.model
        size = 2 * model.nv + model.na
        a, b = np.zeros((size, size)), np.zeros((size, model.nu))
        if model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4:
            a, b = stepped_transition(model, self.data, epsilon)
        else:
            mujoco.mjd_transitionFD(model, self.data, epsilon, True, a, b, None, None)
        a_step, b_step = np.eye(size), np.zeros_like(b)
        for _ in range(substeps):
            a_step, b_step = a @ a_step, a @ b_step + b
        return a_step, b_step

    def joint_angles(self) -> np.ndarray:
        """Joint angles (rad) now."""
        return self.data.qpos[self._qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """Joint velocities (rad/s) now."""
        return self.data.qvel[self._dof].copy()

    def activations(self) -> np.ndarray:
        """Muscle activations in [0, 1]: excitations filtered by the activation dynamics."""
        return self.data.act.copy()

    def muscle_forces(self) -> np.ndarray:
        """Muscle tensions (N, >= 0): active plus passive force."""
        return -self.data.actuator_force.copy()

    def muscle_torques(self) -> np.ndarray:
        """Joint torques (N*m) the muscles apply now."""
        return self.data.qfrc_actuator[self._dof].copy()

    def holding_torques(self) -> np.ndarray:
        """Joint torques (N*m) the muscles' active force must make to hold the current posture, at rest."""
        # At rest 0 = qfrc_actuator + qfrc_passive + qfrc_applied - qfrc_bias; the muscles' passive
        # (activation-free) share of qfrc_actuator is what their active torque need not supply.
        data, dof = self.data, self._dof
        if self.kind == "motor":  # a motor's torque is all commanded: nothing passive to discount
            return data.qfrc_bias[dof] - data.qfrc_passive[dof] - data.qfrc_applied[dof]
        passive_muscle = self.muscle_torques() - self.torque_per_excitation() @ self.activations()
        return data.qfrc_bias[dof] - data.qfrc_passive[dof] - data.qfrc_applied[dof] - passive_muscle

    def moment_arms(self) -> np.ndarray:
        """(joints, muscles) moment arms in metres at the current posture; positive = pull increases angle.

        Motors: d joint torque / d actuator force (the gear), positive = a positive control increases it.
        """
        # MuJoCo >= 3 stores d(length)/dq sparsely; a shortening muscle turns the joint against it.
        mujoco.mju_sparse2dense(
            self._moment,
            self.data.actuator_moment,
            self.data.moment_rownnz,
            self.data.moment_rowadr,
            self.data.moment_colind,
        )
        arms = self._moment.T if self._every_dof else self._moment[:, self._dof].T
        return arms if self.kind == "motor" else -arms

    def isometric_forces(self) -> np.ndarray:
        """Active tension (N) at full activation and the current lengths: peak force x force-length factor."""
        # Velocity 0: the allocation depends on posture only, not on how fast the muscle is moving.
        length, gain = self.data.actuator_length, mujoco.mju_muscleGain
        return np.array([-gain(length[i], 0.0, *muscle) for i, muscle in enumerate(self._gain_parameters)])

    def torque_per_excitation(self) -> np.ndarray:
        """(joints, muscles): joint torque (N*m) of each muscle at full, steady activation in this posture.

        Motors: the joint torque per unit control (moment arm x gain), exact at any control.
        """
        if self.kind == "motor":
            return self.moment_arms() * self.model.actuator_gainprm[:, 0]
        return self.moment_arms() * self.isometric_forces()

    def site_position(self, name: str) -> np.ndarray:
        """A site's position (m) in the world frame."""
        return self.data.site(name).xpos.copy()

    def site_jacobian(self, name: str) -> np.ndarray:
        """(3, joints) translational Jacobian of a site."""
        jacp = np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jacp, None, self.model.site(name).id)
        return jacp[:, self._dof]

    def site_velocity(self, name: str) -> np.ndarray:
        """A site's translational velocity (m/s) in the world frame."""
        return self.site_jacobian(name) @ self.joint_velocities()

    def apply_joint_torques(self, torques: np.ndarray) -> None:
        """External joint torques (N*m), held until changed (e.g. a force field mapped through J^T)."""
        self.data.qfrc_applied[self._dof] = torques
