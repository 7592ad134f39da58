"""A strip chart drawn over the bottom of rendered frames: target, output and cue of the trial so far.

The strip darkens the lower ``fraction`` of each frame (the scene stays faintly visible through it)
and plots, on a time axis as long as the whole trial, each tracked DOF's target and output in a lane
of its own scaled to that DOF's target range. While any cue channel is nonzero a band over the cue's
columns and a lamp light up; a tick on the time axis marks each cue onset for the rest of the trial.
Drawing is numpy only; Pillow renders the legend's words once, if its default font loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TARGET_COLOUR = (255, 190, 0)
OUTPUT_COLOUR = (0, 200, 255)
CUE_COLOUR = (255, 60, 200)
CUE_BAND_COLOUR = (120, 35, 100)  # the cue's colour, muted: the lines stay readable across it
LAMP_OFF_COLOUR = (70, 70, 70)
AXIS_COLOUR = (150, 150, 150)
PANEL_COLOUR = (12, 12, 16)
PANEL_OPACITY = 0.6  # the scene shows through the strip at 40 %
RANGE_MARGIN = 0.15  # of the target's range, above and below it
FLAT_SPAN = 0.1  # half-height of a lane whose target never moves, in the target's units


@dataclass(frozen=True)
class StripLayout:
    """Where the strip's parts sit in a frame, as row and column slices of the frame.

    Attributes:
        top: First row of the strip; rows above it are left as rendered.
        plot_rows, plot_columns: The chart: lanes of lines, the cue band; the time axis on its last row.
        lamp_rows, lamp_columns: The cue lamp, lit while any cue channel is nonzero.
        legend_rows: The legend's row of words, or None where no font loads or it does not fit.
    """

    top: int
    plot_rows: slice
    plot_columns: slice
    lamp_rows: slice
    lamp_columns: slice
    legend_rows: slice | None


@dataclass(frozen=True)
class _Legend:
    colour: np.ndarray  # (rows, width, 3) float
    alpha: np.ndarray  # (rows, width, 1) float in [0, 1]
    lamp_column: int  # where the lamp goes, after the last word's swatch space


def strip_layout(height: int, width: int, fraction: float = 0.25) -> StripLayout:
    """The strip's layout in a ``height`` x ``width`` frame.

    Args:
        height: Frame height, pixels.
        width: Frame width, pixels.
        fraction: Share of the frame's height the strip covers, from the bottom.

    Returns:
        The ``StripLayout``: strip top, chart, lamp and legend positions.
    """
    strip = max(8, min(height, round(height * fraction)))
    top = height - strip
    pad = max(1, strip // 24)
    legend = _legend(height, width, fraction)
    if legend is not None:
        rows = legend.alpha.shape[0]
        legend_rows = slice(top + pad, top + pad + rows)
        lamp = max(3, rows - 2)
        lamp_top = top + pad + (rows - lamp) // 2
        lamp_rows = slice(lamp_top, lamp_top + lamp)
        lamp_columns = slice(legend.lamp_column, legend.lamp_column + lamp)
        plot_top = legend_rows.stop + pad
    else:
        legend_rows = None
        lamp = max(3, strip // 6)
        lamp_rows = slice(top + pad, top + pad + lamp)
        lamp_columns = slice(width - pad - lamp, width - pad)
        plot_top = top + pad
    # Without a legend row the lamp takes the strip's top-right corner, beside the chart.
    plot_right = width - pad if legend is not None else lamp_columns.start - pad
    return StripLayout(
        top=top,
        plot_rows=slice(plot_top, height - pad),
        plot_columns=slice(pad, plot_right),
        lamp_rows=lamp_rows,
        lamp_columns=lamp_columns,
        legend_rows=legend_rows,
    )


def draw_tracking_strip(
    frames: Sequence[np.ndarray],
    target: np.ndarray,
    output: np.ndarray,
    cue: np.ndarray,
    fraction: float = 0.25,
) -> list[np.ndarray]:
    """Frames with the tracking strip drawn over their bottom; frame ``k`` shows samples ``0..k``.

    Args:
        frames: The trial's RGB frames, all one shape (H, W, 3), uint8; left unchanged.
        target: (T, D) the desired output at each frame's step, T = ``len(frames)``.
        output: (T, D) the true output at each frame's step.
        cue: (T, M) the cue channels at each frame's step.
        fraction: Share of the frame's height the strip covers, from the bottom.

    Returns:
        New frames of the same shape and dtype; rows above ``strip_layout(...).top`` as given.

    Raises:
        ValueError: signals whose length is not the number of frames, or frames of unequal shape.
    """
    count = len(frames)
    if count == 0:
        return []
    target, output = _as_samples(target, count, "target"), _as_samples(output, count, "output")
    cue = _as_samples(cue, count, "cue")
    if target.shape != output.shape:
        raise ValueError(f"target {target.shape} and output {output.shape} must have one shape")
    height, width = frames[0].shape[:2]
    if any(frame.shape != frames[0].shape for frame in frames):
        raise ValueError("every frame must have one shape")
    layout = strip_layout(height, width, fraction)
    plot_height = layout.plot_rows.stop - layout.plot_rows.start
    plot_width = layout.plot_columns.stop - layout.plot_columns.start
    columns = _sample_columns(count, plot_width)
    thickness = max(1, plot_height // 45)
    lanes = _lane_scales(target, plot_height)
    target_mask = _line_mask(target, lanes, columns, plot_height, plot_width, thickness)
    output_mask = _line_mask(output, lanes, columns, plot_height, plot_width, thickness + 1)
    cue_on = np.any(cue != 0, axis=1)
    onsets = np.flatnonzero(cue_on & ~np.concatenate([[False], cue_on[:-1]]))
    band_columns = _band_columns(cue_on, columns, plot_width)
    tick_height, tick_width = max(3, plot_height // 6), max(1, plot_width // 200)
    legend = _legend(height, width, fraction)

    drawn = []
    for step, frame in enumerate(frames):
        picture = np.array(frame, copy=True)
        strip = picture[layout.top :].astype(np.float64)
        strip = strip * (1 - PANEL_OPACITY) + np.asarray(PANEL_COLOUR) * PANEL_OPACITY
        picture[layout.top :] = np.clip(np.rint(strip), 0, 255).astype(picture.dtype)
        if legend is not None:
            rows = picture[layout.legend_rows]
            rows[:] = np.rint(rows * (1 - legend.alpha) + legend.colour * legend.alpha).astype(picture.dtype)
        plot = picture[layout.plot_rows, layout.plot_columns]
        shown = columns[step] + 1  # columns up to this step's; none shows a later sample
        if cue_on[step]:  # the band is lit while the cue is on
            start = columns[onsets[onsets <= step][-1]]
            plot[:, start:shown][:, band_columns[start:shown]] = CUE_BAND_COLOUR
        plot[-1, :] = AXIS_COLOUR
        plot[:, :shown][output_mask[:, :shown]] = OUTPUT_COLOUR
        plot[:, :shown][target_mask[:, :shown]] = TARGET_COLOUR
        for onset in onsets[onsets <= step]:
            plot[-tick_height:, columns[onset] : columns[onset] + tick_width] = CUE_COLOUR
        lamp = CUE_COLOUR if cue_on[step] else LAMP_OFF_COLOUR
        picture[layout.lamp_rows, layout.lamp_columns] = lamp
        drawn.append(picture)
    return drawn


def _as_samples(values: np.ndarray, count: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    values = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} samples for {count} frames")
    return values


def _sample_columns(count: int, plot_width: int) -> np.ndarray:
    """Each sample's plot column: the whole trial spans the plot. Rounded down, so that a column
    never shows a sample later than the frame's own."""
    if count == 1:
        return np.zeros(1, dtype=int)
    return np.floor(np.arange(count) * (plot_width - 1) / (count - 1) + 1e-9).astype(int)


def _lane_scales(target: np.ndarray, plot_height: int) -> list[tuple[int, int, float, float]]:
    """Per DOF: its lane's top and bottom row in the plot (the axis row excluded) and the value
    range it spans, the target's range widened by the margin."""
    dofs = target.shape[1]
    edges = np.linspace(0, plot_height - 1, dofs + 1).round().astype(int)
    lanes = []
    for dof in range(dofs):
        low, high = float(np.min(target[:, dof])), float(np.max(target[:, dof]))
        margin = RANGE_MARGIN * (high - low) if high - low > 1e-9 else FLAT_SPAN
        top, bottom = edges[dof] + (1 if dof else 0), max(edges[dof], edges[dof + 1] - 2)
        lanes.append((top, bottom, low - margin, high + margin))
    return lanes


def _line_mask(
    values: np.ndarray,
    lanes: list[tuple[int, int, float, float]],
    columns: np.ndarray,
    plot_height: int,
    plot_width: int,
    thickness: int,
) -> np.ndarray:
    """(plot_height, plot_width) bool: each DOF's values as a connected line through its lane."""
    rows = np.arange(plot_height)[:, None]
    mask = np.zeros((plot_height, plot_width), dtype=bool)
    # Each column's position in samples, interpolated between the samples at or before it.
    position = np.interp(np.arange(plot_width), columns, np.arange(len(columns)))
    for dof, (top, bottom, low, high) in enumerate(lanes):
        value = np.interp(position, np.arange(len(columns)), values[:, dof])
        row = bottom - (value - low) / (high - low) * (bottom - top)
        row = np.clip(np.rint(row), top, bottom).astype(int)
        previous = np.concatenate([row[:1], row[:-1]])
        upper, lower = np.minimum(row, previous), np.maximum(row, previous)
        line = (rows >= upper - thickness // 2) & (rows <= lower + (thickness - 1) // 2)
        mask |= line & (rows >= top) & (rows <= bottom)
    return mask


def _band_columns(cue_on: np.ndarray, columns: np.ndarray, plot_width: int) -> np.ndarray:
    """(plot_width,) bool: the columns of samples with the cue on, each to the next sample's column."""
    band = np.zeros(plot_width, dtype=bool)
    ends = np.append(columns[1:], plot_width)
    for start, end in zip(columns[cue_on], ends[cue_on], strict=True):
        band[start : max(end, start + 1)] = True
    return band


@lru_cache(maxsize=8)
def _legend(height: int, width: int, fraction: float) -> _Legend | None:
    """The legend's words and swatches as a colour and alpha layer, or None without a font or room."""
    strip = max(8, min(height, round(height * fraction)))
    font = _font(max(9, strip // 9))
    if font is None:
        return None
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox("targetoutputcue")
    rows = bottom - top + 4
    if strip - rows < 32:  # too little room left for the chart
        return None
    pad, swatch, gap = max(1, strip // 24), 2 * rows, rows
    layer = Image.new("RGBA", (width, rows), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    x = pad + 2
    for word, colour in (("target", TARGET_COLOUR), ("output", OUTPUT_COLOUR)):
        draw.line([(x, rows // 2), (x + swatch - 4, rows // 2)], fill=(*colour, 255), width=max(2, rows // 6))
        x += swatch
        draw.text((x, 2 - top), word, font=font, fill=(*colour, 255))
        x += round(font.getlength(word)) + gap
    draw.text((x, 2 - top), "cue", font=font, fill=(*CUE_COLOUR, 255))
    lamp_column = x + round(font.getlength("cue")) + rows // 2
    if lamp_column + rows > width - pad:
        return None
    pixels = np.asarray(layer, dtype=np.float64)
    return _Legend(colour=pixels[..., :3], alpha=pixels[..., 3:] / 255.0, lamp_column=lamp_column)


@lru_cache(maxsize=8)
def _font(size: int):
    """Pillow's default font at ``size`` (FreeType, Pillow >= 10.1), else its fixed bitmap font,
    else None."""
    try:
        from PIL import ImageFont
    except ImportError:
        return None
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # older Pillow, or one built without FreeType
        pass
    try:
        return ImageFont.load_default()
    except OSError:
        return None
