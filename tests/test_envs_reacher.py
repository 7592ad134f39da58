"""The Reacher-v5 adapter: inverse kinematics onto Reacher's target, the cued reference, torque allocation."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from cfpc_gym.envs.reacher_adapter import ReacherTracking, make_reacher_track, two_link_inverse_kinematics
from cfpc_gym.envs.tracking import TRACKING_KEY

ENV_ID = "cfpc_gym/ReacherTrack-v0"


def adapter_of(env: gym.Env) -> ReacherTracking:
    while not isinstance(env, ReacherTracking):
        env = env.env
    return env


@pytest.mark.parametrize("seed", range(8))
def test_the_reference_posture_puts_the_fingertip_on_the_target(seed):
    env = gym.make(ENV_ID)
    adapter, reacher = adapter_of(env), env.unwrapped
    _, info = env.reset(seed=seed)
    start = info[TRACKING_KEY]["output"]
    goal = adapter.target_at(10.0)
    # The other elbow branch (elbow angle mirrored) is no closer to the starting posture.
    other = two_link_inverse_kinematics(
        adapter.target_point(), adapter.link_lengths, near=[start[0], -goal[1]]
    )
    assert other[1] == pytest.approx(-goal[1])
    assert np.sum((goal - start) ** 2) <= np.sum((other - start) ** 2)
    reacher.data.qpos[:2] = goal
    mujoco.mj_forward(reacher.model, reacher.data)
    miss = reacher.get_body_com("fingertip") - reacher.get_body_com("target")
    np.testing.assert_allclose(miss[:2], 0.0, atol=1e-12)


def test_the_cue_comes_at_target_onset_and_the_reference_moves_after_the_interval():
    env = gym.make(ENV_ID)
    adapter = adapter_of(env)
    _, info = env.reset(seed=0)
    infos = [info] + [env.step(np.zeros(2, dtype=np.float32))[-1] for _ in range(49)]
    cue = np.array([i[TRACKING_KEY]["cue"][0] for i in infos])
    target = np.array([i[TRACKING_KEY]["target"] for i in infos])
    np.testing.assert_array_equal(np.flatnonzero(cue), [0, 1])  # 0.04 s at dt 0.02 s
    onset = round(adapter.cue_to_movement / adapter.dt)
    end = onset + round(adapter.movement_duration / adapter.dt)
    np.testing.assert_array_equal(target[: onset + 1], np.repeat(target[:1], onset + 1, axis=0))
    np.testing.assert_allclose(target[end:], np.repeat(adapter.target_at(10.0)[None], 50 - end, axis=0))
    assert len(infos) == 50 and env.step(np.zeros(2, dtype=np.float32))[3], "1 s trials"


def test_allocate_divides_torque_by_the_gear_and_saturates():
    adapter = adapter_of(gym.make(ENV_ID))
    np.testing.assert_array_equal(adapter.gear, [200.0, 200.0])  # Reacher's XML
    np.testing.assert_allclose(adapter.allocate([50.0, -100.0]), [0.25, -0.5])
    np.testing.assert_allclose(adapter.allocate([1e4, -1e4]), [1.0, -1.0])
    with pytest.raises(ValueError, match="^command must hold 2 joint torques"):
        adapter.allocate([1.0])


def test_delays_and_durations_must_fit_reachers_step():
    with pytest.raises(
        ValueError, match=r"^sensory_delay \(0.05 s\) must be a whole number of steps of dt=0.02"
    ):
        make_reacher_track(sensory_delay=0.05)
    with pytest.raises(ValueError, match=r"^trial_duration \(0.5 s\) must cover the movement"):
        make_reacher_track(trial_duration=0.5)
