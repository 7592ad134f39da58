"""A bench's finished cells on disk: appended one JSON line at a time, read back by ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CheckpointError
from ..io import write_atomic
from .cells import CellResult, key

CELLS = "cells.jsonl"
BENCH_FILE = "bench.yaml"


def save_cell(out: Path, profile: str, result: CellResult) -> None:
    """Append one finished cell to ``out/cells.jsonl``: a crash or a kill loses no finished work."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / CELLS
    with open(path, "a+b") as stream:
        stream.seek(0, 2)
        if stream.tell() and (stream.seek(-1, 2), stream.read(1))[1] != b"\n":
            stream.write(b"\n")  # a line cut short by a kill stays a line of its own
        stream.write((json.dumps({**result.to_dict(), "profile": profile}) + "\n").encode())


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
            if number == len(lines):  # a line cut short by the kill: that cell runs again
                write_atomic(path, "".join(f"{kept}\n" for kept in lines[:-1]))
                break
            raise CheckpointError(
                f"{path} line {number} is corrupted; delete it to rerun that cell"
            ) from None
        if data.get("profile") != profile:
            other = data.get("profile")
            if other not in ("quick", "full"):
                raise CheckpointError(f"{path} line {number} names no profile; delete it to rerun that cell")
            raise CheckpointError(f"{path} holds cells of the {other} profile; pass --{other}")
        done[key(result)] = result
    return done
