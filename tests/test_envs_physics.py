"""Physics of the MuJoCo models: muscle geometry, which way each muscle turns its joints, allocation."""

from __future__ import annotations

import itertools

import mujoco
import numpy as np
import pytest

from cfpc_gym.envs.allocation import antagonist_split, least_squares_allocation
from cfpc_gym.envs.arm import ArmReachEnv
from cfpc_gym.envs.elbow import ElbowTrackEnv
from cfpc_gym.envs.eyeblink import EyeblinkEnv
from cfpc_gym.envs.physics import MusclePhysics

# Sign of each muscle's moment arm at each joint: +1 increases the angle (flexes / closes the lid).
EXPECTED_SIGNS = {
    "elbow.xml": {"flexor": [1], "extensor": [-1]},
    "arm.xml": {
        "shoulder_flexor": [1, 0],
        "shoulder_extensor": [-1, 0],
        "elbow_flexor": [0, 1],
        "elbow_extensor": [0, -1],
        "biarticular_flexor": [1, 1],
        "biarticular_extensor": [-1, -1],
    },
    "eyelid.xml": {"orbicularis_oculi": [1]},
}
ENVS = {"elbow.xml": ElbowTrackEnv, "arm.xml": ArmReachEnv, "eyelid.xml": EyeblinkEnv}


def postures(physics: MusclePhysics, points: int) -> list[np.ndarray]:
    grids = [np.linspace(low, high, points) for low, high in physics.joint_range]
    return [np.array(q) for q in itertools.product(*grids)]


@pytest.mark.parametrize("asset", sorted(EXPECTED_SIGNS))
def test_lengthrange_spans_the_tendon_lengths_over_the_joint_range(asset):
    """The muscles' calibrated length range is the range their paths really take (to 1 mm)."""
    physics = MusclePhysics.from_asset(asset)
    lengths = []
    for q in postures(physics, 21):
        physics.reset(q)
        lengths.append(physics.data.actuator_length.copy())
    lengths = np.array(lengths)
    np.testing.assert_allclose(physics.model.actuator_lengthrange[:, 0], lengths.min(axis=0), atol=1e-3)
    np.testing.assert_allclose(physics.model.actuator_lengthrange[:, 1], lengths.max(axis=0), atol=1e-3)


@pytest.mark.parametrize("asset", sorted(EXPECTED_SIGNS))
def test_moment_arm_signs_hold_over_the_whole_joint_range(asset):
    physics = MusclePhysics.from_asset(asset)
    signs = np.array([EXPECTED_SIGNS[asset][name] for name in physics.muscle_names]).T  # joints x muscles
    for q in postures(physics, 11):
        physics.reset(q)
        arms = physics.moment_arms()
        crossed = signs != 0
        assert np.all(arms[crossed] * signs[crossed] > 1e-3), f"{asset} at {q}: {arms}"
        np.testing.assert_allclose(arms[~crossed], 0.0, atol=1e-9)
        assert np.all(physics.isometric_forces() > 0)


@pytest.mark.parametrize("asset", sorted(EXPECTED_SIGNS))
def test_each_muscle_alone_turns_its_joints_the_expected_way(asset):
    env = ENVS[asset](sensory_delay=0.0)
    physics = env.physics
    for index, name in enumerate(physics.muscle_names):
        signs = np.array(EXPECTED_SIGNS[asset][name])
        env.reset(seed=0)
        start = physics.joint_angles()
        excitation = np.zeros(physics.n_muscles)
        excitation[index] = 1.0
        for _ in range(5):  # 50 ms: before interaction torques and limits blur the picture
            env.step(excitation)
        moved = physics.joint_angles() - start
        # Its own torque, with every other muscle silent, has the expected sign at the joints it crosses.
        active = physics.muscle_torques() - _passive_torques(physics)
        crossed = signs != 0
        assert np.all(active[crossed] * signs[crossed] > 0), f"{name}: torque {active}"
        assert np.all(moved[crossed] * signs[crossed] > 0), f"{name}: moved {moved}"


def _passive_torques(physics: MusclePhysics) -> np.ndarray:
    """Muscle torques at zero activation, same state (force-length-velocity passive part only)."""
    data = physics.data
    saved = data.act.copy()
    data.act[:] = 0.0
    mujoco.mj_forward(physics.model, data)
    passive = physics.muscle_torques()
    data.act[:] = saved
    mujoco.mj_forward(physics.model, data)
    return passive


def test_eyelid_stays_open_without_excitation():
    env = EyeblinkEnv()
    env.reset(seed=0)
    for _ in range(50):
        env.step(np.zeros(1))
    assert env.closure() == pytest.approx(0.0, abs=0.01)


def test_elbow_starts_at_rest_held_against_gravity():
    """Reset pre-activates the muscles to hold the rest angle: holding those excitations keeps it still."""
    env = ElbowTrackEnv()
    env.reset(seed=0)
    holding = env.physics.activations()
    assert holding[0] > env.cocontraction  # the flexor works against gravity
    for _ in range(50):
        env.step(holding)
    assert env.physics.joint_angles()[0] == pytest.approx(env.rest_angle, abs=1e-3)


def test_motor_delay_holds_back_the_excitation():
    env = ElbowTrackEnv(motor_delay=0.03)
    env.reset(seed=0)
    start = env.physics.activations()
    activations = []
    for _ in range(5):
        env.step(np.array([1.0, 0.0]))
        activations.append(env.physics.activations()[0])
    np.testing.assert_allclose(activations[:3], start[0], atol=1e-12)  # 3 steps of 10 ms: unchanged
    assert activations[3] > start[0] + 0.1


# --- allocation -----------------------------------------------------------------------------------


def test_antagonist_split_is_bounded_exact_where_feasible_and_keeps_the_floor():
    capacity = np.array([12.0, -8.0])  # N*m at full excitation: a flexor and an extensor
    for command in np.linspace(-30, 30, 61):
        excitation = antagonist_split(command, capacity, cocontraction=0.1)
        assert np.all((excitation >= 0) & (excitation <= 1))
        assert np.all(excitation >= 0.1)
        if -8 * 0.9 + 12 * 0.1 <= command <= 12 * 0.9 - 8 * 0.1:
            assert capacity @ excitation == pytest.approx(command)
    np.testing.assert_allclose(antagonist_split(0.0, capacity, 0.1) @ capacity, 0.0, atol=1e-12)


def test_least_squares_allocation_is_bounded():
    rng = np.random.default_rng(0)
    for _ in range(50):
        matrix = rng.normal(scale=20.0, size=(2, 6))
        excitation = least_squares_allocation(rng.normal(scale=100.0, size=2), matrix, cocontraction=0.05)
        assert np.all((excitation >= 0.05 - 1e-12) & (excitation <= 1 + 1e-12))


@pytest.mark.parametrize("make", [ElbowTrackEnv, ArmReachEnv], ids=["elbow", "arm"])
def test_allocated_excitations_make_the_commanded_torque_in_mujoco(make):
    """Activation = allocated excitation, at rest: MuJoCo's active muscle torque equals the command."""
    env = make()
    physics = env.physics
    rng = np.random.default_rng(1)
    for q in postures(physics, 5)[1:-1]:
        for _ in range(4):
            command = rng.uniform(-3.0, 3.0, size=physics.n_joints)  # N*m, well within reach
            physics.reset(q)
            excitation = env.allocate(command)
            assert np.all((excitation >= 0) & (excitation <= 1))
            physics.reset(q, activations=excitation)
            active = physics.muscle_torques() - _passive_torques(physics)
            np.testing.assert_allclose(active, command, atol=0.02 * np.abs(command).max() + 1e-6)


def test_arm_allocation_saturates_gracefully_beyond_reach():
    env = ArmReachEnv()
    env.reset(seed=0)
    for command in ([1e4, 0.0], [-1e4, 1e4], [0.0, -1e4]):
        excitation = env.allocate(np.array(command))
        assert np.all((excitation >= 0) & (excitation <= 1))
        assert excitation.max() == pytest.approx(1.0)
