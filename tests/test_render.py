"""cfpc-gym render writes a playable video of a trained controller, headless."""

import os
import subprocess
import sys

import numpy as np
import pytest

from cfpc_gym.cli import main


def cli(*argv: str, cwd) -> subprocess.CompletedProcess:
    """In a fresh interpreter: MuJoCo picks its OpenGL backend at first import (MUJOCO_GL=egl)."""
    env = {**os.environ, "MUJOCO_GL": "egl"}
    return subprocess.run(
        [sys.executable, "-m", "cfpc_gym.cli", *argv], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_render_writes_a_playable_video_of_moving_frames(tmp_path):
    # Two envs: the video films the first, with its rows of the batched state.
    run = cli("run", "cued_elbow", "--set", "trials=1", "--set", "envs=2", "--out", "run", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-1500:]
    render = cli("render", "run", "--out", "trial.mp4", cwd=tmp_path)
    if render.returncode != 0 and "EGL" in render.stderr:
        pytest.skip(f"no EGL rendering here: {render.stderr.strip().splitlines()[-1]}")
    assert render.returncode == 0, render.stderr[-1500:]
    assert "weights from run" in render.stdout
    imageio = pytest.importorskip("imageio.v3")
    frames = imageio.imread(tmp_path / "trial.mp4")
    assert frames.shape[0] == 200 and frames.shape[-1] == 3  # one frame per control step of the 2 s trial
    assert frames.std(axis=(1, 2, 3)).min() > 5, "blank frames"
    assert np.abs(frames[150].astype(float) - frames[0]).mean() > 1, "the arm did not move"


def test_an_env_without_a_renderer_is_refused(tmp_path, capsys, recwarn):
    code = main(["render", "paper_linear", "--out", str(tmp_path / "v.gif")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot render" in err and err.count("\n") == 1
    assert not [w for w in recwarn if "render_mode" in str(w.message)], "refused before making the env"
    assert not (tmp_path / "v.gif").exists()


def test_render_refuses_to_overwrite_and_unknown_formats(tmp_path, capsys):
    existing = tmp_path / "v.mp4"
    existing.write_bytes(b"keep")
    assert main(["render", "cued_elbow", "--out", str(existing)]) == 2
    assert main(["render", "cued_elbow", "--out", str(tmp_path / "v.avi")]) == 2
    assert main(["render", "cued_elbow", "--out", str(tmp_path / "missing" / "v.gif")]) == 2
    assert main(["render", "cued_elbow", "--seed", "-1", "--out", str(tmp_path / "v.gif")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "must end in .mp4 or .gif" in err
    assert "the directory" in err and "does not exist" in err and "expected a whole number >= 0" in err
    assert err.count("\n") == 4 and existing.read_bytes() == b"keep" and not (tmp_path / "v.gif").exists()


def test_a_link_at_the_videos_temporary_name_is_not_written_through(tmp_path):
    from cfpc_gym.experiment.render import write_video

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".trial.partial.gif").symlink_to(victim)
    write_video([np.zeros((8, 8, 3), np.uint8)] * 2, tmp_path / "trial.gif", fps=10)
    assert victim.read_text() == "keep me"
    assert (tmp_path / "trial.gif").stat().st_size > 0 and not (tmp_path / ".trial.partial.gif").exists()
