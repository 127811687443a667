"""Writing results: data to stdout or to a file, atomically and only once the data is complete."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from attest.errors import OperationalError, UsageError


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one.

    A temporary file in the same directory is written, flushed to disk and renamed over `path`;
    on any failure it is removed and nothing is left behind.
    """
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except FileNotFoundError as e:
        raise UsageError(f"cannot write {path}: directory {directory} does not exist") from e
    except OSError as e:
        raise OperationalError(f"cannot write {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp_name).chmod(_new_file_mode())
        Path(tmp_name).replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            Path(tmp_name).unlink()
        raise OperationalError(f"cannot write {path}: {e.strerror or e}") from e


def _new_file_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def emit(data: bytes, output: Path | None) -> None:
    """Deliver finished data: to `output` atomically, or to stdout."""
    if output is not None:
        write_atomic(output, data)
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
