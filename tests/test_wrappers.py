"""ResidualCFPC (a residual policy on a CFPC base, trainable by SB3) and SensoryDelay (delays for any env)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cfpc_gym.build import make_agent
from cfpc_gym.config import validate_config
from cfpc_gym.wrappers import ResidualCFPC, SensoryDelay, bundled_config_for

LINEAR = "cfpc_gym/LinearPlant-v0"
ELBOW = "cfpc_gym/ElbowTrack-v0"


def linear_config():
    """The paper's plant and PID with the eligibility rule: the base learns noticeably in an episode."""
    return validate_config(
        {
            "env": {"id": LINEAR, "kwargs": {"trial_duration": 1.2}},  # the movement ends at 1 s
            "dtype": "float64",
            "feedback": {"kp": 2.0, "ki": 2.0, "kd": 0.2, "derivative_time_constant": 0.02},
            "basis": {"size": 20, "span": 1.2},
            "controllers": [{"name": "cfpc", "rule": "eligibility", "learning_rate": 0.08}],
        }
    )


def elbow_config():
    return validate_config(
        {
            "env": {"id": ELBOW},
            "feedback": {"kp": 10.0, "ki": 20.0, "kd": 1.5},
            "controllers": [{"name": "pid", "rule": "none"}],
        }
    )


def episode(env: gym.Env, policy, seed: int | None) -> tuple[list, list]:
    observation, _ = env.reset(seed=seed)
    observations, rewards, done = [observation], [], False
    while not done:
        observation, reward, terminated, truncated, _ = env.step(policy(observation))
        observations.append(observation)
        rewards.append(reward)
        done = terminated or truncated
    return observations, rewards


# --- ResidualCFPC ----------------------------------------------------------------------------------


def test_a_zero_residual_leaves_cfpc_alone_in_charge_across_episodes():
    """Same observations, rewards and learned weights as the agent's own loop; the observation's tail is
    the base action, and per-episode memory restarts at each reset."""
    config = linear_config()
    wrapped = ResidualCFPC(gym.make(LINEAR, **config.env.kwargs), config, residual_scale=0.3)
    zero = np.zeros(wrapped.action_space.shape, dtype=np.float32)
    env = gym.make(LINEAR, **config.env.kwargs)
    agent = make_agent(config, 0, env)
    for seed in (0, None):
        observations, rewards = episode(wrapped, lambda _: zero, seed)
        observation, info = env.reset(seed=seed)
        agent.reset()
        for k, reward in enumerate(rewards):
            action = agent.act(observation, info)
            np.testing.assert_array_equal(observations[k][:-1], observation)
            np.testing.assert_array_equal(observations[k][-1:], action)  # the proposed base action
            observation, alone, terminated, truncated, info = env.step(action)
            agent.observe(terminated, truncated)
            assert reward == alone
    np.testing.assert_array_equal(wrapped.agent.controller.weights.numpy(), agent.controller.weights.numpy())
    assert np.abs(agent.controller.weights.numpy()).max() > 0


def test_the_residual_is_a_fraction_of_the_action_range_added_to_the_base_and_clipped():
    env = ResidualCFPC(gym.make(ELBOW), elbow_config(), residual_scale=0.2)
    muscles = env.unwrapped.action_space.shape
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, muscles, np.float32)
    assert env.observation_space.shape == (env.unwrapped.observation_space.shape[0] + muscles[0],)
    observation, _ = env.reset(seed=0)
    base = env.base_action
    np.testing.assert_array_equal(observation[-muscles[0] :], base)
    for residual in (1.0, -1.0, 0.5):
        np.testing.assert_allclose(
            env.action(np.full(muscles, residual)), np.clip(base + 0.2 * residual, 0, 1), atol=1e-7
        )
    np.testing.assert_array_equal(env.action(np.full(muscles, 5.0)), env.action(np.ones(muscles)))


def test_the_wrapper_passes_gymnasiums_checker():
    env = ResidualCFPC(gym.make(ELBOW), elbow_config())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("learn", [True, False])
def test_learn_false_freezes_the_base(learn):
    config = linear_config()
    env = ResidualCFPC(gym.make(LINEAR, **config.env.kwargs), config, learn=learn)
    before = env.agent.controller.weights.numpy().copy()
    episode(env, lambda _: np.zeros(1, dtype=np.float32), seed=0)
    changed = not np.array_equal(env.agent.controller.weights.numpy(), before)
    assert changed == learn


def test_without_the_base_action_the_observation_is_the_envs():
    env = ResidualCFPC(gym.make(ELBOW), elbow_config(), observe_base_action=False)
    assert env.observation_space == env.unwrapped.observation_space
    observation, _ = env.reset(seed=0)
    assert env.observation_space.contains(observation)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="^residual_scale must be >= 0"):
        ResidualCFPC(gym.make(ELBOW), elbow_config(), residual_scale=-0.1)
    with pytest.raises(ValueError, match="^agent must be made for this env"):
        ResidualCFPC(gym.make(ELBOW), make_agent(elbow_config(), 0, gym.make(ELBOW)))
    with pytest.raises(ValueError, match="^controller must index"):
        ResidualCFPC(gym.make(ELBOW), elbow_config(), controller=3)


class ZeroResidual:
    """SB3's policy protocol: residual 0, i.e. CFPC alone."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return np.zeros((len(observation), 2), dtype=np.float32), state


@pytest.mark.slow
def test_ppo_on_a_cfpc_base_starts_where_cfpc_is_while_ppo_alone_is_lost():
    """4096 PPO steps: on ResidualCFPC the policy keeps CFPC's tracking (within 50 %); on the bare env it
    does no better than doing nothing (measured: -1.38 vs CFPC alone -1.27; bare PPO -216, idle -203)."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    settings = {"n_steps": 512, "batch_size": 128, "n_epochs": 5, "seed": 0, "device": "cpu"}
    rewards = {}
    for name, env in (
        ("residual", Monitor(ResidualCFPC(gym.make(ELBOW), elbow_config(), learn=False, residual_scale=0.1))),
        ("bare", Monitor(gym.make(ELBOW))),
    ):
        model = PPO("MlpPolicy", env, **settings).learn(total_timesteps=4096)
        assert model.num_timesteps >= 4096
        rewards[name], _ = evaluate_policy(model, env, n_eval_episodes=1, deterministic=True)
        if name == "residual":
            rewards["alone"], _ = evaluate_policy(ZeroResidual(), env, n_eval_episodes=1)
    assert np.isfinite(rewards["residual"])
    assert rewards["residual"] >= rewards["alone"] - 0.5 * abs(rewards["alone"])
    assert rewards["residual"] > 0.1 * rewards["bare"]


# --- SensoryDelay ----------------------------------------------------------------------------------


def test_sensory_delay_returns_the_observation_from_d_steps_earlier():
    """On Gymnasium's Reacher (no delay of its own): step k shows step k - 2; the reset observation before."""
    plain, delayed = gym.make("Reacher-v5"), SensoryDelay(gym.make("Reacher-v5"), delay=0.04)
    assert delayed.delay_steps == 2
    plain.action_space.seed(0)
    actions = [plain.action_space.sample() for _ in range(50)]
    now = [plain.reset(seed=3)[0]] + [plain.step(a)[0] for a in actions]
    late = [delayed.reset(seed=3)[0]] + [delayed.step(a)[0] for a in actions]
    for k, observation in enumerate(late):
        np.testing.assert_array_equal(observation, now[max(k - 2, 0)])
    assert late[-1].dtype == now[-1].dtype


def test_sensory_delay_must_be_whole_steps():
    with pytest.raises(
        ValueError, match=r"^delay \(0.03 s\) must be a whole number of steps of the env's dt=0.02"
    ):
        SensoryDelay(gym.make("Reacher-v5"), delay=0.03)
    with pytest.raises(ValueError, match="^delay must be >= 0"):
        SensoryDelay(gym.make("Reacher-v5"), delay=-0.02)


def test_residual_cfpc_defaults_to_the_bundled_config_of_the_env():
    wrapped = ResidualCFPC(gym.make("cfpc_gym/ElbowTrack-v0"))
    assert wrapped.agent.controller.rule.name == "eligibility"  # cued_elbow's learning controller
    # Of the env's configs, one whose feed-forward learns on fixed gains (gain_adaptation.yaml,
    # first by name for LinearPlant, has none): paper_linear.
    config = bundled_config_for(gym.make("cfpc_gym/LinearPlant-v0"))
    assert config.name == "paper_linear"
    with pytest.raises(ValueError, match="no bundled config for env 'Pendulum-v1'"):
        ResidualCFPC(gym.make("Pendulum-v1"))


def test_an_sb3_vec_env_given_to_make_agent_is_refused_with_the_fix():
    from stable_baselines3.common.vec_env import DummyVecEnv

    from cfpc_gym.build import make_env
    from cfpc_gym.config import load_config

    config = load_config("paper_linear")
    env = make_env(config)
    with pytest.raises(TypeError, match="not a DummyVecEnv; give it the env your VecEnv wraps"):
        make_agent(config, 1, DummyVecEnv([lambda: env]))
    env.close()
