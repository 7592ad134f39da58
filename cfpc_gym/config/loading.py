"""From YAML data to validated configs, with pydantic's errors turned into one line naming the key."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .files import DEFAULT_CONFIG, read_config
from .schema import RunConfig

Model = TypeVar("Model", bound=BaseModel)
TAGGED = ("basis", "reference_model")  # keys whose value is a union told apart by its kind
TYPE_NAMES = ("float", "int", "str", "bool", "none")


def key_path(loc: tuple) -> str:
    """The dotted config key of a pydantic error location.

    Args:
        loc: The error's ``loc``.

    Returns:
        The key without the union members pydantic adds (a tag such as ``alpha`` after
        ``basis``, a type such as ``float`` or ``list[float]``); ``config`` for the top level.
    """
    keys = [
        str(p)
        for i, p in enumerate(loc)
        if not (i and loc[i - 1] in TAGGED) and not (isinstance(p, str) and (p in TYPE_NAMES or "[" in p))
    ]
    return ".".join(keys) or "config"


def one_line(error: ValidationError) -> str:
    """A validation error in one line.

    Args:
        error: pydantic's error.

    Returns:
        ``key: problem (got value)`` for the deepest error (for a union of a scalar or a list:
        the member that got furthest), with a count of the others.
    """
    first = max(error.errors(), key=lambda e: len(e["loc"]))
    loc = key_path(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif "input" in first and first["type"] != "missing" and not isinstance(first["input"], dict | list):
        message += f" (got {first['input']!r})"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{loc}: {message}{more}"


def validated(model: type[Model], data: dict[str, Any]) -> Model:
    """Validate data into a config model.

    Args:
        model: A config model class (``RunConfig``, ``ControllerConfig``, ``BenchConfig``, ...).
        data: The mapping to validate.

    Returns:
        The validated model.

    Raises:
        ConfigError: one line naming the key.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(one_line(exc)) from None


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> RunConfig:
    """Read, override and validate a run config.

    Args:
        path: A YAML file, the name of a bundled config (``paper_linear``), or None for the
            embedded default (``cued_elbow``).
        overrides: ``dotted.key=value`` assignments applied before validation.

    Returns:
        The validated ``RunConfig``.

    Raises:
        ConfigError: one line naming the key or file at fault.

    Example:
        >>> config = load_config("paper_linear", ["trials=5"])
        >>> config.trials
        5
    """
    return validate_config(read_config(path, overrides, DEFAULT_CONFIG))


def validate_config(data: dict[str, Any]) -> RunConfig:
    """Validate a run config's data.

    Args:
        data: A mapping, as read from YAML.

    Returns:
        The ``RunConfig``.

    Raises:
        ConfigError: one line naming the key.
    """
    return validated(RunConfig, data)


def dump_config(config: BaseModel) -> str:
    """A config as YAML.

    Args:
        config: A validated config.

    Returns:
        YAML text with every default written out (what ``--print-config`` shows).
    """
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
