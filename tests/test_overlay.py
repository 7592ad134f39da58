"""The tracking strip drawn over rendered frames: target and output lines, the cue band, lamp and tick."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from cfpc_gym.experiment.overlay import (
    CUE_BAND_COLOUR,
    CUE_COLOUR,
    LAMP_OFF_COLOUR,
    OUTPUT_COLOUR,
    TARGET_COLOUR,
    draw_tracking_strip,
    strip_layout,
)

STEPS, CUE_ON, CUE_OFF, MOVE = 50, 8, 11, 20  # the cue is on for steps 8..10; the target moves from 20


def synthetic_trial(height=120, width=160, dofs=1):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(STEPS)]
    ramp = np.clip((np.arange(STEPS) - MOVE) / 10, 0, 1)
    target = np.stack([0.5 + 0.8 * ramp * (dof + 1) for dof in range(dofs)], axis=1)
    output = np.roll(target, 5, axis=0)
    output[:5] = target[0]
    cue = np.zeros((STEPS, 1))
    cue[CUE_ON:CUE_OFF] = 1.0
    return frames, target, output, cue


def coloured(region: np.ndarray, colour) -> np.ndarray:
    return np.all(region == np.asarray(colour, dtype=region.dtype), axis=-1)


def plot_of(frame: np.ndarray) -> np.ndarray:
    layout = strip_layout(*frame.shape[:2])
    return frame[layout.plot_rows, layout.plot_columns]


def lamp_of(frame: np.ndarray) -> np.ndarray:
    layout = strip_layout(*frame.shape[:2])
    return frame[layout.lamp_rows, layout.lamp_columns]


def test_frames_keep_shape_dtype_and_the_picture_above_the_strip():
    frames, target, output, cue = synthetic_trial()
    originals = [frame.copy() for frame in frames]
    drawn = draw_tracking_strip(frames, target, output, cue)
    top = strip_layout(120, 160).top
    assert 80 <= top <= 95  # the strip covers about the lowest quarter
    assert len(drawn) == STEPS
    for frame, original, picture in zip(frames, originals, drawn, strict=True):
        assert picture.shape == original.shape and picture.dtype == np.uint8
        np.testing.assert_array_equal(picture[:top], original[:top])
        assert not np.array_equal(picture[top:], original[top:])
        np.testing.assert_array_equal(frame, original)  # the input frames are left alone


def test_target_pixels_leave_the_rest_level_once_the_target_moves_and_not_before():
    frames, target, output, cue = synthetic_trial()
    drawn = draw_tracking_strip(frames, target, output, cue)
    rest_rows = np.flatnonzero(coloured(plot_of(drawn[MOVE - 1]), TARGET_COLOUR).any(axis=1))
    assert rest_rows.size, "the target line at rest is drawn"
    for step in range(MOVE):
        rows = np.flatnonzero(coloured(plot_of(drawn[step]), TARGET_COLOUR).any(axis=1))
        assert set(rows) <= set(rest_rows), f"step {step}: target pixels off the rest level before it moved"
    moved = np.flatnonzero(coloured(plot_of(drawn[MOVE + 10]), TARGET_COLOUR).any(axis=1))
    assert moved.min() < rest_rows.min() - 10, "the target's rise is drawn upward in the strip"
    assert coloured(plot_of(drawn[MOVE + 10]), OUTPUT_COLOUR).any()


def test_the_time_axis_spans_the_whole_trial_and_shows_no_later_sample():
    frames, target, output, cue = synthetic_trial()
    drawn = draw_tracking_strip(frames, target, output, cue)
    width = plot_of(drawn[0]).shape[1]
    for step in (0, 10, 25, STEPS - 1):
        lines = coloured(plot_of(drawn[step]), TARGET_COLOUR) | coloured(plot_of(drawn[step]), OUTPUT_COLOUR)
        rightmost = np.flatnonzero(lines.any(axis=0)).max()
        assert rightmost == int(step * (width - 1) / (STEPS - 1) + 1e-9), step
    assert rightmost == width - 1


def test_the_cue_band_and_lamp_light_only_while_the_cue_is_on_and_a_tick_stays():
    frames, target, output, cue = synthetic_trial()
    drawn = draw_tracking_strip(frames, target, output, cue)
    for step, picture in enumerate(drawn):
        on = CUE_ON <= step < CUE_OFF
        band = coloured(plot_of(picture), CUE_BAND_COLOUR).any()
        tick = coloured(plot_of(picture), CUE_COLOUR).any()
        assert band == on, f"step {step}: band {'missing' if on else 'drawn'}"
        assert tick == (step >= CUE_ON), f"step {step}: the onset tick"
        lamp = CUE_COLOUR if on else LAMP_OFF_COLOUR
        assert coloured(lamp_of(picture), lamp).all(), f"step {step}: the lamp"
    # The tick sits on the time axis, at the onset's column.
    tick_columns = np.flatnonzero(coloured(plot_of(drawn[-1]), CUE_COLOUR).any(axis=0))
    width = plot_of(drawn[0]).shape[1]
    assert tick_columns.min() == int(CUE_ON * (width - 1) / (STEPS - 1))
    assert coloured(plot_of(drawn[-1])[-1], CUE_COLOUR).any()


def test_each_dof_gets_a_lane_of_its_own():
    frames, target, output, cue = synthetic_trial(dofs=2)
    plot = coloured(plot_of(draw_tracking_strip(frames, target, output, cue)[-1]), TARGET_COLOUR)
    rows = np.flatnonzero(plot.any(axis=1))
    half = plot.shape[0] // 2
    assert (rows < half).any() and (rows >= half).any()


def test_a_large_frame_gets_a_legend_above_the_chart():
    pytest.importorskip("PIL.ImageFont")
    layout = strip_layout(480, 480)
    assert layout.legend_rows is not None
    assert layout.top <= layout.legend_rows.start < layout.legend_rows.stop <= layout.plot_rows.start
    assert (
        layout.legend_rows.start <= layout.lamp_rows.start < layout.lamp_rows.stop <= layout.plot_rows.start
    )
    frames, target, output, cue = synthetic_trial(480, 480)
    picture = draw_tracking_strip(frames[:1], target[:1], output[:1], cue[:1])[0]
    legend = picture[layout.legend_rows]
    assert coloured(legend, TARGET_COLOUR).any() and coloured(legend, OUTPUT_COLOUR).any()


def test_signals_that_do_not_match_the_frames_are_refused():
    frames, target, output, cue = synthetic_trial()
    with pytest.raises(ValueError, match="samples"):
        draw_tracking_strip(frames, target[:-1], output, cue)
    with pytest.raises(ValueError, match="one shape"):
        draw_tracking_strip(frames, target, output[:, :0], cue)


# A short cued-elbow trial, small frames, in a fresh interpreter: MuJoCo picks its OpenGL backend at
# first import (MUJOCO_GL=egl).
RECORD_SCRIPT = """
import sys
import numpy as np
from cfpc_gym.config import load_config
from cfpc_gym.experiment.render import record_trial, render_trial

overrides = ["env.kwargs.render_width=160", "env.kwargs.render_height=160", "env.kwargs.trial_duration=1.2"]
config = load_config("cued_elbow", overrides)
trial = record_trial(config, 0, None, seed=0)
frames, dt = render_trial(config, 0, None, seed=0)
np.savez(sys.argv[1], raw=np.stack(trial.frames), drawn=np.stack(frames), dt=dt,
         target=trial.target, output=trial.output, cue=trial.cue)
"""


@pytest.mark.slow
def test_a_rendered_trial_shows_its_target_and_cue(tmp_path):
    environment = {**os.environ, "MUJOCO_GL": "egl"}
    path = tmp_path / "trial.npz"
    result = subprocess.run(
        [sys.executable, "-c", RECORD_SCRIPT, str(path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0 and "EGL" in result.stderr:
        pytest.skip(f"no EGL rendering here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr[-1500:]
    trial = np.load(path)
    raw, drawn, target, cue = trial["raw"], trial["drawn"], trial["target"], trial["cue"]
    assert drawn.shape == raw.shape == (120, 160, 160, 3) and drawn.dtype == raw.dtype == np.uint8
    assert target.shape == trial["output"].shape == (120, 1) and cue.shape == (120, 1)
    top = strip_layout(160, 160).top
    np.testing.assert_array_equal(drawn[:, :top], raw[:, :top])  # the picture as MuJoCo rendered it

    cue_steps = np.flatnonzero(np.any(cue != 0, axis=1))
    onset = cue_steps[0]
    for step in range(onset):
        assert not coloured(plot_of(drawn[step]), CUE_BAND_COLOUR).any(), f"step {step}: band before the cue"
        assert coloured(lamp_of(drawn[step]), LAMP_OFF_COLOUR).all()
    for step in cue_steps:
        assert coloured(plot_of(drawn[step]), CUE_BAND_COLOUR).any(), f"step {step}: no band during the cue"
        assert coloured(lamp_of(drawn[step]), CUE_COLOUR).all()

    moved = np.flatnonzero(np.abs(target[:, 0] - target[0, 0]) > 0.2)[0]
    rest_rows = set(np.flatnonzero(coloured(plot_of(drawn[0]), TARGET_COLOUR).any(axis=1)))
    assert rest_rows, "the target's first sample is drawn"
    for step in range(moved):
        rows = np.flatnonzero(coloured(plot_of(drawn[step]), TARGET_COLOUR).any(axis=1))
        assert set(rows) <= rest_rows or np.abs(target[step, 0] - target[0, 0]) > 1e-6, step
    rows = np.flatnonzero(coloured(plot_of(drawn[-1]), TARGET_COLOUR).any(axis=1))
    assert rows.min() < min(rest_rows) - 10, "the target's move is drawn"
