"""The bench on tasks with a goal and a coarse control step: ILC's lead in whole steps of each task,
goal error and success recorded for every method (RL measured as the runner measures CFPC), and
MyoSuite's published NPG reference in the report and the figure."""

import importlib.util
import json

import numpy as np
import pytest

from cfpc_gym.bench.baselines import Curve, evaluate_policy
from cfpc_gym.bench.cells import Cell, CellResult, run_bench
from cfpc_gym.bench.config import ILCConfig, load_bench
from cfpc_gym.bench.methods import ilc_lead, method_config, task_ilc
from cfpc_gym.bench.plots import goal_error_figure
from cfpc_gym.bench.references import REFERENCES, myosuite_task, references_for
from cfpc_gym.bench.report import markdown, rows_by_task, write_outputs
from cfpc_gym.body import env_attribute
from cfpc_gym.build import make_agent, make_env, make_run_agent
from cfpc_gym.cli import main
from cfpc_gym.config import dump_config, load_config
from cfpc_gym.experiment.runner import held_out_seeds
from cfpc_gym.rollout import run_trial

needs_sb3 = pytest.mark.skipif(importlib.util.find_spec("stable_baselines3") is None, reason="needs SB3")
MYOSUITE = importlib.util.find_spec("myosuite") is not None


def task_file(tmp_path, name: str, base: str, overrides: list[str]) -> str:
    """A bundled run config with overrides, written as a YAML task for a bench."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_config(load_config(base, [f"name={name}", *overrides])))
    return str(path)


def coarse_linear(tmp_path) -> str:
    """paper_linear at MyoSuite's control step, 0.02 s (delay 0.04 s): 0.15 s is 7.5 steps."""
    return task_file(
        tmp_path, "coarse_linear", "paper_linear", ["env.kwargs.dt=0.02", "env.kwargs.sensory_delay=0.04"]
    )


def test_the_lead_rounds_to_the_nearest_whole_step_at_least_one():
    assert ilc_lead(0.15, 0.02) == 0.16  # 7.5 steps: halves up
    assert ilc_lead(0.15, 0.01) == 0.15
    assert ilc_lead(0.13, 0.02) == 0.14
    assert ilc_lead(0.11, 0.02) == 0.12
    assert ilc_lead(0.005, 0.02) == 0.02  # a positive lead is at least one step
    assert ilc_lead(0.0, 0.02) == 0.0


def test_ilc_runs_with_the_lead_in_whole_steps_of_each_tasks_dt(tmp_path):
    coarse = coarse_linear(tmp_path)
    bench = load_bench(overrides=[f"tasks=[paper_linear, {coarse}]", "methods=[ilc]", "seeds=1",
                                  "profiles.quick.trials=2"])  # fmt: skip
    assert bench.ilc.lead == 0.15
    said: list[str] = []
    results = run_bench(bench, "quick", workers=1, say=said.append)
    assert {r.task: r.lead_s for r in results} == {"paper_linear": 0.15, coarse: 0.16}
    assert all(r.status == "ok" for r in results)
    assert any(f"{coarse} ilc seed 0" in line and "lead 0.16 s" in line for line in said)
    report = markdown(results, bench, "quick")
    assert "ILC's lead as run, `ilc.lead` (0.15 s) in whole control steps of this task: ilc 0.16 s." in report
    assert "this task: ilc 0.15 s." in report

    # Entry j learns from the error 8 steps (0.16 s) after it: the lead as run, not as configured.
    task = load_config(coarse, ["dtype=float64"])
    gain = 0.3
    config = method_config(task, "ilc", 0, 1, task_ilc(ILCConfig(learning_rate=gain, lead=0.15), task))
    agent = make_run_agent(config, 0)
    record = run_trial(agent)
    error = record.error[:, 0, 0]
    onset = int(np.argmax(record.cue[:, 0, 0] >= 0.5))
    weights = agent.controller.weights[0, 0].numpy()
    entries = len(error) - onset - 8
    np.testing.assert_allclose(weights[:entries], gain * error[onset + 8 :], rtol=1e-12, atol=1e-15)


def test_a_grid_value_the_bench_refuses_is_one_line_naming_the_grid_point(tmp_path, capsys):
    code = main(["sweep", "bench", "--set", "tasks=[paper_linear]", "--set", "methods=[ilc]",
                 "--set", "grid={ilc.lead: [0.15, -0.1]}", "--out", str(tmp_path / "s")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "grid: ilc.lead=-0.1: ilc.lead: Input should be greater than or equal to 0" in err
    assert not (tmp_path / "s").exists()


def goal_elbow(overrides: list[str] = ()) -> list[str]:
    """cued_elbow with a random goal per trial (amplitude_range): an env whose info gives a goal."""
    return ["env.kwargs.amplitude_range=[0.3, 0.9]", *overrides]


def test_rl_evaluation_measures_goal_error_and_success_as_the_runner_does():
    """The same feedback-only policy, one episode: the RL evaluation and the runner's trial agree."""
    config = method_config(load_config("cued_elbow", goal_elbow()), "feedback", 0, 1, ILCConfig())
    record = run_trial(make_run_agent(config, 0), learn=False, seeds=[123])
    env = make_env(config)
    measured = evaluate_policy(env, make_agent(config, 0, env), [123])
    threshold = env_attribute(env, "goal_threshold")
    assert measured.goal_error == pytest.approx(record.goal_error()[0], rel=1e-9)
    assert measured.success == float(record.success(threshold)[0])
    assert measured.rmse == pytest.approx(record.rmse[0], rel=1e-9)
    assert measured.goal_error > 0


@needs_sb3
def test_every_method_records_goal_error_and_success_where_the_env_has_a_goal(tmp_path):
    task = task_file(tmp_path, "goal_elbow", "cued_elbow", goal_elbow(["evaluation=2"]))
    bench = load_bench(overrides=[f"tasks=[{task}]", "methods=[feedback, ppo]", "seeds=1",
                                  "profiles.quick.trials=2", "profiles.quick.ppo_steps=1056",
                                  "profiles.quick.evaluations=2", "profiles.quick.eval_episodes=1",
                                  "ppo.hyperparameters={n_steps: 32, batch_size: 32}"])  # fmt: skip
    results = {r.method: r for r in run_bench(bench, "quick", workers=1, say=lambda line: None)}
    for method, result in results.items():
        curve = result.curve
        assert len(curve.goal_error) == len(curve.success) == len(curve.env_steps) == 2, method
        assert all(g > 0 for g in curve.goal_error) and all(s in (0.0, 1.0) for s in curve.success), method
    assert results["ppo"].curve.env_steps == [1024, 1056]  # evaluated at 1000 and 1056, in whole rollouts
    held_out = results["feedback"].held_out
    assert held_out["episodes"] == 2 and held_out["goal_error"] > 0  # the runner's evaluation, kept
    assert results["ppo"].held_out["episodes"] == 2 and results["ppo"].held_out["goal_error"] > 0
    # RL's held-out episodes are the runner's: feedback alone measured the RL way on those seeds
    # gives the runner's evaluation.
    config = method_config(load_config(task), "feedback", 0, 1, ILCConfig())
    env = make_env(config)
    again = evaluate_policy(env, make_agent(config, 0, env), held_out_seeds(config.seed, 2))
    assert again.goal_error == pytest.approx(held_out["goal_error"], rel=1e-9)
    assert again.success == held_out["success"]

    out = tmp_path / "out"
    write_outputs(bench, "quick", list(results.values()), out)
    assert (out / "goal_error_vs_steps.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "results.md").read_text()
    assert "| method | seeds | goal error, held out | success, held out | x feedback-only |" in report
    assert "x feedback-only: held-out goal errors." in report
    assert "| feedback | 1 |" in report and "| ppo | 1 |" in report
    header, *rows = (out / "results.csv").read_text().splitlines()
    assert header.endswith(",goal_error,success") and all(row.split(",")[-2] for row in rows)
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert CellResult.from_dict(cells[0]).curve.goal_error == results["feedback"].curve.goal_error


def test_the_npg_reference_is_looked_up_by_myosuite_task_id():
    assert myosuite_task(load_config("myo_pose_elbow")) == "myoElbowPose1D6MRandom-v0"
    assert references_for(load_config("myo_finger")) == REFERENCES["myoFingerPoseRandom-v0"]
    elbow = REFERENCES["myoElbowPose1D6MRandom-v0"]
    assert [(p.env_steps, p.success) for p in elbow if p.success is not None][0] == (28_800, 0.9375)
    assert [(p.env_steps, p.goal_error) for p in elbow if p.goal_error is not None] == [
        (105_600, 0.1203),
        (9_609_600, 0.0437),
    ]
    (hand,) = references_for(load_config("myo_hand"))
    assert (hand.env_steps, hand.success, hand.goal_error) == (9_609_600, 0.0, 1.976)
    assert references_for(load_config("cued_elbow")) == ()  # not a MyoSuite pose task


def fake_cell(task: str, method: str, goal_errors: list[float]) -> CellResult:
    steps = [100 * (i + 1) for i in range(len(goal_errors))]
    successes = [float(g < 0.2) for g in goal_errors]
    curve = Curve(steps, [2 * g for g in goal_errors], [0.1] * len(steps), goal_errors, successes)
    return CellResult(Cell(task, method, 0), curve)


def test_the_goal_figure_draws_myosuite_npg_beside_the_methods(tmp_path):
    results = [
        fake_cell("myo_pose_elbow", "feedback", [0.3, 0.3]),
        fake_cell("myo_pose_elbow", "sac", [0.4, 0.1]),
    ]
    results[1].held_out = {"episodes": 30, "success": 1.0, "goal_error": 0.05, "rmse": 0.1}
    references = {"myo_pose_elbow": REFERENCES["myoElbowPose1D6MRandom-v0"]}
    figure = goal_error_figure(rows_by_task(results), references)
    goal_axes, success_axes = figure.axes
    npg = [line for line in goal_axes.lines if line.get_label() == "MyoSuite NPG"]
    assert len(npg) == 1
    np.testing.assert_array_equal(npg[0].get_xdata(), [105_600, 9_609_600])
    np.testing.assert_array_equal(npg[0].get_ydata(), [0.1203, 0.0437])
    assert {line.get_label() for line in goal_axes.lines} >= {"feedback", "sac", "held out, learning frozen"}
    circles = [line for line in goal_axes.lines if line.get_marker() == "o" and len(line.get_xdata())]
    assert [(c.get_xdata()[0], c.get_ydata()[0]) for c in circles] == [(200, 0.05)]  # sac's, at its last step
    (npg_success,) = [line for line in success_axes.lines if line.get_label() == "MyoSuite NPG"]
    np.testing.assert_array_equal(npg_success.get_ydata(), [0.9375, 1.0])

    bench = load_bench(overrides=["tasks=[myo_pose_elbow]", "methods=[feedback, sac]", "seeds=1"])
    write_outputs(bench, "quick", results, tmp_path)
    assert (tmp_path / "goal_error_vs_steps.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "results.md").read_text()
    assert "MyoSuite NPG (published" in report and "goal error 0.1203 after 105,600 env steps" in report
    assert "success 94 % after 28,800 env steps" in report


def test_a_bench_without_goals_draws_no_goal_figure(tmp_path):
    bench = load_bench(overrides=["tasks=[paper_linear]", "methods=[feedback]", "seeds=1",
                                  "profiles.quick.trials=1"])  # fmt: skip
    results = run_bench(bench, "quick", workers=1, say=lambda line: None)
    assert results[0].curve.goal_error == [None]
    write_outputs(bench, "quick", results, tmp_path)
    assert not (tmp_path / "goal_error_vs_steps.png").exists()
    assert "goal error, held out" not in (tmp_path / "results.md").read_text()


@pytest.mark.skipif(MYOSUITE, reason="checks the skip without MyoSuite")
def test_the_myosuite_bench_is_skipped_without_myosuite_saying_what_to_install():
    bench = load_bench("myosuite", ["seeds=1", "methods=[feedback, ilc]", "profiles.quick.trials=1"])
    results = run_bench(bench, "quick", workers=1, say=lambda line: None)
    assert {r.task for r in results} == {"myo_pose_elbow", "myo_finger", "myo_hand"}
    assert all(r.status == "skipped" and "pip install 'cfpc-gym[myosuite]'" in r.note for r in results)


@pytest.mark.skipif(not MYOSUITE, reason="needs MyoSuite")
def test_myosuite_elbow_runs_ilc_with_a_lead_of_whole_steps_and_records_success():
    bench = load_bench("myosuite", ["tasks=[myo_pose_elbow]", "methods=[ilc]", "seeds=1",
                                    "profiles.quick.trials=1"])  # fmt: skip
    (result,) = run_bench(bench, "quick", workers=1, say=lambda line: None)
    assert result.status == "ok" and result.lead_s == 0.16  # 0.15 s is 7.5 steps of MyoSuite's 0.02 s
    assert result.curve.goal_error[0] > 0 and result.curve.success[0] in (0.0, 1.0)
    assert result.held_out["episodes"] == 30 and 0 <= result.held_out["success"] <= 1
