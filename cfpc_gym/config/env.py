"""The env section of a run config: which env, its arguments, and how its goal reaches the cue."""

from __future__ import annotations

from typing import Any

from .section import Section


class EnvConfig(Section):
    """The env every controller of the run drives."""

    id: str
    """Gymnasium id, e.g. cfpc_gym/LinearPlant-v0."""
    kwargs: dict[str, Any] = {}
    """Keyword arguments for gymnasium.make (dt, sensory_delay, ...)."""
