"""The base of every config section: unknown keys, inf and NaN refused, each field documented under it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: unknown keys, inf and NaN refused; each field documented under it."""

    # No inf or NaN in a float key: unbounded is said with null where a key allows it.
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


PerDof = float | list[float]
