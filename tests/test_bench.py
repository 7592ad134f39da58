"""The benchmark: the ILC baseline is the textbook law, cells are reproducible, tables have every
method on every task, sweeps run on Ray or a local pool, and bad input is one line with exit 2."""

import importlib.util
import json

import numpy as np
import pytest

from cfpc_gym.bench.cells import check, method_config, run_bench
from cfpc_gym.bench.config import ILCConfig, load_bench
from cfpc_gym.build import make_run_agent
from cfpc_gym.cli import main
from cfpc_gym.config import ConfigError, load_config
from cfpc_gym.rollout import run_trial

needs_sb3 = pytest.mark.skipif(importlib.util.find_spec("stable_baselines3") is None, reason="needs SB3")
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs Ray")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ilc_entry_t_learns_the_error_lead_seconds_later():
    """P-type ILC with a phase lead: after one trial, entry j = gain * e[onset + j + lead]."""
    task = load_config("paper_linear", ["dtype=float64"])
    gain, lead = 0.3, 0.05
    config = method_config(task, "ilc", seed=0, trials=1, ilc=ILCConfig(learning_rate=gain, lead=lead))
    agent = make_run_agent(config, 0)
    record = run_trial(agent)
    error = record.error[:, 0, 0]
    onset = int(np.argmax(record.cue[:, 0, 0] >= 0.5))
    shift = round(lead / agent.spec.dt)
    weights = agent.controller.weights[0, 0].numpy()
    entries = len(error) - onset - shift  # entries whose error arrived within the trial
    np.testing.assert_allclose(weights[:entries], gain * error[onset + shift :], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(weights[entries:], 0.0)


def test_methods_take_the_task_settings_of_their_rule():
    task = load_config("paper_linear")
    lms = method_config(task, "lms", seed=4, trials=7, ilc=ILCConfig())
    assert [c.rule for c in lms.controllers] == ["lms"]
    assert lms.controllers[0].learning_rate == 0.08 and lms.seed == 4 and lms.trials == 7
    ilc = method_config(task, "ilc", seed=0, trials=7, ilc=ILCConfig(lead=0.1))
    assert ilc.basis.kind == "time_table" and ilc.controllers[0].trace_delay == 0.1


def test_trial_methods_are_reproducible_and_cfpc_beats_feedback(tmp_path):
    bench = load_bench(overrides=["tasks=[paper_linear]", "methods=[feedback, eligibility, ilc]", "seeds=2",
                                  "profiles.quick.trials=8"])  # fmt: skip
    first, again = (run_bench(bench, "quick", workers=1, say=lambda m: None) for _ in range(2))
    assert [r.curve.rmse for r in first] == [r.curve.rmse for r in again]
    final = {(r.method, r.seed): r.final_rmse for r in first}
    for seed in (0, 1):
        assert final["eligibility", seed] < 0.5 * final["feedback", seed]
        assert final["ilc", seed] < 0.5 * final["feedback", seed]
    steps = first[0].curve.env_steps
    assert steps == [200 * (t + 1) for t in range(8)]  # 2 s trials at 10 ms


@needs_sb3
@pytest.mark.slow
def test_quick_bench_has_every_method_on_every_task_with_seeds(tmp_path, capsys):
    """The CI smoke run: the whole quick profile, every default task and method, three seeds."""
    out = tmp_path / "bench"
    code, stdout, _ = cli(capsys, "bench", "--quick", "--out", str(out), "--workers", "2")
    assert code == 0
    bench = load_bench()
    cells = json.loads((out / "results.json").read_text())["cells"]
    ran = {(c["task"], c["method"]) for c in cells if c["status"] != "skipped"}
    myosuite = importlib.util.find_spec("myosuite") is not None
    for task in bench.tasks:
        if task == "myo_elbow" and not myosuite:
            assert "MyoSuite is not installed" in (out / "results.md").read_text()
            continue
        for method in bench.methods:
            assert (task, method) in ran
            assert sum(c["task"] == task and c["method"] == method for c in cells) == bench.seeds
    assert all(np.isfinite(c["curve"]["rmse"]).all() for c in cells if c["status"] == "ok")
    table = (out / "results.md").read_text()
    assert table == stdout.split("wrote ")[0]
    assert "| ppo | 3 |" in table and "| ilc | 3 |" in table
    assert (out / "error_vs_steps.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "tasks" / "cued_elbow.yaml").is_file()
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(len(c["curve"]["rmse"]) for c in cells)


def sweep_args(out) -> list[str]:
    return ["sweep", "bench", "--set", "tasks=[paper_linear]", "--set", "methods=[ilc]", "--set", "seeds=1",
            "--set", "profiles.quick.trials=3", "--set", "grid={ilc.lead: [0.05, 0.15]}",
            "--out", str(out)]  # fmt: skip


@needs_ray
@pytest.mark.slow
def test_sweep_on_ray_gives_the_local_results(tmp_path, capsys, monkeypatch):
    code, _, err = cli(capsys, *sweep_args(tmp_path / "ray"), "--workers", "2")
    assert code == 0 and "Ray:" in err
    monkeypatch.setattr("cfpc_gym.bench.sweep.ray_available", lambda: False)  # as if Ray were not installed
    code, _, err = cli(capsys, *sweep_args(tmp_path / "local"), "--workers", "1")
    assert code == 0 and "Ray is not installed" in err
    cells = [json.loads((tmp_path / d / "results.json").read_text())["cells"] for d in ("ray", "local")]
    assert [c["variant"] for c in cells[0]] == ["ilc.lead=0.05", "ilc.lead=0.15"]
    assert [c["curve"]["rmse"] for c in cells[0]] == [c["curve"]["rmse"] for c in cells[1]]
    assert "| ilc [ilc.lead=0.05] | 1 |" in (tmp_path / "ray" / "results.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "methods=[feedback, a2c]"], "methods: unknown method 'a2c'; choose from feedback,"),
        (["--set", "tasks=[no_such_task]"], "tasks: no_such_task: config 'no_such_task' is neither a file"),
        (["--set", "profiles.quick.ppo_steps=0"], "profiles.quick.ppo_steps: Input should be greater"),
        (["--set", "seeds=0"], "seeds: Input should be greater than or equal to 1"),
        (["--workers", "0"], "argument --workers: expected a whole number >= 1, got '0'"),
        (["--set", "grid={ilc.lead: [0.1]}"], "grid: a bench runs no grid; use cfpc-gym sweep"),
        # A method the task has no settings for, found before the first cell runs:
        (["--set", "tasks=[elbow_gain_adaptation]", "--set", "methods=[feedback, eligibility]"],
         "tasks: elbow_gain_adaptation: method eligibility: forward_model.kind: analytic needs"),
    ],
)  # fmt: skip
def test_bad_bench_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code, stdout, err = cli(capsys, "bench", *argv, "--out", str(tmp_path / "out"))
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_missing_sb3_or_ray_says_what_to_install(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    missing = ("stable_baselines3", "ray")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a)
    )
    code, _, err = cli(capsys, "bench", "--set", "methods=[feedback, sac]", "--out", str(tmp_path / "a"))
    assert code == 2 and "methods: sac needs Stable-Baselines3: pip install 'cfpc-gym[sb3]'" in err
    code, _, err = cli(capsys, *sweep_args(tmp_path / "b"), "--address", "ray://head:10001")
    assert code == 2 and "--address needs Ray: pip install 'cfpc-gym[ray]'" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_sweep_without_a_grid_is_refused(tmp_path, capsys):
    code, _, err = cli(capsys, "sweep", "bench", "--out", str(tmp_path / "s"))
    assert code == 2 and "grid: a sweep needs a grid of values" in err


def test_bench_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"^profiles: no 'full' profile"):
        check(load_bench(overrides=["profiles={quick: {ppo_steps: 1, sac_steps: 1}}"]), "full")


def test_a_killed_bench_resumes_to_the_uninterrupted_results(tmp_path, capsys):
    matrix = ["--set", "tasks=[paper_linear]", "--set", "methods=[feedback, eligibility, ilc]",
              "--set", "seeds=2", "--set", "profiles.quick.trials=3", "--workers", "1"]  # fmt: skip
    assert cli(capsys, "bench", *matrix, "--out", str(tmp_path / "whole"))[0] == 0
    killed = tmp_path / "killed"
    assert cli(capsys, "bench", *matrix, "--out", str(killed))[0] == 0
    lines = (killed / "cells.jsonl").read_text().splitlines()
    (killed / "cells.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # cut mid-line
    (killed / "results.json").unlink()
    code, _, err = cli(capsys, "bench", "--resume", str(killed), "--workers", "1")
    assert code == 0 and err.count("seed") == 4  # only the four unfinished cells ran
    cells = [json.loads((d / "results.json").read_text())["cells"] for d in (tmp_path / "whole", killed)]
    assert [c["curve"]["rmse"] for c in cells[0]] == [c["curve"]["rmse"] for c in cells[1]]
    code, _, err = cli(capsys, "bench", "--resume", str(killed), "--full")
    assert code == 2 and "holds cells of the quick profile; pass --quick" in err


def test_a_rule_the_task_lacks_borrows_the_learning_settings_but_not_the_traces_model():
    task = load_config("elbow_delays")  # its last eligibility controller re-linearises along the movement
    (controller,) = method_config(task, "delayed", 0, 1, ILCConfig()).controllers
    assert controller.rule == "delayed" and controller.learning_rate == 0.03
    assert controller.forward_model.schedule == "rest" and controller.gain_adaptation is None


def test_a_cell_line_cut_by_a_kill_stays_apart_from_the_next_and_bad_fields_are_refused(tmp_path):
    from cfpc_gym.bench.cells import Cell, CellResult, Curve
    from cfpc_gym.bench.store import CELLS, load_cells, save_cell
    from cfpc_gym.errors import CheckpointError

    cell = CellResult(Cell("paper_linear", "feedback", 0), Curve([200], [0.26], [0.1]))
    save_cell(tmp_path, "quick", cell)
    with open(tmp_path / CELLS, "a") as stream:
        stream.write('{"task": "paper_li')  # the kill
    assert list(load_cells(tmp_path, "quick")) == [("paper_linear", "feedback", 0, "")]
    save_cell(tmp_path, "quick", CellResult(Cell("paper_linear", "feedback", 1), Curve([200], [0.26], [0.1])))
    assert sorted(key[2] for key in load_cells(tmp_path, "quick")) == [0, 1]  # the cut line was dropped
    (tmp_path / CELLS).write_text(json.dumps({**cell.to_dict(), "status": 5, "profile": "quick"}) + "\n" * 2)
    with pytest.raises(CheckpointError, match="line 1 is corrupted"):
        load_cells(tmp_path, "quick")
