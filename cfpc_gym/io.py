"""Files the library writes: atomic writes, figures as PNG bytes, and output paths checked first.

Figures are drawn on a ``matplotlib.figure.Figure`` with the Agg canvas: nothing here changes
matplotlib's global state (its backend, pyplot's figure list), so importing it is side-effect free.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import UsageError


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename.

    Readers never see a partial file, a symbolic link at ``path`` (or at the temporary's name) is
    replaced, never written through, and a failed write leaves no temporary behind.

    Args:
        path: The file to write; its directory must exist.
        data: Text (written as UTF-8) or bytes.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()  # a killed write's leftover, or a link: never written through
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()  # no partial file left behind (a full disk, a directory at path)
        raise


def new_figure(**options) -> Figure:
    """A figure on the Agg canvas, apart from pyplot (``options`` go to ``Figure``)."""
    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes (120 dpi, tight bounding box)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


def make_output_dir(path: Path, flag: str = "out") -> None:
    """Create ``path`` (and its parents), turning the operating system's refusal into one line.

    Args:
        path: The directory to create; an existing directory is fine.
        flag: The argument that named it, for the message.

    Raises:
        UsageError: ``path`` cannot be made or written there (a read-only or virtual file system,
            no permission, a file in the way, a name too long, a full disk).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".cfpc-gym-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write to {path}: {describe_os_error(exc)}") from None


def describe_os_error(exc: OSError) -> str:
    """The operating system's reason in words (``permission denied``), without the path."""
    reasons = {errno.ENAMETOOLONG: "a file name is too long (255 bytes at most)"}
    return reasons.get(exc.errno, (exc.strerror or str(exc)).lower())
