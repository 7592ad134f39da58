"""Kill a run, resume it: the same weights, bit for bit; broken checkpoints are refused clearly."""

import json

import pytest
import torch

import cfpc_gym.experiment.runner as runner
from cfpc_gym.cli import main

SHORT = ["paper_linear", "--set", "trials=6", "--set", "env.kwargs.interval_jitter=0.05"]


def weights(run_dir, name: str) -> torch.Tensor:
    state = torch.load(run_dir / "checkpoints" / f"{name}.pt", weights_only=True)
    return state["agent"]["controller"]["feedforward.weights"]


def without_timings(run_dir) -> list:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    timings = ("wall_time_s", "trial_wall_time_s")
    return [{k: v for k, v in r.items() if k not in timings} for r in metrics["runs"]]


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["run", *SHORT, "--out", str(whole)]) == 0

    saves = {"count": 0}
    save = runner.save_checkpoint

    def kill_after_eight(*args, **kwargs):  # the process dies right after its 8th checkpoint
        save(*args, **kwargs)
        saves["count"] += 1
        if saves["count"] == 8:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "save_checkpoint", kill_after_eight)
    assert main(["run", *SHORT, "--out", str(killed)]) == 130
    assert "cfpc-gym run --resume" in capsys.readouterr().err
    assert not (killed / "metrics.json").exists()
    monkeypatch.setattr(runner, "save_checkpoint", save)

    assert main(["run", "--resume", str(killed)]) == 0
    for name in ("cfpc", "lms", "delayed", "fel", "cfpc-gn"):  # feedback-only has no weights
        assert torch.equal(weights(whole, name), weights(killed, name))
    assert without_timings(whole) == without_timings(killed)


def test_a_corrupted_checkpoint_is_one_line_and_nothing_is_overwritten(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["run", "paper_linear", "--set", "trials=2", "--out", str(run_dir)]) == 0
    broken = run_dir / "checkpoints" / "cfpc.pt"
    broken.write_bytes(b"not a checkpoint")
    metrics = (run_dir / "metrics.json").read_text()
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "checkpoint" in err and "cfpc.pt" in err and "corrupted" in err and err.count("\n") == 1
    assert broken.read_bytes() == b"not a checkpoint"
    assert (run_dir / "metrics.json").read_text() == metrics


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--resume", "{tmp}/nowhere"], "holds no config.yaml"),
        (["paper_linear", "--resume", "{tmp}"], "--resume DIR takes no CONFIG"),
    ],
)
def test_bad_resume_arguments(tmp_path, capsys, argv, expected):
    code = main(["run", *[a.format(tmp=tmp_path) for a in argv]])
    assert code == 2 and expected in capsys.readouterr().err


def test_metrics_csv_has_a_row_per_trial_with_the_anticipation_lag(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["run", "paper_linear", "--set", "trials=2", "--out", str(run_dir)]) == 0
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0] == "controller,rule,trial,rmse,max_error,lag_s,env_steps,wall_time_s"
    assert len(rows) == 1 + 6 * 2
    feedback_only = rows[1].split(",")
    assert float(feedback_only[5]) >= 0.05, "feedback alone trails the target by at least the delay"


def test_a_resumed_movement_schedule_runs_the_model_of_the_trial_it_was_linearised_along(
    tmp_path, monkeypatch, capsys
):
    movement = "{kind: linearized, schedule: movement, relinearize_every: 2}"
    controller = f"{{name: m, rule: eligibility, learning_rate: 0.03, forward_model: {movement}}}"
    arguments = ["elbow_delays", "--set", "trials=4", "--set", f"controllers=[{controller}]"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["run", *arguments, "--out", str(whole)]) == 0
    save = runner.save_checkpoint

    def kill_after_three(path, agent, result):  # the model is along trial 1, the last trial is 2
        save(path, agent, result)
        if result.trials_done == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "save_checkpoint", kill_after_three)
    assert main(["run", *arguments, "--out", str(killed)]) == 130
    monkeypatch.setattr(runner, "save_checkpoint", save)
    assert main(["run", "--resume", str(killed)]) == 0
    assert torch.equal(weights(whole, "m"), weights(killed, "m"))
    assert without_timings(whole) == without_timings(killed)
