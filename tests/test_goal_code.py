"""Goal-conditioned cues (envs/goal_code.py): the code's values, the random-goal elbow, refusals,
and that learning with the code beats the cue alone when the goal changes every trial."""

import json

import gymnasium
import numpy as np
import pytest

import cfpc_gym  # noqa: F401  (registers the envs)
from cfpc_gym.build import make_env
from cfpc_gym.cli import main
from cfpc_gym.config import ConfigError, load_config
from cfpc_gym.envs.goal_code import GoalCode


def cue_step(env, steps=20):
    """The tracking info at the cue's first step (the elbow's cue starts at 0.2 s)."""
    info = None
    for _ in range(steps + 1):
        _, _, _, _, info = env.step(np.zeros(2))
    return info


def test_the_affine_code_is_one_goal_minus_start_and_start_times_the_cue():
    env = GoalCode(gymnasium.make("cfpc_gym/ElbowTrack-v0", amplitude_range=(0.3, 0.9)), "affine")
    _, info = env.reset(seed=3)
    goal, start = info["goal"][0], info["tracking"]["output"][0]
    assert 0.8 <= goal <= 1.4 and start == pytest.approx(0.5)
    np.testing.assert_allclose(info["tracking"]["cue"], 0.0)
    info = cue_step(env)
    np.testing.assert_allclose(info["tracking"]["cue"], [1.0, goal - start, start])
    assert env.tracking_spec.cues == 3


def test_the_population_code_peaks_at_the_centre_nearest_the_goal():
    env = GoalCode(
        gymnasium.make("cfpc_gym/ElbowTrack-v0", amplitude_range=(0.3, 0.9)), "population", 5, [0.7], [1.5]
    )
    for seed in range(4):
        _, info = env.reset(seed=seed)
        code = cue_step(env)["tracking"]["cue"]
        centres = np.linspace(0.7, 1.5, 5)
        assert np.argmax(code) == np.argmin(abs(centres - info["goal"][0]))
        assert code.max() <= 1.0 and np.all(code > 0)


def test_random_goals_are_drawn_per_trial_and_repeat_with_the_seed():
    env = gymnasium.make("cfpc_gym/ElbowTrack-v0", amplitude_range=(0.3, 0.9))
    goals = [env.reset(seed=seed)[1]["goal"][0] for seed in (0, 1, 0)]
    assert goals[0] == goals[2] != goals[1]
    fixed = gymnasium.make("cfpc_gym/ElbowTrack-v0")
    assert fixed.reset(seed=0)[1]["goal"][0] == pytest.approx(1.3)  # rest 0.5 + amplitude 0.8
    with pytest.raises(ValueError, match=r"rest_angle \+ amplitude_range\[1\]"):
        gymnasium.make("cfpc_gym/ElbowTrack-v0", amplitude_range=(0.3, 9.0))


def test_a_goal_code_on_an_env_without_a_goal_is_one_config_line():
    config = load_config("paper_linear", ["env.goal_code={kind: affine}"])
    with pytest.raises(ConfigError, match=r"^env.goal_code: cfpc_gym/LinearPlant-v0: .*gives none$"):
        make_env(config)


def test_the_coded_cue_sits_where_the_spec_says_in_the_observation():
    env = make_env(load_config("elbow_goals"))
    env.reset(seed=0)
    for _ in range(21):
        observation, _, _, _, info = env.step(np.zeros(2))
    index = env.get_wrapper_attr("tracking_spec").observation_index["cue"]
    np.testing.assert_allclose(observation[index], info["tracking"]["cue"])


@pytest.mark.slow
def test_with_random_goals_the_code_learns_what_the_cue_alone_cannot(tmp_path):
    ratios = {}
    for name, code in (("code", "{kind: population, size: 5, low: [0.7], high: [1.5]}"), ("cue", "null")):
        out = tmp_path / name
        argv = ["run", "elbow_goals", "--set", f"env.goal_code={code}", "--out", str(out)]
        assert main(argv) == 0
        runs = {
            r["name"]: np.array(r["trial_rmse"])
            for r in json.loads((out / "metrics.json").read_text())["runs"]
        }
        ratios[name] = runs["cfpc"][-20:].mean() / runs["feedback-only"][-20:].mean()
    assert ratios["code"] <= 0.35 and ratios["code"] <= 0.7 * ratios["cue"]  # measured 0.25, 0.43


def test_a_population_over_goal_and_start_peaks_at_their_grid_cell():
    env = GoalCode(
        gymnasium.make("cfpc_gym/ElbowTrack-v0", amplitude_range=(0.3, 0.9)),
        "population",
        5,
        [0.4],
        [1.6],
        with_start=True,
    )
    _, info = env.reset(seed=2)
    code = cue_step(env)["tracking"]["cue"]
    centres = np.linspace(0.4, 1.6, 5)
    goal_cell = np.argmin(abs(centres - info["goal"][0]))
    start_cell = np.argmin(abs(centres - 0.5))  # the elbow rests at 0.5 rad
    assert code.shape == (25,) and np.argmax(code) == 5 * goal_cell + start_cell
    with pytest.raises(ValueError, match="with_start applies to the population code"):
        GoalCode(gymnasium.make("cfpc_gym/ElbowTrack-v0"), "affine", with_start=True)
