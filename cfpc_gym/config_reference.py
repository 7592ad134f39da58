"""The config reference (docs/CONFIG.md), generated from the typed config models so it cannot drift.

Every key of a run config (``schema.py``) and of a bench or sweep config (``bench/config.py``):
its type, its default and the docstring written under it. ``python -m cfpc_gym.config_reference``
prints the page; ``tests/test_docs.py`` checks that docs/CONFIG.md is exactly that output.

Example:
    >>> from cfpc_gym.config_reference import reference_markdown
    >>> page = reference_markdown()
    >>> page.startswith("# Config reference")
    True
"""

from __future__ import annotations

import inspect
import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .bench.config import BenchConfig
from .config.files import BENCH_CONFIGS, bundled_names
from .config.schema import RunConfig

REGENERATE = "python -m cfpc_gym.config_reference > docs/CONFIG.md"

INTRO = f"""\
# Config reference

Every key of a run config (`cfpc-gym run`) and of a bench or sweep config (`cfpc-gym bench`,
`cfpc-gym sweep`): its type, its default and what it means. This page is generated from the typed
config models (`cfpc_gym/config/schema.py`, `cfpc_gym/bench/config.py`) by
`{REGENERATE}`; edit the docstrings under the fields there, not this page
(`tests/test_docs.py` fails when the two differ).

- A config is a YAML file, or the name of a bundled one. `cfpc-gym run --print-config` prints a run
  config as it will run, every default written out.
- `--set dotted.key=value` overrides one key before validation: list items by index
  (`--set controllers.1.learning_rate=0.05`), the value read as YAML (`--set 'tasks=[paper_linear]'`).
- Unknown keys, wrong types and out-of-range values stop the command before anything runs, with one
  line naming the key (exit code 2). Numbers written as strings (`"1e-3"`) are read as numbers; inf
  and NaN are refused in every float key (`null` says "unbounded" where a key allows it).
- A section whose type is a choice of several is picked by its `kind` key.
"""

RUN_PART = """\
## Run configs

Bundled (`cfpc-gym run NAME`): {names}. Top-level keys first, then each section in the order it
first appears; `controllers.N` is the N-th entry (from 0) of the `controllers` list.
"""

BENCH_PART = """\
## Bench and sweep configs

Bundled (`cfpc-gym bench NAME`, `cfpc-gym sweep NAME`): {names}. A bench runs every method on every
task (a run config above, by bundled name or path) for several seeds; a sweep adds a `grid`.
"""


def reference_markdown() -> str:
    """The config reference page: one table per config section, run configs then bench configs.

    Returns:
        The markdown of docs/CONFIG.md, ending in one newline.
    """
    # The bench config belongs to the bench workflow; only this page reads it from here.

    parts = [
        INTRO,
        RUN_PART.format(names=_names(bundled_names())),
        *(section_markdown(model, paths) for model, paths in config_sections(RunConfig)),
        BENCH_PART.format(names=_names(bundled_names(BENCH_CONFIGS))),
        *(section_markdown(model, paths) for model, paths in config_sections(BenchConfig)),
    ]
    return "\n".join(parts)


def config_sections(root: type[BaseModel]) -> list[tuple[type[BaseModel], list[str]]]:
    """Every config section reachable from a root model, each with the dotted keys it sits at.

    Args:
        root: The top-level model, e.g. ``RunConfig``.

    Returns:
        ``(model, paths)`` pairs in the order the models first appear in a depth-first walk of the
        fields; the root's path is ``""``, a list item's ``N``, a mapping entry's key (or ``NAME``).
    """
    found: dict[type[BaseModel], list[str]] = {}

    def visit(model: type[BaseModel], path: str) -> None:
        found.setdefault(model, [])
        if path in found[model]:
            return
        found[model].append(path)
        for name, info in model.model_fields.items():
            for child_path, child in _nested_models(info.annotation, f"{path}.{name}".lstrip(".")):
                visit(child, child_path)

    visit(root, "")
    return list(found.items())


def type_text(annotation: Any) -> str:
    """A field's type in words, with links to the sections it refers to.

    Args:
        annotation: The type annotation (``FieldInfo.annotation``).

    Returns:
        For example ``float or list of float``, ```rest`, `trajectory` or `movement```, or
        ``[ForwardModelConfig](#forwardmodelconfig)``.
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_text(args[0])
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        text = _either([type_text(a) for a in options])
        if all(_kind(_unwrapped(a)) for a in options) and len(options) > 1:
            text += " (by `kind`)"
        return text + (" or null" if len(options) < len(args) else "")
    if origin is Literal:
        return _either([f"`{_value_text(a)}`" for a in args])
    if origin is list:
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}" if args else "mapping"
    if annotation is Any:
        return "any"
    if _is_model(annotation):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def default_text(info: FieldInfo) -> str:
    """A field's default as it would be written in YAML.

    Args:
        info: The field.

    Returns:
        ``required``, ``all defaults`` for a nested section left at its defaults, or the value in
        backticks (``null``, ``true``, ``0.001``, ``[]``).
    """
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        kind = getattr(value, "kind", None)
        return f"`{{kind: {kind}}}`" if kind else "all defaults"
    return f"`{_value_text(value)}`"


def constraint_text(info: FieldInfo) -> str:
    """A field's bounds, e.g. ``>= 1``, ``> 0, <= 1``, ``at least 1 long``.

    Args:
        info: The field.

    Returns:
        The bounds in words, empty when there are none.
    """
    words = {"ge": ">= {}", "gt": "> {}", "le": "<= {}", "lt": "< {}", "min_length": "at least {} long"}
    found = []
    for item in info.metadata:
        for attribute, word in words.items():
            value = getattr(item, attribute, None)
            if value is not None:
                found.append(word.format(_value_text(value)))
    return ", ".join(found)


def section_markdown(model: type[BaseModel], paths: list[str]) -> str:
    """One config section: an anchor, its heading, its docstring's first paragraph, a table of keys.

    Args:
        model: The section's model.
        paths: The dotted keys it sits at (``""`` for the top level), as ``config_sections`` gives.

    Returns:
        Markdown ending in one newline: a row per field with its key, type (and bounds), default and
        description (the docstring under the field).
    """
    where = ", ".join(f"`{p}`" for p in paths if p) or "Top level"
    kind = model.model_fields.get("kind")
    tag = get_args(kind.annotation) if kind is not None and get_origin(kind.annotation) is Literal else ()
    heading = f"{where} with `kind: {tag[0]}`" if len(tag) == 1 else where
    lines = [f'<a id="{model.__name__.lower()}"></a>', "", f"### {heading} ({model.__name__})", ""]
    summary = _summary(model)
    if summary:
        lines += [summary, ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        kind_text = type_text(info.annotation)
        bounds = constraint_text(info)
        cells = [f"`{name}`", kind_text + (f"; {bounds}" if bounds else ""), default_text(info)]
        cells.append(" ".join((info.description or "").split()))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _summary(model: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring, on one line (empty when it has none)."""
    doc = model.__dict__.get("__doc__")
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()) if doc else ""


def _nested_models(annotation: Any, path: str):
    """The config sections a field holds, with their paths: through unions, lists and mappings."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        yield from _nested_models(args[0], path)
    elif origin in (Union, types.UnionType):
        for option in args:
            yield from _nested_models(option, path)
    elif origin is list and args:
        yield from _nested_models(args[0], f"{path}.N")
    elif origin is dict and args:
        keys = get_args(args[0]) if get_origin(args[0]) is Literal else ("NAME",)
        for key in keys:
            yield from _nested_models(args[1], f"{path}.{key}")
    elif _is_model(annotation):
        yield path, annotation


def _unwrapped(annotation: Any) -> Any:
    """The type inside any ``Annotated[...]`` layers."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _kind(annotation: Any) -> bool:
    """Whether a model is one of several picked by its ``kind`` key."""
    return _is_model(annotation) and "kind" in annotation.model_fields


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def _value_text(value: Any) -> str:
    """A value as YAML writes it inline: null, true, 0.001, [1, 2], {a: 1}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value)


def _names(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


if __name__ == "__main__":
    print(reference_markdown(), end="")
