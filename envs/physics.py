"""Named queries on a MuJoCo musculoskeletal model: joints, muscles, sites (dm_control's ``Physics`` role).

Task logic (cues, references, rewards) lives in the task modules; this module only loads a model
shipped in ``assets/`` and answers questions about its current state in the field's terms.

Sign conventions: joint angles increase with flexion (lid closure for the eyelid); a muscle's
moment arm is positive where its pull increases the joint angle; muscle forces are tensions (>= 0).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import mujoco
import numpy as np


def load_model(asset: str) -> mujoco.MjModel:
    """Compile an MJCF file shipped as package data in ``assets/``."""
    xml = resources.files(__package__).joinpath("assets", asset).read_text()
    return mujoco.MjModel.from_xml_string(xml)


class MusclePhysics:
    """A MuJoCo model whose actuators are all Hill-type muscles and joints all hinges, with named queries.

    Wraps a model and its data (shared, not copied: another owner may step them).
    """

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData | None = None, name: str = "model"):
        self.model = model
        self.data = mujoco.MjData(model) if data is None else data
        if model.nu == 0 or not np.all(model.actuator_dyntype == mujoco.mjtDyn.mjDYN_MUSCLE):
            raise ValueError(f"{name}: every actuator must be a <muscle>")
        if not np.all(model.jnt_type == mujoco.mjtJoint.mjJNT_HINGE):
            raise ValueError(f"{name}: only hinge joints are supported")
        self.joint_names = tuple(model.joint(i).name for i in range(model.njnt))
        self.muscle_names = tuple(model.actuator(i).name for i in range(model.nu))
        self.joint_range = model.jnt_range.copy()
        self.timestep = float(model.opt.timestep)
        self._qpos = model.jnt_qposadr.copy()
        self._dof = model.jnt_dofadr.copy()
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

    @property
    def n_joints(self) -> int:
        """Number of (hinge) joints."""
        return self.model.njnt

    @property
    def n_muscles(self) -> int:
        """Number of muscles (actuators)."""
        return self.model.nu

    def reset(self, joint_angles: np.ndarray, activations: np.ndarray | None = None) -> None:
        """At rest at ``joint_angles``; activations (and the excitations holding them) as given, else 0."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qpos] = joint_angles
        if activations is not None:
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
        excitations. One step comes from ``mjd_transitionFD`` (finite differences, centred); holding
        the input for ``substeps`` steps composes it: A^s and sum_i A^i B.
        """
        model = self.model
        size = 2 * model.nv + model.na
        a, b = np.zeros((size, size)), np.zeros((size, model.nu))
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
        passive_muscle = self.muscle_torques() - self.torque_per_excitation() @ self.activations()
        return data.qfrc_bias[dof] - data.qfrc_passive[dof] - data.qfrc_applied[dof] - passive_muscle

    def moment_arms(self) -> np.ndarray:
        """(joints, muscles) moment arms in metres at the current posture; positive = pull increases angle."""
        # MuJoCo >= 3 stores d(length)/dq sparsely; a shortening muscle turns the joint against it.
        mujoco.mju_sparse2dense(
            self._moment,
            self.data.actuator_moment,
            self.data.moment_rownnz,
            self.data.moment_rowadr,
            self.data.moment_colind,
        )
        return -(self._moment.T if self._every_dof else self._moment[:, self._dof].T)

    def isometric_forces(self) -> np.ndarray:
        """Active tension (N) at full activation and the current lengths: peak force x force-length factor."""
        # Velocity 0: the allocation depends on posture only, not on how fast the muscle is moving.
        length, gain = self.data.actuator_length, mujoco.mju_muscleGain
        return np.array([-gain(length[i], 0.0, *muscle) for i, muscle in enumerate(self._gain_parameters)])

    def torque_per_excitation(self) -> np.ndarray:
        """(joints, muscles): joint torque (N*m) of each muscle at full, steady activation in this posture."""
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
