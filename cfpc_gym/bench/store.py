"""A bench's finished cells on disk: appended one JSON line at a time, read back by ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError
from .cells import CellResult, key

CELLS = "cells.jsonl"
BENCH_FILE = "bench.yaml"


def save_cell(out: Path, profile: str, result: CellResult) -> None:
    """Append one finished cell to ``out/cells.jsonl``: a crash or a kill loses no finished work."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / CELLS, "a") as stream:
        stream.write(json.dumps({**result.to_dict(), "profile": profile}) + "\n")


def load_cells(out: Path, profile: str) -> dict[tuple, CellResult]:
    """The cells a killed run finished (``out/cells.jsonl``), by key."""
    path, done = out / CELLS, {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    except (OSError, UnicodeDecodeError):
        raise CheckpointError(f"{path} is unreadable; delete it to rerun every cell") from None
    for number, line in enumerate(lines, start=1):
        try:
            data = json.loads(line)
            result = CellResult.from_dict({k: v for k, v in data.items() if k != "profile"})
        except (ValueError, TypeError, KeyError, AttributeError):
            if number == len(lines):
                break  # a line cut short by the kill: that cell runs again
            raise CheckpointError(
                f"{path} line {number} is corrupted; delete it to rerun that cell"
            ) from None
        if data.get("profile") != profile:
            other = data.get("profile")
            raise CheckpointError(f"{path} holds cells of the {other} profile; pass --{other}")
        done[key(result)] = result
    return done
