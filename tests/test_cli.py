"""The command line: the paper run end to end, and every bad input as one line with exit code 2."""

import json
import textwrap
from pathlib import Path

import pytest

from cfpc_gym.cli import main
from cfpc_gym.config import bundled_config_path, load_config

QUICK = ["--set", "trials=3"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_writes_metrics_plot_and_resolved_config(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "run", "paper_linear", *QUICK, "--set", "controllers.2.learning_rate=1e-3",
                          "--out", str(out))  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rules = ["none", "eligibility", "lms", "delayed", "fel", "eligibility"]
    assert [r["rule"] for r in metrics["runs"]] == rules
    assert all(len(r["trial_rmse"]) == 3 for r in metrics["runs"])
    assert 0 < metrics["ls_optimum_rmse"] < metrics["runs"][0]["trial_rmse"][0]
    resolved = load_config(out / "config.yaml")
    assert resolved.trials == 3 and resolved.controllers[2].learning_rate == 1e-3
    for png in ("error_per_trial.png", "trajectories.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "least-squares optimum" in stdout


def test_same_seed_gives_identical_metrics(tmp_path, capsys):
    results = []
    for name in ("a", "b"):
        assert (
            run(
                capsys,
                "run",
                *QUICK,
                "--set",
                "env.kwargs.interval_jitter=0.05",
                "--out",
                str(tmp_path / name),
            )[0]
            == 0
        )
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        results.append([r["trial_rmse"] for r in metrics["runs"]])
    assert results[0] == results[1]


def test_an_existing_run_directory_is_never_clobbered(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = run(capsys, "run", "paper_linear", *QUICK, "--out", str(out))
    assert code == 2 and "already exists" in err and "--force" in err
    assert (out / "precious.txt").read_text() == "keep me"
    assert not (out / "metrics.json").exists()


def test_an_out_path_that_is_or_lies_under_a_file_is_refused_even_with_force(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    for out, message in ((existing, "is a file, not a directory"), (existing / "run", "is a file, so")):
        code, _, err = run(capsys, "run", "paper_linear", *QUICK, "--force", "--out", str(out))
        assert code == 2 and message in err and err.count("\n") == 1
    assert existing.read_text() == "keep me"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_bytes(textwrap.dedent(text).encode("utf-8", "surrogateescape"))  # \udcff: the byte 0xff
    return str(path)


PAPER = bundled_config_path("paper_linear").read_text()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["colour=blue"], "colour: unknown key"),
        (["controllers.1.learnig_rate=0.1"], "controllers.1.learnig_rate: unknown key"),
        (["trials=many"], "trials: Input should be a valid integer"),
        (["controllers.1.rule=hebbian"], "controllers.1.rule: unknown rule 'hebbian'"),
        (["env.id=cfpc_gym/Nothing-v0"], "env.id:"),
        (["env.kwargs.dt=0"], "env.kwargs: dt must be a finite number > 0"),
        (["env.kwargs.sensory_delay=-0.1"], "env.kwargs: sensory_delay must be >= 0"),
        (
            ["env.kwargs.sensory_delay=5.0"],
            "env.kwargs: sensory_delay (5.0 s) must be shorter than trial_duration",
        ),
        (["env.kwargs.sensory_delay=0.055"], "env.kwargs: delay 0.055 s is not a whole number of steps"),
        (["env.kwargs.colour=1"], "env.kwargs: "),
        (["controllers.9.rule=lms"], "--set controllers.9.rule: controllers.9 is not an index"),
        (["trials"], "expected dotted.key=value"),
        (
            ["controllers.1.learning_rate=-1"],
            "controllers.1.learning_rate: Input should be greater than or equal to 0",
        ),
        (["feedback.kp=[1, 2]"], "feedback: kp must be a scalar or have 1 entries"),
        (["feedback.kp=200"], "controllers.1.forward_model: the closed loop is unstable"),
        (["device=tpu"], "error: device: 'tpu' is not a torch device"),
        (["basis={kind: alpha, min_time_constant: 2}"], "error: basis: need 0 < min_time_constant"),
        (["env.id=CartPole-v1", "env.kwargs={}"], "env.id: CartPole-v1 exposes no tracking signals"),
        (["basis=3"], "basis: must be a mapping with a kind: raised_cosine, alpha"),
        (["basis.kind=alpha", "basis.span=1.0"], "basis.span: unknown key"),
        (["basis.span=.inf"], "basis.span: Input should be a finite number"),
        (["feedback.kp=[1, .nan]"], "feedback.kp.1: Input should be a finite number"),
        (["seed=-1"], "seed: Input should be greater than or equal to 0"),
        (["controllers.1.gain_adaptation={reference_model: 3}"], "reference_model: must be a mapping"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, overrides, expected):
    out = tmp_path / "run"
    argv = ["run", "paper_linear", *QUICK, "--out", str(out)]
    for assignment in overrides:
        argv += ["--set", assignment]
    code, stdout, err = run(capsys, *argv)
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_yaml_numbers_written_as_strings_are_coerced(tmp_path):
    path = write(tmp_path, PAPER.replace("learning_rate: 0.08", "learning_rate: '8e-2'"))
    assert load_config(path).controllers[1].learning_rate == 0.08


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env: [unclosed", "malformed YAML in"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("env: {id: cfpc_gym/LinearPlant-v0}\n", "feedback: Field required"),
        ("trials: 3\ntrials: 4\n", "line 2, column 1: key 'trials' is given twice"),
        ("name: \udcff\n", "not UTF-8 text"),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, capsys, text, expected):
    code, _, err = run(capsys, "run", write(tmp_path, text), "--out", str(tmp_path / "run"))
    assert code == 2 and expected in err and err.count("\n") == 1


def test_a_missing_config_file_is_named(tmp_path, capsys):
    code, _, err = run(capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == 2 and "config file not found" in err and "nope.yaml" in err


def test_unknown_command_and_option_exit_2(capsys):
    assert run(capsys, "fly")[0] == 2
    assert run(capsys, "run", "--speed", "fast")[0] == 2


def test_envs_lists_the_registered_environments(capsys):
    code, stdout, _ = run(capsys, "envs")
    assert code == 0 and "cfpc_gym/LinearPlant-v0" in stdout


def test_print_config_shows_the_embedded_default(capsys):
    code, stdout, _ = run(capsys, "run", "--print-config", "--set", "seed=7")
    assert code == 0 and "name: cued_elbow" in stdout and "seed: 7" in stdout


def test_tensorboard_scalars_are_written_when_asked(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert run(capsys, "run", "paper_linear", *QUICK, "--set", "tensorboard=true", "--out", str(out))[0] == 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert len(events.Scalars("cfpc/rmse")) == 3


def test_a_directory_named_like_a_bundled_config_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper_linear").mkdir()  # e.g. an earlier --out paper_linear
    assert load_config("paper_linear").name == "paper_linear"
