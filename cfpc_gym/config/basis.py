"""The basis sections of a run config: the temporal functions of time since the cue that the
feed-forward weights multiply, told apart by their ``kind``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from .section import Section


class RaisedCosineConfig(Section):
    """Raised-cosine bumps in time since the cue (well conditioned; the default basis)."""

    kind: Literal["raised_cosine"] = "raised_cosine"
    """Which basis (the default)."""
    size: int = Field(40, ge=1)
    """Bumps per cue channel."""
    start: float = 0.0
    """Seconds after cue onset of the first bump's centre."""
    span: float = Field(1.0, gt=0)
    """Seconds from the first to the last centre."""
    overlap: float = Field(1.0, gt=0)
    """Bump half-width in centre spacings (1: bumps sum to one)."""


class AlphaConfig(Section):
    """Double-exponential (alpha) kernels with log-spaced time constants, driven by the cue."""

    kind: Literal["alpha"]
    """Which basis."""
    size: int = Field(20, ge=1)
    """Kernels per cue channel."""
    min_time_constant: float = Field(0.02, gt=0)
    """Seconds; the fastest kernel."""
    max_time_constant: float = Field(1.0, gt=0)
    """Seconds; the slowest kernel (log-spaced in between)."""
    ratio: float = Field(0.5, gt=0, lt=1)
    """Rise / decay time-constant ratio of each double exponential."""


class DelayLineConfig(Section):
    """A tapped delay line of the cue."""

    kind: Literal["delay_line"]
    """Which basis."""
    size: int = Field(40, ge=1)
    """Taps per cue channel."""
    spacing: float = Field(0.02, gt=0)
    """Seconds between taps (a whole number of control steps)."""


class TimeTableConfig(Section):
    """One basis function per control step after the cue (a lookup table, as ILC learns)."""

    kind: Literal["time_table"]
    """Which basis."""
    span: float = Field(1.0, gt=0)
    """Seconds after cue onset the table covers (one entry per control step)."""


def _basis_kind(value: Any) -> str:
    """The basis kind, raised_cosine when unstated."""
    return value.get("kind", "raised_cosine") if isinstance(value, dict) else getattr(value, "kind", None)


BasisConfig = Annotated[
    Annotated[RaisedCosineConfig, Tag("raised_cosine")]
    | Annotated[AlphaConfig, Tag("alpha")]
    | Annotated[DelayLineConfig, Tag("delay_line")]
    | Annotated[TimeTableConfig, Tag("time_table")],
    Discriminator(
        _basis_kind,
        custom_error_type="basis",
        custom_error_message="must be a mapping with a kind: raised_cosine, alpha, delay_line or time_table",
    ),
]
