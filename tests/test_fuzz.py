"""Seeded fuzzing of the command line: every key of every bundled run config mutated to wrong types,
NaN, inf, huge, empty and negative values. Each case ends in exit 0 (a run that finished) or exit 2
with one line; never a traceback, a hang, or a file written outside ``--out``."""

from __future__ import annotations

import random
import signal
from contextlib import contextmanager

import pytest
import yaml

from cfpc_gym.cli import main
from cfpc_gym.config import bundled_names, dump_config, load_config

CASES = 120  # per CI run; the seed makes them the same every time (benchmarks/fuzz_cli.py: more)
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
SKIPPED = {"myo_elbow"}  # needs the myosuite extra


def keys(data, prefix: str = ""):
    """Every dotted key of a resolved config, lists by index."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        path = f"{prefix}{key}"
        yield path
        yield from keys(value, path + ".")


def cases(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    names = [n for n in bundled_names() if n not in SKIPPED]
    every = [(n, k) for n in names for k in keys(yaml.safe_load(dump_config(load_config(n))))]
    return [(*rng.choice(every), rng.choice(MUTATIONS)) for _ in range(count)]


@contextmanager
def deadline(seconds: int):
    def hang(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("config", "key", "value"), cases(CASES))
def test_a_mutated_key_ends_in_a_run_or_one_line(tmp_path, monkeypatch, capsys, config, key, value):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["run", config, "--set", f"{key}={value}", "--set", "trials=1", "--out", str(out)]
    with deadline(120):
        code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert not out.exists(), "a refused run leaves nothing behind"
    else:
        assert (out / "metrics.json").is_file()
    assert {p.name for p in tmp_path.iterdir()} <= {"out", "MUJOCO_LOG.TXT"}, "wrote outside --out"
