"""The body contract (cfpc_gym.body): an env that would be driven wrongly is refused with one line
saying what to add; one that declares a hook only in its spec is read there."""

import re
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

import cfpc_gym  # noqa: F401  (registers the envs)
from cfpc_gym import body_models
from cfpc_gym.agent import CFPCAgent
from cfpc_gym.body import Allocating, Holding, Linearizable, TrackingBody, check_body
from cfpc_gym.build import make_agent, make_controller, make_env
from cfpc_gym.config import ConfigError, load_config
from cfpc_gym.errors import BodyError


class Hide(gymnasium.Wrapper):
    """An elbow with some hooks hidden or replaced, as a user's own env might have them."""

    def __init__(self, env, **hooks):
        super().__init__(env)
        for name, value in hooks.items():
            setattr(self, name, value)


@pytest.fixture
def elbow():
    env = gymnasium.make("cfpc_gym/ElbowTrack-v0", sensory_delay=0.05)
    yield env
    env.close()


def test_the_bundled_bodies_keep_the_contract(elbow):
    assert isinstance(elbow.unwrapped, TrackingBody)
    assert all(isinstance(elbow.unwrapped, hook) for hook in (Allocating, Holding, Linearizable))
    assert check_body(elbow).dofs == 1


def test_a_muscle_env_without_allocate_is_refused_naming_the_hook(elbow):
    # Two muscles, one joint command: unchecked, the command went into the first muscle (RMSE 0.35).
    with pytest.raises(
        BodyError, match=r"action space has shape \(2,\) but the controller gives 1 joint.*allocate"
    ):
        check_body(Hide(elbow, allocate=None))


def test_an_allocation_of_the_wrong_size_is_refused(elbow):
    with pytest.raises(BodyError, match=r"allocate\(\) returned shape \(3,\).*action space has shape \(2,\)"):
        check_body(Hide(elbow, allocate=lambda command: np.zeros(3)))


def test_a_holding_command_of_the_wrong_size_is_refused(elbow):
    with pytest.raises(BodyError, match=r"holding_command\(\) returned shape \(2,\).*\(1,\)"):
        check_body(Hide(elbow, holding_command=lambda: np.zeros(2)))


def test_delays_that_disagree_between_attribute_and_spec_are_refused(elbow):
    with pytest.raises(BodyError, match="sensory_delay: the env's attribute says 0.1 s but tracking_spec"):
        check_body(Hide(elbow, sensory_delay=0.1))


def test_a_delay_given_only_in_the_spec_reaches_the_forward_model(elbow):
    # Without the attribute the model was built without the delay and learning ran at half speed.
    hidden = Hide(elbow, sensory_delay=None)
    check_body(hidden)
    assert body_models.delays(hidden)["sensory_delay_steps"] == 5


def test_make_agent_refuses_a_broken_body_with_one_config_line(elbow):
    config = load_config("cued_elbow")
    with pytest.raises(
        ConfigError, match=r"^env.id: cfpc_gym/ElbowTrack-v0: the action space has shape"
    ) as caught:
        make_agent(config, 0, Hide(elbow, allocate=None))
    assert "\n" not in str(caught.value)


def test_the_agent_itself_checks_the_body(elbow):
    controller = make_controller(
        load_config("cued_elbow"), load_config("cued_elbow").controllers[0], elbow, 1
    )
    with pytest.raises(BodyError, match="allocate"):
        CFPCAgent(Hide(elbow, allocate=None), controller)


def test_a_model_that_blows_up_by_itself_is_named_not_the_gains(elbow):
    def exploding(action=None):
        a, b, c, d = elbow.unwrapped.linearize(action)
        return a * 1e18, b, c, d

    with pytest.raises(ValueError, match="pole of magnitude 9.77e\\+17 per step: the model itself blows up"):
        body_models.plant_at_rest(Hide(elbow, linearize=exploding), seed=0)


def test_an_unstable_loop_names_the_bundled_config_with_stable_gains():
    config = load_config("cued_elbow", ["env.kwargs.sensory_delay=0.1"])
    env = make_env(config)
    with pytest.raises(ConfigError, match="closed loop is unstable.*bundled config elbow_delays .kp 3.0"):
        make_controller(config, config.controllers[1], env, 1)
    env.close()


def test_the_worked_example_of_docs_bodies_learns_and_is_refused_without_allocate():
    text = (Path(__file__).parents[1] / "docs" / "BODIES.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    scope = {"__name__": "bodies_example"}
    exec(compile(block, "docs/BODIES.md", "exec"), scope)
    rmse = scope["rmse"]
    assert rmse["cfpc"][-1] <= 0.5 * rmse["feedback-only"][-1]  # the doc says 89 % below
    sled = scope["env"]
    with pytest.raises(ConfigError, match=r"my/Sled-v0: the action space has shape \(2,\) but"):
        make_agent(scope["config"], 0, Hide(sled, allocate=None))


def test_evaluate_policy_over_another_env_is_refused_and_over_its_own_runs_frozen():
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    config = load_config("cued_elbow", ["trials=2"])
    env, other = make_env(config), make_env(config)
    agent = make_agent(config, 1, env)
    # Before: a mean reward of -189.9 instead of about -1 to -3, with no warning.
    with pytest.raises(BodyError, match="predict: this observation is not from the agent's own env"):
        evaluate_policy(agent, DummyVecEnv([lambda: other]), n_eval_episodes=1)
    weights = agent.controller.state_dict()["feedforward.weights"].clone()
    with agent.frozen():
        mean_reward, _ = evaluate_policy(agent, DummyVecEnv([lambda: env]), n_eval_episodes=2)
    assert agent.learn
    assert -10 < mean_reward < 0
    assert torch.equal(agent.controller.state_dict()["feedforward.weights"], weights)
