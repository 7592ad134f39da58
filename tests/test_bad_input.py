"""Bad paths and damaged files end in one line and exit 2; nothing the user had is changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cfpc_gym.cli import main

QUICK = ["--set", "trials=1"]


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def one_line(err: str, *fragments: str) -> bool:
    return err.count("\n") == 1 and err.startswith("error: ") and all(f in err for f in fragments)


@pytest.mark.parametrize("out", ["/proc/cfpc-gym-test", "/proc/self/cfpc-gym-test/run"])
def test_an_out_directory_that_cannot_be_made_is_one_line(capsys, out):
    code, err = run(capsys, "run", "paper_linear", *QUICK, "--out", out)
    assert code == 2 and one_line(err, "--out", "cannot write to")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_an_out_directory_without_write_permission_is_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, err = run(capsys, "run", "paper_linear", *QUICK, "--out", str(locked / "run"))
    assert code == 2 and one_line(err, "--out", "permission denied")


def test_a_symbolic_link_as_out_is_refused(tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    code, err = run(capsys, "run", "paper_linear", *QUICK, "--out", str(tmp_path / "link"), "--force")
    assert code == 2 and one_line(err, "symbolic link")
    assert list(target.iterdir()) == []


def test_a_basis_that_cannot_fit_is_refused_up_front_with_its_size(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = run(capsys, "run", "paper_linear", "--set", "basis.size=100000000", "--out", str(out))
    assert code == 2 and one_line(err, "basis:", "GiB", "available")
    assert not out.exists(), "a refused run leaves no directory behind"


def test_more_envs_than_a_sync_vector_env_can_step_are_refused(capsys):
    code, err = run(capsys, "run", "paper_linear", "--set", "envs=1000000", "--print-config")
    assert code == 2 and one_line(err, "envs:", "10000")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: Path("/dev/zero"), "not a regular file"),
        (lambda d: d, "not a regular file"),
        (lambda d: (d / "big.yaml").write_text("#" * 2_000_000) and d / "big.yaml", "larger than"),
        (lambda d: (os.mkfifo(d / "fifo.yaml"), d / "fifo.yaml")[1], "not a regular file"),
        (
            lambda d: (d / "key.yaml").write_text("{a: 1}: 2\n") and d / "key.yaml",
            "a key must be a plain value",
        ),
        (lambda d: (d / "deep.yaml").write_text("a: " + "[" * 200 + "]" * 200) and d / "deep.yaml", "nested"),
        (
            lambda d: (d / "alias.yaml").write_text("a: &x [1, 2]\nb: [*x, *x]\n") and d / "alias.yaml",
            "aliases",
        ),
        (lambda d: (d / "list.yaml").write_text("[1, 2]\n") and d / "list.yaml", "must be a mapping"),
    ],
)
def test_config_files_that_are_not_configs_are_one_line(tmp_path, capsys, make, expected):
    code, err = run(capsys, "run", str(make(tmp_path)), "--out", str(tmp_path / "out"))
    assert code == 2 and one_line(err, expected)
    assert not (tmp_path / "out").exists()


def test_a_misspelt_config_name_lists_the_bundled_ones(capsys):
    code, err = run(capsys, "run", "paper_lineer", "--print-config")
    assert code == 2 and one_line(err, "paper_lineer", "paper_linear", "cued_elbow")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["run", "cued_elbow", "--set", "trials=1", "--out", str(out)]) == 0
    return out


def test_render_with_a_damaged_checkpoint_is_one_line(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "checkpoints" / "cfpc.pt").write_bytes(b"\x80\x02 not a checkpoint")
    code, err = run(capsys, "render", str(run_dir), "--out", str(tmp_path / "trial.gif"))
    assert code == 2 and one_line(err, "cfpc.pt", "corrupted")
    assert not (tmp_path / "trial.gif").exists()


def test_resume_of_a_run_whose_config_was_edited_is_one_line(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    config = (run_dir / "config.yaml").read_text().replace("size: 40", "size: 30")
    (run_dir / "config.yaml").write_text(config.replace("trials: 1", "trials: 2"))
    before = (run_dir / "checkpoints" / "cfpc.pt").read_bytes()
    code, err = run(capsys, "run", "--resume", str(run_dir))
    assert code == 2 and one_line(err, "--resume: checkpoint", "does not fit", "config.yaml edited")
    assert (run_dir / "checkpoints" / "cfpc.pt").read_bytes() == before


@pytest.mark.slow
def test_render_force_replaces_a_symbolic_link_instead_of_writing_through_it(finished_run, tmp_path):
    precious = tmp_path / "precious.gif"
    precious.write_bytes(b"keep me")
    link = tmp_path / "trial.gif"
    link.symlink_to(precious)
    # A fresh interpreter: MuJoCo picks its OpenGL backend at first import (MUJOCO_GL=egl).
    argv = [sys.executable, "-m", "cfpc_gym.cli", "render", str(finished_run), "--out", str(link), "--force"]
    done = subprocess.run(argv, env={**os.environ, "MUJOCO_GL": "egl"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert precious.read_bytes() == b"keep me"
    assert not link.is_symlink() and link.read_bytes()[:3] == b"GIF"


def test_switching_the_basis_kind_with_set_drops_the_old_kinds_keys(capsys):
    code = main(
        ["run", "paper_linear", "--set", "basis.kind=alpha", "--set", "basis.size=10", "--print-config"]
    )
    printed = capsys.readouterr().out
    assert (
        code == 0
        and "kind: alpha" in printed
        and "span:" not in printed.split("basis:")[1].split("controllers")[0]
    )


def test_controller_names_that_would_share_a_checkpoint_file_are_refused(capsys):
    names = "controllers=[{name: a b, rule: none}, {name: A_b, rule: none}]"
    code, err = run(capsys, "run", "paper_linear", "--set", names, "--print-config")
    assert code == 2 and one_line(err, "'a b' and 'A_b' name the same checkpoint file")


def test_resume_refuses_checkpoints_no_controller_owns(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    shutil.copy(run_dir / "checkpoints" / "cfpc.pt", run_dir / "checkpoints" / "1.pt")  # an older naming
    code, err = run(capsys, "run", "--resume", str(run_dir))
    assert code == 2 and one_line(err, "--resume:", "no configured controller (1.pt)")


@pytest.mark.parametrize(
    ("config", "assignment", "expected"),
    [  # found by benchmarks/fuzz_cli.py: each was a traceback or a warning on stderr
        ("eyeblink", "controllers.2.trace_delay=1e300", "controllers.2.trace_delay:"),
        ("paper_linear", "feedback.kd=1e300", "controllers.1.forward_model:"),
        ("elbow_delays", "controllers.3.learning_rate=1e300", "controllers.3.learning_rate:"),
        ("force_field", "basis.spacing=1e300", "basis:"),
    ],
)
def test_absurd_sizes_found_by_fuzzing_are_one_line(tmp_path, capsys, config, assignment, expected):
    code, err = run(
        capsys, "run", config, "--set", assignment, "--set", "trials=1", "--out", str(tmp_path / "o")
    )
    assert code == 2 and one_line(err, expected)


def test_the_safeguard_copies_a_state_with_extra_entries(tmp_path, capsys):
    # The arm's controller state holds a non-tensor entry; the safeguard's copy must take it.
    argv = ["run", "force_field", "--set", "safeguard_factor=1e300", "--set", "trials=2"]
    code, err = run(capsys, *argv, "--out", str(tmp_path / "o"))
    assert code == 0, err


def test_absurd_gains_of_a_reference_model_are_one_line_without_warnings(tmp_path, capsys):
    key = "controllers.2.gain_adaptation.reference_model.ki=1e300"
    code, err = run(capsys, "run", "elbow_gain_adaptation", "--set", key, "--out", str(tmp_path / "o"))
    assert code == 2 and one_line(err, "controllers.2.gain_adaptation.reference_model:")


# --- found by the path and run-directory families of benchmarks/fuzz_cli.py -------------------------


@pytest.mark.parametrize("flag", ["--out", "--resume"])
def test_an_empty_path_is_refused_not_taken_for_the_working_directory(tmp_path, capsys, flag):
    argv = ["run", "--resume", ""] if flag == "--resume" else ["run", "paper_linear", *QUICK, "--out", ""]
    code, err = run(capsys, *argv)
    assert code == 2 and one_line(err, flag, "an empty path")
    assert list(tmp_path.iterdir()) == []


def test_a_path_with_a_newline_is_still_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    code, err = run(capsys, "run", "paper_linear", *QUICK, "--out", str(tmp_path / "file" / "a\nrun"))
    assert code == 2 and one_line(err, "is a file", "a\\nrun")


def test_a_refused_run_leaves_no_parent_directories_behind(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "run"
    code, err = run(capsys, "run", "paper_linear", "--set", "basis.size=100000000", "--out", str(out))
    assert code == 2 and one_line(err, "basis:")
    assert list(tmp_path.iterdir()) == []


def test_force_never_deletes_or_writes_through_a_linked_checkpoints_folder(tmp_path, capsys):
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "run"
    elsewhere.mkdir()
    (elsewhere / "stale.pt").write_bytes(b"not mine to delete")
    out.mkdir()
    (out / "checkpoints").symlink_to(elsewhere)
    code, err = run(capsys, "run", "eyeblink", *QUICK, "--out", str(out), "--force")
    assert code == 2 and one_line(err, "--out", "checkpoints is a symbolic link")
    assert [p.name for p in elsewhere.iterdir()] == ["stale.pt"]
    assert (elsewhere / "stale.pt").read_bytes() == b"not mine to delete"


def test_resume_never_writes_through_a_linked_checkpoints_folder(finished_run, tmp_path, capsys):
    run_dir, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    shutil.copytree(finished_run, run_dir)
    shutil.move(run_dir / "checkpoints", elsewhere)
    (run_dir / "checkpoints").symlink_to(elsewhere)
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("trials: 1\n", "trials: 2\n"))
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    code, err = run(capsys, "run", "--resume", str(run_dir))
    assert code == 2 and one_line(err, "--resume", "checkpoints is a symbolic link")
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before


def test_resume_refuses_a_directory_where_it_writes_a_file_before_any_work(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "metrics.json").unlink()
    (run_dir / "metrics.json").mkdir()
    code, err = run(capsys, "run", "--resume", str(run_dir))
    assert code == 2 and err.count("\n") == 1 and one_line(err, "metrics.json is a directory")
    assert not list(run_dir.glob(".*.tmp"))


def test_render_refuses_a_dangling_symbolic_link_without_force(finished_run, tmp_path, capsys):
    link = tmp_path / "trial.gif"
    link.symlink_to(tmp_path / "elsewhere.gif")
    code, err = run(capsys, "render", str(finished_run), "--out", str(link))
    assert code == 2 and one_line(err, "already exists", "--force")
    assert link.is_symlink() and not (tmp_path / "elsewhere.gif").exists()


def test_an_atomic_write_never_writes_through_a_link_at_its_temporary_name(tmp_path):
    from cfpc_gym.io import write_atomic

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (tmp_path / ".metrics.json.tmp").symlink_to(precious)
    write_atomic(tmp_path / "metrics.json", "{}\n")
    assert precious.read_text() == "keep me" and (tmp_path / "metrics.json").read_text() == "{}\n"
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "folder", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "metrics.json", "precious.txt"]


@pytest.mark.parametrize(
    "text",
    ["a: !!int none\n", "a: !!timestamp x\n", "a: !!float x\n", "a: !!bool maybe\n", "a: !!set [1]\n"],
)
def test_a_value_its_yaml_tag_cannot_read_is_one_line(tmp_path, capsys, text):
    # Found by the yaml family of benchmarks/fuzz_cli.py: PyYAML raised a bare ValueError.
    (tmp_path / "tagged.yaml").write_text(text)
    code, err = run(capsys, "run", str(tmp_path / "tagged.yaml"), "--out", str(tmp_path / "out"))
    assert code == 2 and one_line(err, "malformed YAML", "tag")
    code, err = run(capsys, "run", "paper_linear", "--set", f"trials={text[3:].strip()}", "--print-config")
    assert code == 2 and one_line(err, "--set trials", "not valid YAML")


def test_tensorboard_without_its_package_is_refused_before_anything_is_written(tmp_path, capsys):
    # Found by the key family of benchmarks/fuzz_cli.py: the refusal left --out and its config.yaml.
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorboard is installed")
    out = tmp_path / "out"
    code, err = run(capsys, "run", "eyeblink", *QUICK, "--set", "tensorboard=true", "--out", str(out))
    assert code == 2 and one_line(err, "tensorboard")
    assert not out.exists()


@pytest.mark.parametrize(
    ("config", "assignment", "expected"),
    [  # found by benchmarks/fuzz_cli.py: float32 gains overflowed; numpy warned before the line
        ("gain_adaptation", "controllers.3.gain_adaptation.max_gain=1e300", "max_gain: Input should be less"),
        (
            "elbow_gain_adaptation",
            "controllers.2.gain_adaptation.learning_rate=[1, 1e300, 1]",
            "learning rates must be in",
        ),
        ("gain_adaptation", "env.kwargs.dt=.inf", "dt must be a finite number > 0"),
    ],
)
def test_sizes_that_overflow_are_refused_in_one_line(tmp_path, capsys, config, assignment, expected):
    assert main(["run", config, "--set", assignment, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err
