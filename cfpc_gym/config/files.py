"""Config files: where the bundled ones are, reading YAML safely, and ``--set`` overrides.

Reading is bounded: a config must be a regular file of at most ``MAX_CONFIG_BYTES``, nested at
most ``MAX_DEPTH`` deep, without YAML aliases (which can expand exponentially), and a key given
twice is an error (PyYAML would keep the last one silently). Every problem is a ``ConfigError``
of one line.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

DEFAULT_CONFIG = "cued_elbow"
SWITCHED_BY_KIND = ("basis", "reference_model")  # sections whose keys depend on their kind
MAX_CONFIG_BYTES = 1_000_000
MAX_DEPTH = 50
RUN_CONFIGS = "cfpc_gym.configs"
PATH_KWARGS = ("model",)  # env arguments that name a file: relative ones are the config file's
PACKAGE_PATH = re.compile(r"^[A-Za-z_][\w.]*:(?!//)")  # "gymnasium.envs.mujoco:assets/reacher.xml"
BENCH_CONFIGS = "cfpc_gym.configs.bench"


def bundled_config_path(name: str, package: str = RUN_CONFIGS) -> Path:
    """A config shipped with the package.

    Args:
        name: Its stem, e.g. ``paper_linear``.
        package: ``RUN_CONFIGS``, or ``BENCH_CONFIGS`` for bench and sweep configs.

    Returns:
        The path of the YAML file (it may not exist).
    """
    return Path(str(files(package) / f"{name}.yaml"))


def bundled_names(package: str = RUN_CONFIGS) -> list[str]:
    """The bundled configs of a kind.

    Args:
        package: ``RUN_CONFIGS`` or ``BENCH_CONFIGS``.

    Returns:
        Their stems, sorted.
    """
    return sorted(p.name.removesuffix(".yaml") for p in files(package).iterdir() if p.name.endswith(".yaml"))


def bundled_run_configs() -> list[Path]:
    """The bundled run configs.

    Returns:
        Their paths, sorted by file name.
    """
    return [bundled_config_path(name) for name in bundled_names()]


class SafeConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded: no key given twice, no aliases, no deep nesting, no
    unhashable keys.

    Args:
        stream: The YAML text (as for ``yaml.SafeLoader``).
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not supported in configs", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:  # a mapping or list used as a key
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a mapping or list", key_node.start_mark
                ) from None
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> Any:
    """YAML parsed by ``SafeConfigLoader``.

    Args:
        text: The YAML text.
        where: The source, for the error message (a path, ``--set key``).

    Returns:
        The parsed value.

    Raises:
        ConfigError: malformed YAML, with line and column; or a value its explicit tag cannot read
            (``!!int none``, ``!!timestamp x``), which PyYAML raises as a bare ``ValueError`` or
            ``TypeError``.
    """
    try:
        return yaml.load(text, Loader=SafeConfigLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed YAML in {where}{at}: {problem}") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):  # PyYAML's own, unwrapped
        raise ConfigError(
            f"malformed YAML in {where}: a value its tag (!!int, !!float, !!bool, !!timestamp, !!set, ...) "
            "cannot read"
        ) from None


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML config file.

    Args:
        path: A regular file of UTF-8 YAML, at most ``MAX_CONFIG_BYTES``.

    Returns:
        The parsed mapping.

    Raises:
        ConfigError: the file is missing, not a regular file, too large, not UTF-8, malformed, or
            not a mapping.
    """
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"config {path} is not a regular file")
        with open(path, "rb") as stream:  # read at most one byte past the limit: /dev/zero stops here
            raw = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {(exc.strerror or str(exc)).lower()}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path} is larger than {MAX_CONFIG_BYTES:,} bytes; is it a config?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config {path}: not UTF-8 text") from None
    data = parse_yaml(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set`` override to a config's data, in place.

    Args:
        data: The config as read from YAML.
        assignment: ``dotted.key=value``; list items by index (``controllers.1.learning_rate``);
            the value is parsed as YAML (numbers, lists, mappings). Setting the ``kind`` of a basis
            or reference model to another kind drops the old kind's keys (set the new kind's
            after it).

    Raises:
        ConfigError: the assignment is malformed or its key path does not fit ``data``.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected dotted.key=value")
    try:
        value = parse_yaml(raw, f"--set {key}")
    except ConfigError:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML") from None
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key}: {here} is not an index of a list of {len(node)}")
            index: int | str = int(part)
        elif isinstance(node, dict):
            index = part
            if not last and index not in node:
                node[index] = {}
        else:
            raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping or list")
        if last:
            switched = part == "kind" and depth and parts[depth - 1] in SWITCHED_BY_KIND
            if switched and isinstance(node, dict) and node.get("kind") != value:
                node.clear()  # another kind of basis or reference model: the old kind's keys go
            node[index] = value
        else:
            node = node[index]


def resolve_config(path: str | Path | None, default: str, package: str = RUN_CONFIGS) -> Path:
    """The file of a config.

    Args:
        path: A YAML path, the bare name of a bundled config of ``package``, or None.
        default: The bundled config to use when ``path`` is None.
        package: ``RUN_CONFIGS`` or ``BENCH_CONFIGS``.

    Returns:
        The path to read.

    Raises:
        ConfigError: a bare name that is neither a file nor bundled (the bundled ones listed).
    """
    if path is None:
        return bundled_config_path(default, package)
    path = Path(path)
    if not path.is_file() and path.suffix == "" and path.name in bundled_names(package):
        return bundled_config_path(path.name, package)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        names = ", ".join(bundled_names(package))
        raise ConfigError(f"config {str(path)!r} is neither a file nor a bundled config ({names})")
    return path


def read_config(
    path: str | Path | None, overrides: Iterable[str], default: str, package: str = RUN_CONFIGS
) -> dict[str, Any]:
    """A config's data, not yet validated.

    Args:
        path: As for ``resolve_config``.
        overrides: ``dotted.key=value`` assignments, applied in order.
        default: The bundled config to use when ``path`` is None.
        package: ``RUN_CONFIGS`` or ``BENCH_CONFIGS``.

    Returns:
        The mapping read from YAML, overrides applied.
    """
    source = resolve_config(path, default, package)
    data = read_yaml(source)
    anchor_paths(data, source.parent)
    for assignment in overrides:
        apply_override(data, assignment)
    anchor_paths(data, Path.cwd())  # a path given by --set is the shell's
    return data


def anchor_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the env's relative file arguments (``PATH_KWARGS``) absolute against ``folder``, in place.

    Args:
        data: A config as read from YAML.
        folder: The config file's folder (a path in a file is the file's), or the working directory
            (a path given by ``--set`` is the shell's). Absolute paths and ``package:path`` are kept.
    """
    env = data.get("env")
    kwargs = env.get("kwargs") if isinstance(env, dict) else None
    if not isinstance(kwargs, dict):
        return
    for name in PATH_KWARGS:
        value = kwargs.get(name)
        relative = isinstance(value, str) and value and not Path(value).is_absolute()
        if relative and not PACKAGE_PATH.match(value):
            kwargs[name] = str(folder / value)
