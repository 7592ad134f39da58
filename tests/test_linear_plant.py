import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy.signal import StateSpace, dlsim

from cfpc_gym.envs.linear_plant import LinearPlantEnv

ENV_ID = "cfpc_gym/LinearPlant-v0"


def rollout(env, actions, seed):
    _, info = env.reset(seed=seed)
    infos = [info]
    for action in actions:
        infos.append(env.step(action)[4])
    return infos


def test_passes_the_gymnasium_checker_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(ENV_ID, interval_jitter=0.1).unwrapped, skip_render_check=True)


def test_physics_is_the_exact_zero_order_hold_solution():
    env = gym.make(ENV_ID, sensory_delay=0.0).unwrapped
    actions = np.random.default_rng(0).uniform(-1, 1, (150, 1)).astype(np.float32)
    outputs = [i["tracking"]["output"][0] for i in rollout(env, actions, seed=0)]
    discrete = StateSpace(*env.linear_model()).to_discrete(env.dt, method="zoh")
    _, expected, _ = dlsim(discrete, env.max_force * actions.astype(np.float64))
    np.testing.assert_allclose(outputs[:150], expected[:, 0], rtol=1e-9, atol=1e-12)


def test_allocation_maps_a_force_command_to_the_normalised_action():
    env = gym.make(ENV_ID, max_force=40.0).unwrapped
    np.testing.assert_allclose(env.allocate(np.array([10.0])), [0.25])
    np.testing.assert_allclose(env.allocate(np.array([-100.0])), [-1.0])


def test_reference_and_measurement_arrive_through_the_sensory_delay():
    env = gym.make(ENV_ID, sensory_delay=0.05, dt=0.01)
    infos = rollout(env, np.full((120, 1), 0.1, dtype=np.float32), seed=0)
    sensed = np.array([i["tracking"]["measurement"][0] for i in infos])
    reference = np.array([i["tracking"]["reference"][0] for i in infos])
    true = np.array([i["tracking"]["output"][0] for i in infos])
    target = np.array([i["tracking"]["target"][0] for i in infos])
    np.testing.assert_array_equal(sensed[5:], true[:-5])
    np.testing.assert_array_equal(reference[5:], target[:-5])
    assert np.all(sensed[:5] == 0)


def test_a_trial_is_a_cue_then_a_bump_after_the_interval():
    env = gym.make(ENV_ID, cue_time=0.2, cue_duration=0.05, cue_to_movement=0.3, movement_duration=0.5)
    infos = rollout(env, np.zeros((env.unwrapped.trial_steps, 1), np.float32), seed=0)
    cue = np.array([i["tracking"]["cue"][0] for i in infos])
    target = np.array([i["tracking"]["target"][0] for i in infos])
    assert np.flatnonzero(cue).tolist() == [20, 21, 22, 23, 24]
    moving = np.flatnonzero(target > 1e-9)
    assert moving[0] == 51 and moving[-1] == 99  # (0.5 s, 1.0 s) exclusive
    assert target.max() == pytest.approx(1.0, abs=1e-3)
    assert len(infos) == 201


def test_same_seed_same_trial_and_jitter_draws_from_the_seed():
    env = gym.make(ENV_ID, interval_jitter=0.1)
    actions = np.zeros((100, 1), np.float32)
    first, again, other = (rollout(env, actions, seed=s) for s in (3, 3, 4))
    targets = [[i["tracking"]["target"][0] for i in run] for run in (first, again, other)]
    assert targets[0] == targets[1] and targets[0] != targets[2]


def test_reward_components_sum_to_the_reward():
    env = gym.make(ENV_ID, effort_weight=0.01)
    env.reset(seed=0)
    for _ in range(80):
        _, reward, _, _, info = env.step(env.action_space.sample())
        assert reward == pytest.approx(sum(info["reward_components"].values()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0.0}, "dt must be a finite number > 0"),
        ({"dt": float("inf")}, "dt must be a finite number > 0"),
        ({"sensory_delay": -0.01}, "sensory_delay must be >= 0"),
        ({"sensory_delay": 3.0}, "must be shorter than trial_duration"),
        ({"render_mode": "rgb_array"}, "render_mode must be None"),
        ({"cue_time": -0.1}, "cue_time must be >= 0"),
        ({"interval_jitter": 0.4}, r"cue_to_movement \(0.3 s\) must be >= interval_jitter \(0.4 s\)"),
        ({"movement_duration": 1.8}, r"trial_duration \(2.0 s\) must cover the movement \(ends by 2.3 s\)"),
    ],
)
def test_bad_keyword_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LinearPlantEnv(**kwargs)


def test_an_action_of_the_wrong_size_is_refused():
    env = LinearPlantEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must hold 1 force, got shape \(2,\)"):
        env.step(np.zeros(2))
