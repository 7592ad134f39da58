"""The env section of a run config: which env, its arguments, and how its goal reaches the cue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .section import Section


class GoalCodeConfig(Section):
    """The cue times a code of the trial's goal and start (``cfpc_gym.envs.goal_code.GoalCode``)."""

    kind: Literal["affine", "population"] = "affine"
    """affine: [1, goal - start, start] x cue (a gain field); population: radial bases over the goal."""
    size: int = Field(5, ge=2, le=50)
    """Population code: bases per goal dimension (a grid for up to 2 dimensions)."""
    low: list[float] | None = None
    """Population code: the goal range's low end, one value per DOF (default: the reference's bounds)."""
    high: list[float] | None = None
    """Population code: the goal range's high end."""
    with_start: bool = False
    """Population code: over the goal and the start posture (a grid for one DOF), where both vary."""


class EnvConfig(Section):
    """The env every controller of the run drives."""

    id: str
    """Gymnasium id, e.g. cfpc_gym/LinearPlant-v0."""
    kwargs: dict[str, Any] = {}
    """Keyword arguments for gymnasium.make (dt, sensory_delay, ...)."""
    goal_code: GoalCodeConfig | None = None
    """Multiply the cue by a code of the trial's goal (envs whose reset info has one); null: the cue alone."""
