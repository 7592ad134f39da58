"""The command line fuzzed: one seeded case generator and one case runner, shared by the CI test
(tests/test_fuzz.py) and the larger benchmark (benchmarks/fuzz_cli.py).

Four families of cases:

- ``key``: a bundled run config with one key set to a wrong type, NaN, inf, a huge, empty, zero or
  negative value (``--set``).
- ``yaml``: a bundled config file's text mutated at the byte and line level (a line deleted,
  duplicated, swapped or re-indented; a character, tab, NUL byte, invalid UTF-8 or a YAML tag
  inserted; the file truncated; a mapping turned into a list; an anchor and alias; a long line).
- ``path``: odd ``--out`` paths, CONFIG arguments and render sources (files, full directories,
  symbolic links, FIFOs, names too long, empty, with a newline, under a file, misspelt).
- ``rundir``: a finished run copied and damaged (files deleted, truncated, corrupted, edited,
  replaced by a directory or a symbolic link), then ``run --resume`` or ``render``.

Each case runs in a fresh folder that is hashed before and after (every file, directory, link and
its target). It must end in exit 0 with a sane result, or exit 2 with one line on stderr; never a
traceback or a hang (``TIMEOUT`` seconds); a refused case changes nothing, and a finished one
changes nothing outside ``--out`` (nor ``--out`` itself when it was in use, unless ``--force``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# MuJoCo picks its OpenGL backend at first import: rendering in this process works only if that
# import is still to come (else a render that should finish runs in a fresh interpreter).
IN_PROCESS_GL = "mujoco" not in sys.modules or os.environ.get("MUJOCO_GL") == "egl"
os.environ.setdefault("MUJOCO_GL", "egl")

import yaml  # noqa: E402

from cfpc_gym.cli import main as cli  # noqa: E402
from cfpc_gym.config import bundled_config_path, bundled_names, dump_config, load_config  # noqa: E402

TIMEOUT = 120  # seconds a case may take before it counts as a hang
QUICK = ["--set", "trials=1"]
SKIPPED = {"myo_elbow"}  # needs the myosuite extra (as does every config of a cfpc_gym/Myo* env)
RUN_CONFIG = "eyeblink"  # the finished run the ``rundir`` cases damage: small and quick
OUTCOMES = ("ran", "one-line refusal", "traceback", "hang", "changed outside --out")
MUTATIONS = [
    "x",
    "[1, 2]",
    "{a: 1}",
    ".nan",
    ".inf",
    "-.inf",
    "1e300",
    "-1",
    "0",
    "''",
    "null",
    "true",
    "3.5",
]


@dataclass(frozen=True)
class Case:
    """One fuzz case: its family, a kind within it and the parameters that make it.

    Attributes:
        family: ``key``, ``yaml``, ``path`` or ``rundir``.
        kind: What the case does, e.g. ``out=symlink-dir --force``.
        params: The rest (a config name, a key, a seed), fixed by the generator's seed.
        expect: ``ran``, ``refused``, or None where either is right.
        renders: The case may render frames (seconds each; the CI test leaves those out).
    """

    family: str
    kind: str
    params: tuple = ()
    expect: str | None = None
    renders: bool = False

    @property
    def id(self) -> str:
        text = "-".join(str(p) for p in (self.family, self.kind, *self.params))
        return text.encode("unicode_escape").decode()[:90]


@dataclass
class Setup:
    """What a case runs, in its folder: ``argv``; ``out``, the one path it may change when it
    finishes (``None``: none); ``used``: ``out`` held data before (so it may change only with
    ``--force``); ``check``: is the finished result sane."""

    argv: list[str]
    out: Path | None = None
    used: bool = False
    check: Callable[[], bool] = field(default=lambda: True)


@contextlib.contextmanager
def deadline(seconds: int):
    """Raise ``TimeoutError`` in the main thread after ``seconds`` (SIGALRM)."""

    def hang(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- the generator ---------------------------------------------------------------------------------


def run_configs() -> list[str]:
    """The bundled run configs this machine can run (MyoSuite's need the extra)."""
    return [n for n in bundled_names() if n not in SKIPPED and "/Myo" not in load_config(n).env.id]


def keys(data, prefix: str = ""):
    """Every dotted key of a resolved config, lists by index."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        path = f"{prefix}{key}"
        yield path
        yield from keys(value, path + ".")


def key_cases(count: int, seed: int = 0) -> list[Case]:
    """Family ``key``: one key of a bundled config set to a wrong value."""
    rng = random.Random(seed)
    every = [(n, k) for n in run_configs() for k in keys(yaml.safe_load(dump_config(load_config(n))))]
    return [Case("key", "set", (*rng.choice(every), rng.choice(MUTATIONS))) for _ in range(count)]


YAML_MUTATIONS = (
    "delete-line",
    "duplicate-line",
    "swap-lines",
    "indent",
    "char",
    "tab",
    "nul",
    "invalid-utf8",
    "tag",
    "truncate",
    "to-list",
    "anchor-alias",
    "long-line",
)
TAGS = (
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!python/object/apply:os.system [ls]",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!timestamp 2001-12-14",
    "!!str",
    "!!int",
    "!custom",
)


def yaml_cases(count: int, seed: int = 0) -> list[Case]:
    """Family ``yaml``: a bundled config file's text mutated, run for one trial."""
    rng = random.Random(seed)
    names = run_configs()
    return [
        Case("yaml", rng.choice(YAML_MUTATIONS), (rng.choice(names), rng.randrange(1 << 30)))
        for _ in range(count)
    ]


def mutate_yaml(raw: bytes, kind: str, rng: random.Random) -> bytes:
    """The text of a config file with one mutation of ``kind``."""
    lines = raw.split(b"\n")
    at = rng.randrange(len(lines))
    line = lines[at]
    cut = rng.randrange(len(line) + 1)
    if kind == "delete-line":
        del lines[at]
    elif kind == "duplicate-line":
        lines.insert(at, line)
    elif kind == "swap-lines":
        other = rng.randrange(len(lines))
        lines[at], lines[other] = lines[other], line
    elif kind == "indent":
        lines[at] = rng.choice([b" ", b"  ", b"    ", b"\t", b"      "]) + line
        if rng.random() < 0.5:
            lines[at] = line.lstrip()
    elif kind in ("char", "tab", "nul", "invalid-utf8", "tag"):
        inserted = {
            "char": bytes([rng.randrange(32, 127)]),
            "tab": b"\t",
            "nul": b"\0",
            "invalid-utf8": rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]),
            "tag": rng.choice(TAGS).encode() + b" ",
        }[kind]
        if kind == "tag" and b": " in line:  # the tag before a value
            cut = line.index(b": ") + 2
        lines[at] = line[:cut] + inserted + line[cut:]
    elif kind == "truncate":
        return raw[: rng.randrange(len(raw))]
    elif kind == "to-list":
        if rng.random() < 0.5:  # the whole top level a list
            lines = [b"- " + x if x and not x[:1].isspace() and not x.startswith(b"#") else x for x in lines]
        else:
            lines[at] = b"- " + line
    elif kind == "anchor-alias":
        values = [i for i, x in enumerate(lines) if b": " in x and not x.lstrip().startswith(b"#")]
        if values:
            first = rng.choice(values)
            head, _, tail = lines[first].partition(b": ")
            lines[first] = head + b": &a " + tail
            second = rng.choice(values)
            head, _, _ = lines[second].partition(b": ")
            lines[second] = head + b": *a"
    elif kind == "long-line":
        size = rng.choice([300, 70_000, 2_000_000])
        filler = rng.choice([b"#" + b"x" * size, b"name: " + b"x" * size, b"x" * size])
        lines.insert(at, filler)
    else:
        raise ValueError(kind)
    return b"\n".join(lines)


RUN_OUTS = (  # (kind, expect): the kinds of --out of a run
    ("file", "refused"),
    ("full-dir", "refused"),
    ("full-dir --force", "ran"),
    ("symlink-dir", "refused"),
    ("symlink-dir --force", "refused"),
    ("dangling-symlink --force", "refused"),
    ("under-file", "refused"),
    ("under-symlinked-dir", "ran"),
    ("long-name", "refused"),
    ("long-name-nested", "refused"),
    ("empty", "refused"),
    ("newline", "ran"),
    ("newline-under-file", "refused"),
    ("invalid-utf8-name", "ran"),
    ("fifo", "refused"),
    ("missing-parents", "ran"),
    ("missing-parents refused-config", "refused"),
    ("full-dir --force symlinked-checkpoints", "refused"),
)
CONFIG_ARGS = (  # (kind, expect): CONFIG arguments of a run
    ("directory", "refused"),
    ("/dev/null", "refused"),
    ("/dev/zero", "refused"),
    ("empty-file", "refused"),
    ("fifo", "refused"),
    ("misspelt-name", "refused"),
    ("missing.yaml", "refused"),
    ("newline-name", "refused"),
    ("symlink-to-config", "ran"),
    ("directory-named-like-a-bundled-one", "ran"),
)
RENDER_OUTS = (  # (kind, expect, renders): the kinds of --out of a render
    ("file", "refused", False),
    ("file --force", "ran", True),
    ("directory", "refused", False),
    ("directory --force", "refused", False),
    ("symlink-file", "refused", False),
    ("symlink-file --force", "ran", True),
    ("dangling-symlink", "refused", False),
    ("symlink-dir --force", "refused", False),
    ("under-file", "refused", False),
    ("missing-dir", "refused", False),
    ("long-name", "refused", False),
    ("empty", "refused", False),
    ("newline", "ran", True),
    ("newline-under-file", "refused", False),
    ("wrong-suffix", "refused", False),
    ("fifo", "refused", False),
)
RENDER_SOURCES = (  # (kind, expect): render sources that are no run and no config
    ("directory-without-config", "refused"),
    ("/dev/null", "refused"),
    ("empty-file", "refused"),
    ("fifo", "refused"),
    ("misspelt-name", "refused"),
    ("empty", "refused"),
)


def path_cases(count: int, seed: int = 0) -> list[Case]:
    """Family ``path``: odd paths for --out, CONFIG and render; every kind once, then at random."""
    rng = random.Random(seed)
    every = (
        [Case("path", f"run --out={k}", (), e) for k, e in RUN_OUTS]
        + [Case("path", f"run CONFIG={k}", (), e) for k, e in CONFIG_ARGS]
        + [Case("path", f"render --out={k}", (), e, r) for k, e, r in RENDER_OUTS]
        + [Case("path", f"render SOURCE={k}", (), e) for k, e in RENDER_SOURCES]
    )
    names = run_configs()
    renderable = [n for n in names if "LinearPlant" not in load_config(n).env.id]  # no frames to draw
    cases = []
    for i in range(count):  # drawn one by one: more cases extend the same sequence
        c = every[i] if i < len(every) else rng.choice(every)
        config = rng.choice(renderable if c.kind.startswith("render") else names)
        cases.append(Case(c.family, c.kind, (config, rng.randrange(1 << 30)), c.expect, c.renders))
    return cases


DAMAGES = (  # (target, damage, expected of resume, expected of render)
    ("config.yaml", "delete", "refused", "refused"),
    ("config.yaml", "truncate", None, None),
    ("config.yaml", "corrupt", None, None),
    ("config.yaml", "directory", "refused", "refused"),
    ("config.yaml", "symlink", "ran", "ran"),
    ("config.yaml", "basis-size", "refused", "refused"),
    ("config.yaml", "more-trials", "ran", "ran"),
    ("metrics.json", "delete", "ran", "ran"),
    ("metrics.json", "truncate", "ran", "ran"),
    ("metrics.json", "corrupt", "ran", "ran"),
    ("metrics.json", "directory", "refused", "ran"),
    ("metrics.json", "symlink", "ran", "ran"),
    ("metrics.json", "temporary-symlink", "ran", "ran"),
    ("checkpoints/cfpc.pt", "delete", "ran", "refused"),
    ("checkpoints/cfpc.pt", "truncate", "refused", "refused"),
    ("checkpoints/cfpc.pt", "corrupt", None, None),  # a byte torch never reads may change
    ("checkpoints/cfpc.pt", "directory", "refused", "refused"),
    ("checkpoints/cfpc.pt", "symlink", "ran", "ran"),
    ("checkpoints/delayed.pt", "truncate", "refused", "ran"),
    ("checkpoints/delayed.pt", "symlink-and-more-trials", "ran", "ran"),
    ("checkpoints", "delete", "ran", "refused"),
    ("checkpoints", "file", "refused", "refused"),
    ("checkpoints", "symlink", "refused", "ran"),
    ("checkpoints", "symlink-and-more-trials", "refused", "ran"),
    ("checkpoints", "foreign-checkpoint", "refused", "ran"),
    ("run-dir", "chmod-000", "refused", "refused"),
)


def rundir_cases(count: int, seed: int = 0) -> list[Case]:
    """Family ``rundir``: a finished run damaged, then resumed or rendered; every damage resumed
    once, then at random."""
    rng = random.Random(seed)
    every = [
        Case(
            "rundir", f"{command} {target}:{damage}", (), expect, command == "render" and expect != "refused"
        )
        for target, damage, resume, render in DAMAGES
        for command, expect in (("resume", resume), ("render", render))
    ]
    first = [c for c in every if c.kind.startswith("resume")]
    cases = []
    for i in range(count):  # drawn one by one: more cases extend the same sequence
        c = first[i] if i < len(first) else rng.choice(every)
        cases.append(Case(c.family, c.kind, (rng.randrange(1 << 30),), c.expect, c.renders))
    return cases


FAMILIES = {"key": key_cases, "yaml": yaml_cases, "path": path_cases, "rundir": rundir_cases}


# --- making a case -----------------------------------------------------------------------------------


def finished_run(folder: Path) -> Path:
    """A finished run of ``RUN_CONFIG`` (one trial) in ``folder``/run, for the ``rundir`` cases."""
    out = folder / "run"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = cli(["run", RUN_CONFIG, *QUICK, "--out", str(out)])
    assert code == 0, err.getvalue()
    return out


def _user_files(folder: Path) -> None:
    """What a user might have around: a file, a full directory, links to both, a dangling link."""
    (folder / "precious.txt").write_bytes(b"keep me\n")
    (folder / "full").mkdir()
    (folder / "full" / "notes.txt").write_bytes(b"mine\n")
    (folder / "elsewhere").mkdir()
    (folder / "elsewhere" / "data.txt").write_bytes(b"theirs\n")
    (folder / "link").symlink_to(folder / "elsewhere")
    (folder / "filelink.gif").symlink_to(folder / "precious.txt")
    (folder / "dangling").symlink_to(folder / "nothing")
    (folder / "dangling.gif").symlink_to(folder / "nothing.gif")
    os.mkfifo(folder / "fifo")
    os.mkfifo(folder / "fifo.gif")


def _metrics_ok(run_dir: Path) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return bool(json.loads((run_dir / "metrics.json").read_text()))
        except (OSError, ValueError):
            return False

    return check


def _video_ok(video: Path) -> Callable[[], bool]:
    return lambda: video.is_file() and not video.is_symlink() and video.read_bytes()[:3] == b"GIF"


def _misspelt(name: str, rng: random.Random) -> str:
    at = rng.randrange(len(name))
    misspelt = name[:at] + rng.choice("aeiouxz_") + name[at + 1 :]
    return misspelt if misspelt not in bundled_names() else misspelt + "x"


def setup_case(case: Case, folder: Path, source_run: Path | None) -> Setup:
    """Make what ``case`` needs in ``folder`` (the working directory) and say what it runs."""
    params = case.params
    if case.family == "key":
        config, key, value = params
        out = folder / "out"
        argv = ["run", config, "--set", f"{key}={value}", *QUICK, "--out", str(out)]
        return Setup(argv, out, check=_metrics_ok(out))
    if case.family == "yaml":
        config, seed = params
        raw = bundled_config_path(config).read_bytes()
        path = folder / f"{config}.yaml"
        path.write_bytes(mutate_yaml(raw, case.kind, random.Random(seed)))
        out = folder / "out"
        return Setup(["run", str(path), *QUICK, "--out", str(out)], out, check=_metrics_ok(out))
    if case.family == "path":
        return _setup_path(case, folder, *params)
    if case.family == "rundir":
        if source_run is None:
            raise ValueError("rundir cases need a finished run")
        return _setup_rundir(case, folder, source_run, *params)
    raise ValueError(case.family)


def _setup_path(case: Case, folder: Path, config: str, seed: int) -> Setup:
    rng = random.Random(seed)
    _user_files(folder)
    command, _, what = case.kind.partition(" ")
    what, _, value = what.partition("=")
    value, *flags = value.split(" ")
    force = ["--force"] if "--force" in flags else []
    if command == "run" and what == "--out":
        out = {
            "file": folder / "precious.txt",
            "full-dir": folder / "full",
            "symlink-dir": folder / "link",
            "dangling-symlink": folder / "dangling",
            "under-file": folder / "precious.txt" / "run",
            "under-symlinked-dir": folder / "link" / "run",
            "long-name": folder / ("x" * 256),
            "long-name-nested": folder / "new" / ("x" * 300) / "run",
            "empty": Path(""),
            "newline": folder / "a\nrun",
            "newline-under-file": folder / "precious.txt" / "a\nrun",
            "invalid-utf8-name": folder / os.fsdecode(b"run-\xff\xfe"),
            "fifo": folder / "fifo",
            "missing-parents": folder / "a" / "b" / "run",
        }[value]
        argv = ["run", config, *QUICK, "--out", str(out), *force]
        if "refused-config" in flags:  # refused only once the controllers are built
            argv[3:3] = ["--set", "basis.size=100000000"]
        if "symlinked-checkpoints" in flags:
            (folder / "elsewhere" / "stale.pt").write_bytes(b"not mine to delete")
            (folder / "full" / "checkpoints").symlink_to(folder / "elsewhere")
        used = value == "full-dir"
        return Setup(argv, out, used=used, check=_metrics_ok(out))
    if command == "run" and what == "CONFIG":
        out = folder / "out"
        if value == "directory":
            source = str(folder / "full")
        elif value in ("/dev/null", "/dev/zero"):
            source = value
        elif value == "empty-file":
            (folder / "empty.yaml").write_bytes(b"")
            source = str(folder / "empty.yaml")
        elif value == "fifo":
            source = str(folder / "fifo")
        elif value == "misspelt-name":
            source = _misspelt(config, rng)
        elif value == "missing.yaml":
            source = f"{config}.yaml"
        elif value == "newline-name":
            source = f"{config}\n{config}"
        elif value == "symlink-to-config":
            shutil.copy(bundled_config_path(config), folder / "elsewhere" / "config.yaml")
            (folder / "config-link.yaml").symlink_to(folder / "elsewhere" / "config.yaml")
            source = str(folder / "config-link.yaml")
        elif value == "directory-named-like-a-bundled-one":
            (folder / config).mkdir()
            source = config
        else:
            raise ValueError(value)
        return Setup(["run", source, *QUICK, "--out", str(out)], out, check=_metrics_ok(out))
    if command == "render" and what == "--out":
        out = {
            "file": folder / "video.gif",
            "directory": folder / "clip.gif",
            "symlink-file": folder / "filelink.gif",
            "dangling-symlink": folder / "dangling.gif",
            "symlink-dir": folder / "dirlink.gif",
            "under-file": folder / "precious.txt" / "trial.gif",
            "missing-dir": folder / "missing" / "trial.gif",
            "long-name": folder / ("x" * 300 + ".gif"),
            "empty": Path(""),
            "newline": folder / "a\ntrial.gif",
            "newline-under-file": folder / "precious.txt" / "a\ntrial.gif",
            "wrong-suffix": folder / "trial.avi",
            "fifo": folder / "fifo.gif",
        }[value]
        (folder / "video.gif").write_bytes(b"GIF89a not really")
        (folder / "clip.gif").mkdir()
        (folder / "dirlink.gif").symlink_to(folder / "elsewhere")
        argv = ["render", config, "--out", str(out), *force]
        return Setup(argv, out, used=value in ("file", "symlink-file", "fifo"), check=_video_ok(out))
    if command == "render" and what == "SOURCE":
        source = {
            "directory-without-config": str(folder / "full"),
            "/dev/null": "/dev/null",
            "empty-file": str(folder / "empty.yaml"),
            "fifo": str(folder / "fifo"),
            "misspelt-name": _misspelt(config, rng),
            "empty": "",
        }[value]
        (folder / "empty.yaml").write_bytes(b"")
        out = folder / "trial.gif"
        return Setup(["render", source, "--out", str(out)], out, check=_video_ok(out))
    raise ValueError(case.kind)


def _setup_rundir(case: Case, folder: Path, source_run: Path, seed: int) -> Setup:
    rng = random.Random(seed)
    command, _, what = case.kind.partition(" ")
    target, _, damage = what.partition(":")
    run_dir = folder / "run"
    shutil.copytree(source_run, run_dir, symlinks=True)
    (folder / "elsewhere").mkdir()
    path = run_dir / target
    config = run_dir / "config.yaml"
    if damage == "delete":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif damage == "truncate":
        raw = path.read_bytes()
        path.write_bytes(raw[: rng.randrange(len(raw))])
    elif damage == "corrupt":
        raw = path.read_bytes()
        if target == "config.yaml":
            path.write_bytes(mutate_yaml(raw, rng.choice(YAML_MUTATIONS), rng))
        else:
            data = bytearray(raw)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            path.write_bytes(bytes(data))
    elif damage == "directory":
        path.unlink()
        path.mkdir()
        (path / "inside.txt").write_bytes(b"left alone\n")
    elif damage == "file":
        shutil.rmtree(path)
        path.write_bytes(b"not a folder\n")
    elif damage.startswith("symlink"):  # the real thing moved elsewhere, a link in its place
        moved = folder / "elsewhere" / path.name
        shutil.move(path, moved)
        path.symlink_to(moved)
        if damage.endswith("more-trials"):  # resuming would write through the link
            config.write_text(config.read_text().replace("trials: 1\n", "trials: 2\n"))
    elif damage == "temporary-symlink":  # where the rewrite of metrics.json goes first
        (folder / "elsewhere" / "precious.txt").write_bytes(b"keep me\n")
        (run_dir / f".{path.name}.tmp").symlink_to(folder / "elsewhere" / "precious.txt")
    elif damage == "basis-size":
        config.write_text(config.read_text().replace("size: 30\n", "size: 20\n"))
    elif damage == "more-trials":
        config.write_text(config.read_text().replace("trials: 1\n", "trials: 2\n"))
    elif damage == "foreign-checkpoint":
        shutil.copy(run_dir / "checkpoints" / "cfpc.pt", run_dir / "checkpoints" / "other.pt")
    elif damage == "chmod-000":
        (run_dir / "checkpoints" / "cfpc.pt").chmod(0)
        config.chmod(0)
    else:
        raise ValueError(damage)
    if command == "resume":
        return Setup(["run", "--resume", str(run_dir)], run_dir, check=_metrics_ok(run_dir))
    video = folder / "trial.gif"
    return Setup(["render", str(run_dir), "--out", str(video)], video, check=_video_ok(video))


# --- running a case ----------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``, links not followed: its type and content (a hash) or target."""
    entries = {}
    for here, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(here, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                entries[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as stream:
                    entries[path] = ("file", hashlib.sha256(stream.read()).hexdigest(), info.st_mode)
            else:
                entries[path] = (stat.S_IFMT(info.st_mode), info.st_mode)
    return entries


def _changed(before: dict, after: dict, allowed: Callable[[str], bool]) -> list[str]:
    names = {*before, *after}
    return sorted(n for n in names if before.get(n) != after.get(n) and not allowed(n))


def _cli(argv: list[str], folder: Path, in_process: bool) -> tuple[str, int, str]:
    """(``"done"``, exit code, stderr), or (``"hang"``/``"traceback"``, 0, last line)."""
    if not in_process:  # a fresh interpreter that renders with MUJOCO_GL=egl
        command = [sys.executable, "-m", "cfpc_gym.cli", *argv]
        environment = {**os.environ, "MUJOCO_GL": "egl"}
        try:
            done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return "hang", 0, ""
        err = done.stderr.decode(errors="backslashreplace")
        if "Traceback (most recent call last)" in err:
            return "traceback", 0, err.strip().splitlines()[-1]
        return "done", done.returncode, err
    err = io.StringIO()
    try:
        with deadline(TIMEOUT), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli(argv)
    except TimeoutError:
        return "hang", 0, ""
    except Exception:  # a traceback: the detail is its last lines
        return "traceback", 0, " | ".join(traceback.format_exc().strip().splitlines()[-3:])
    return "done", code, err.getvalue()


def run_case(case: Case, folder: Path | None = None, source_run: Path | None = None) -> tuple[str, str]:
    """Run one case in ``folder`` (a fresh temporary one if None), as the working directory:
    (outcome, detail), the outcome one of ``OUTCOMES`` or another word for a wrong ending."""
    if folder is None:
        with tempfile.TemporaryDirectory() as temporary:
            return run_case(case, Path(temporary), source_run)
    here = os.getcwd()
    os.chdir(folder)
    try:
        setup = setup_case(case, folder, source_run)
        before = snapshot(folder)
        in_process = IN_PROCESS_GL or not case.renders
        status, code, err = _cli(setup.argv, folder, in_process)
        after = snapshot(folder)
    finally:
        os.chdir(here)
        with contextlib.suppress(OSError):
            for path in folder.rglob("*"):  # chmod-000 cases: let the folder be removed
                if not path.is_symlink():
                    path.chmod(0o700)
    if status != "done":
        return status, err
    out = os.path.realpath(setup.out) if setup.out is not None and str(setup.out) else None
    log = os.path.join(str(folder), "MUJOCO_LOG.TXT")
    forced = "--force" in setup.argv or not setup.used

    def inside_out(name: str) -> bool:
        if name == log:
            return True
        if code != 0 or out is None:
            return False
        if name not in before and os.path.isdir(name) and out.startswith(name + os.sep):
            return True  # a parent that --out needed
        return forced and (name == out or name.startswith(out + os.sep))

    changed = _changed(before, after, inside_out)
    if changed:
        return "changed outside --out", f"exit {code}: " + ", ".join(
            os.path.relpath(n, folder) for n in changed[:4]
        )
    one_line = err.startswith("error: ") and err.count("\n") == 1
    if code == 2 and one_line:
        outcome = "one-line refusal"
    elif code == 0 and setup.check():
        outcome = "ran"
    else:
        return f"exit {code}", err.strip()[-300:]
    if case.expect is not None and outcome != {"ran": "ran", "refused": "one-line refusal"}[case.expect]:
        return f"{outcome}, not {case.expect}", err.strip()[-300:]
    return outcome, ""


def is_root() -> bool:
    return os.geteuid() == 0


def applicable(case: Case) -> bool:
    """Whether the case means anything here: root reads and writes through permission bits."""
    return not (is_root() and "chmod-000" in case.kind)
