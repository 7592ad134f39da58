"""The MyoSuite adapter: a clear error without the extra; with it, the same PID drives MyoSuite's elbow."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from cfpc_gym.envs.myosuite_adapter import INSTALL_HINT, MyoElbowTracking, make_myo_elbow_track
from cfpc_gym.envs.tracking import TRACKING_KEY

ENV_ID = "cfpc_gym/MyoElbowTrack-v0"


def test_without_myosuite_making_the_env_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "myosuite", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'cfpc-gym\[myosuite\]'") as error:
        make_myo_elbow_track()
    assert "\n" not in str(error.value) and str(error.value) == INSTALL_HINT


@pytest.fixture
def myo_env():
    pytest.importorskip("myosuite")
    env = gym.make(ENV_ID)
    adapter = env
    while not isinstance(adapter, MyoElbowTracking):
        adapter = adapter.env
    yield env, adapter
    env.close()


def test_allocate_recruits_agonists_by_moment_arm_sign(myo_env):
    env, adapter = myo_env
    env.reset(seed=0)
    flexors = adapter.physics.moment_arms()[0] > 0
    assert flexors.any() and (~flexors).any()
    for command, agonists in ((5.0, flexors), (-5.0, ~flexors)):
        excitation = adapter.allocate(np.array([command]))
        assert np.all((excitation >= 0) & (excitation <= 1))
        assert np.all(excitation[agonists] > adapter.cocontraction)
        np.testing.assert_allclose(excitation[~agonists], adapter.cocontraction)
    assert adapter.action_space == gym.spaces.Box(0.0, 1.0, (adapter.physics.n_muscles,), np.float32)


def test_reference_moves_to_myosuites_target_after_the_cue(myo_env):
    env, adapter = myo_env
    _, info = env.reset(seed=1)
    target = float(env.unwrapped.target_jnt_value[0])
    infos = [info]
    for _ in range(100):
        infos.append(env.step(adapter.allocate(np.zeros(1)))[-1])
    desired = np.array([i[TRACKING_KEY]["target"][0] for i in infos])
    cue = np.array([i[TRACKING_KEY]["cue"][0] for i in infos])
    onset = round((adapter.cue_time + adapter.cue_to_movement) / adapter.dt)
    end = onset + round(adapter.movement_duration / adapter.dt)
    np.testing.assert_allclose(desired[: onset + 1], desired[0])
    np.testing.assert_allclose(desired[end:], target)
    np.testing.assert_array_equal(np.flatnonzero(cue), np.arange(20, 25))


def test_the_same_pid_drives_myosuites_elbow_to_the_target(myo_env):
    env, adapter = myo_env
    kp, ki, kd = 10.0, 20.0, 1.5
    for seed in (0, 2, 3):
        _, info = env.reset(seed=seed)
        integral, previous = adapter.physics.holding_torques()[0] / ki, None
        done = False
        while not done:
            error = info[TRACKING_KEY]["reference"][0] - info[TRACKING_KEY]["measurement"][0]
            integral += error * adapter.dt
            derivative = 0.0 if previous is None else (error - previous) / adapter.dt
            previous = error
            _, _, terminated, truncated, info = env.step(
                adapter.allocate([kp * error + ki * integral + kd * derivative])
            )
            done = terminated or truncated
        tracking = info[TRACKING_KEY]
        assert abs(tracking["output"][0] - tracking["target"][0]) < 0.1
