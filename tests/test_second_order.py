"""The trial-level Gauss-Newton learner and the safeguard, end to end on the bundled tasks.

Measured claims (docs/BENCHMARKS.md, "Second-order learner"): on paper_linear the learner lands on
the basis's least-squares optimum within a few trials, on a plant the gradient rule finds hard too;
a worse trial is undone (gradient rules: back to the best trial's state, step halved)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cfpc_gym.analysis.optimum import least_squares_optimum
from cfpc_gym.config import load_config
from cfpc_gym.experiment.runner import run_controller

GN = "{name: cfpc-gn, rule: eligibility, optimizer: gauss_newton, forward_model: {kind: analytic}}"
SLOW_PLANT = [  # the 0.7 Hz plant a new user tried: the gradient rule ends at 2.57x the optimum
    "env.kwargs.natural_freq_hz=0.7",
    "env.kwargs.damping_ratio=0.4",
    "env.kwargs.sensory_delay=0.06",
    "feedback.kp=1",
    "feedback.ki=1",
    "feedback.kd=0.1",
]


def gauss_newton_ratios(overrides: list[str], trials: int) -> list[float]:
    config = load_config("paper_linear", [*overrides, f"trials={trials}", f"controllers=[{GN}]"])
    optimum = least_squares_optimum(config).rmse
    return [rmse / optimum for rmse in run_controller(config, 0, say=lambda m: None).trial_rmse]


def test_paper_linear_lands_on_the_least_squares_optimum_within_five_trials():
    ratios = gauss_newton_ratios([], 5)
    assert min(ratios) <= 1.02 and ratios[-1] <= 1.02, ratios


def test_on_the_slow_plant_it_lands_within_ten_trials():
    ratios = gauss_newton_ratios(SLOW_PLANT, 10)
    assert ratios[-1] <= 1.05, ratios


@pytest.mark.parametrize(
    "plant",
    [
        ["env.kwargs.natural_freq_hz=0.5", "env.kwargs.damping_ratio=0.3"],
        ["env.kwargs.natural_freq_hz=1.5", "env.kwargs.damping_ratio=0.7"],
        ["env.kwargs.sensory_delay=0.02"],
        ["env.kwargs.sensory_delay=0.08", "feedback.kp=1", "feedback.ki=1", "feedback.kd=0.1"],
    ],
)
def test_stable_plants_of_the_family_end_below_their_first_trial_and_near_the_optimum(plant):
    ratios = gauss_newton_ratios(plant, 8)
    assert all(math.isfinite(r) for r in ratios)
    assert ratios[-1] <= ratios[0] and ratios[-1] <= 1.05, ratios


def test_the_safeguard_undoes_a_worse_trial_and_changes_nothing_before_it_acts():
    lms = "controllers=[{name: lms, rule: lms, learning_rate: 0.08}]"
    guarded = load_config("paper_linear", ["trials=12", lms])
    free = load_config("paper_linear", ["trials=12", lms, "safeguard_factor=null"])
    said: list[str] = []
    with_guard = run_controller(guarded, 0, say=said.append)
    without = run_controller(free, 0, say=lambda m: None)
    first = with_guard.safeguard_trials[0]
    assert with_guard.trial_rmse[: first + 1] == without.trial_rmse[: first + 1]
    assert with_guard.trial_rmse[first] > 3 * min(with_guard.trial_rmse[:first])
    assert with_guard.trial_rmse[first + 1] < with_guard.trial_rmse[first] / 2, "back to the best state"
    assert max(with_guard.trial_rmse) < max(without.trial_rmse)
    assert any(f"trial {first} RMSE" in line and "safeguard" in line for line in said)


@pytest.mark.slow
def test_cued_elbow_learns_in_a_handful_of_trials_where_the_gradient_rule_needs_dozens():
    config = load_config("cued_elbow", ["trials=10"])
    names = [c.name for c in config.controllers]
    gradient = run_controller(config, names.index("cfpc"), say=lambda m: None).trial_rmse
    second = run_controller(config, names.index("cfpc-gn"), say=lambda m: None).trial_rmse
    assert second[-1] < 0.5 * gradient[-1] and second[-1] < 0.25 * second[0]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured (cfpc-gn, model re-linearised along the movement): 0.0216 at trial 9 (3.9x the basis's "
    "Gauss-Newton optimum 0.0056, measured on the env itself), 0.0101 from trial 19 on (1.8x): where the "
    "linearised model's gradient vanishes, not the body's",
)
def test_cued_elbow_within_1_1x_of_its_basis_optimum_in_ten_trials():
    config = load_config("cued_elbow", ["trials=10"])
    index = [c.name for c in config.controllers].index("cfpc-gn")
    assert run_controller(config, index, say=lambda m: None).trial_rmse[-1] <= 1.1 * 0.0056


def test_a_controller_that_ends_worse_than_feedback_alone_says_so(tmp_path, capsys):
    from cfpc_gym.cli import main

    lms = "controllers=[{name: feedback-only, rule: none}, {name: lms, rule: lms, learning_rate: 0.08}]"
    assert (
        main(["run", "paper_linear", "--set", "trials=8", "--set", lms, "--out", str(tmp_path / "run")]) == 0
    )
    table = capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["status"] for r in metrics["runs"]] == ["ok", "worse than feedback-only"]
    assert "worse than feedback-only; safeguard undid trial 7" in table


def test_frozen_trials_leave_the_second_order_learners_weights_alone():
    from cfpc_gym.build import make_run_agent
    from cfpc_gym.rollout import run_trial

    config = load_config("paper_linear", ["trials=3", f"controllers=[{GN}]"])
    agent = make_run_agent(config, 0)
    for trial in range(2):
        run_trial(agent, seeds=[0] if trial == 0 else None)
    learned = agent.controller.weights.clone()
    first = run_trial(agent, learn=False)
    assert torch.equal(agent.controller.weights, learned), "the pending step was not taken"
    again = run_trial(agent, learn=False)
    assert torch.equal(agent.controller.weights, learned)
    assert first.rmse.tolist() == again.rmse.tolist()
    agent.env.close()


@pytest.mark.slow
def test_no_model_is_built_along_a_trial_the_safeguard_undid():
    every = "controllers.4.forward_model.relinearize_every=1"
    config = load_config("elbow_delays", ["trials=3", "controllers.4.learning_rate=3", every])
    built = []
    result = run_controller(
        config, 4, say=lambda m: None, on_trial=lambda r: built.append(r.relinearized_along)
    )
    assert result.safeguard_trials == [1] and result.diverged_at_trial is None
    assert built[1] is built[0], "the model is still the one along trial 0"


def test_a_safeguard_window_compares_window_means_and_goes_back_to_the_best_windows_start():
    lms = "controllers=[{name: lms, rule: lms, learning_rate: 0.08}]"
    guarded = load_config("paper_linear", ["trials=15", lms, "safeguard_window=3"])
    free = load_config("paper_linear", ["trials=15", lms, "safeguard_factor=null"])
    said: list[str] = []
    with_guard = run_controller(guarded, 0, say=said.append)
    without = run_controller(free, 0, say=lambda m: None)
    undone = with_guard.safeguard_trials
    assert undone and all(trial % 3 == 2 for trial in undone), "only a window's last trial judges"
    last = undone[0]
    means = [sum(with_guard.trial_rmse[i : i + 3]) / 3 for i in range(0, last + 1, 3)]
    assert means[-1] > 3 * min(means[:-1]), "undone: its mean exceeds 3x the best window's"
    assert with_guard.trial_rmse[: last + 1] == without.trial_rmse[: last + 1], "nothing changed before"
    assert with_guard.trial_rmse[last + 1] < means[-1] / 2, "back to the state the best window started with"
    first = means.index(min(means[:-1])) * 3
    judged, back = f"trials {last - 2}-{last} mean RMSE", f"back to the weights trials {first}-{first + 2}"
    assert any(judged in line and back in line for line in said), said


def test_a_run_killed_inside_a_safeguard_window_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    import cfpc_gym.experiment.runner as runner
    from cfpc_gym.cli import main

    lms = "controllers=[{name: lms, rule: lms, learning_rate: 0.08}]"
    argv = ["run", "paper_linear", "--set", "trials=12", "--set", lms, "--set", "safeguard_window=3"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    save = runner.save_checkpoint

    def kill_after_two(*args, **kwargs):  # inside the first window, which stays the best
        save(*args, **kwargs)
        if len(args[2].trial_rmse) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "save_checkpoint", kill_after_two)
    assert main([*argv, "--out", str(tmp_path / "killed")]) == 130
    monkeypatch.setattr(runner, "save_checkpoint", save)
    assert main(["run", "--resume", str(tmp_path / "killed")]) == 0
    runs = [json.loads((tmp_path / d / "metrics.json").read_text())["runs"][0] for d in ("whole", "killed")]
    assert runs[0]["safeguard_trials"], "the safeguard acted after the kill"
    for key in ("trial_rmse", "safeguard_trials", "best_trial"):
        assert runs[0][key] == runs[1][key]
