"""Writing results: data to stdout or to a file, atomically and only once the data is complete;
and the lines for people that say what was done (`inform`), which -q leaves out."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path

import click

from verify import logs
from verify.errors import OperationalError, UsageError
from verify.files import DASH
from verify.text import shown

_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_TEMPORARY_ATTEMPTS = 100  # 48 random bits per name: a clash is already improbable


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one.

    A temporary file in the same directory is written, flushed to disk and renamed over `path`;
    on any failure it is removed and nothing is left behind. A stream named as the output
    (`/dev/null`, `/dev/stdout`, a FIFO) is written to as it is: renaming over it would replace
    the device with a file (as root, `-o /dev/null` once did).
    """
    if _is_stream(path):
        _write_stream(path, data)
        return
    directory = path.parent if str(path.parent) else Path()
    fd, tmp = _create_temporary(path, directory)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)  # the data is on disk before the name points at it
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException as e:  # ^C included: no temporary file is left behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            raise OperationalError(
                f"cannot write {path}: {e.strerror or e}; nothing was left there: free the space "
                "or fix the permission, then run the command again"
            ) from e
        raise


def _is_stream(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _write_stream(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise OperationalError(f"cannot write {path}: {e.strerror or e}") from e


def _create_temporary(path: Path, directory: Path) -> tuple[int, Path]:
    """A new file of a name no one else uses (O_EXCL), with the mode a plain open() would give
    (the kernel applies the umask to 0o666): cheaper than mkstemp, then chmod."""
    for _ in range(_TEMPORARY_ATTEMPTS):
        tmp = directory / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, _TEMPORARY_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
        except FileNotFoundError as e:
            raise UsageError(f"cannot write {path}: directory {directory} does not exist") from e
        except OSError as e:
            raise OperationalError(
                f"cannot write {path}: {e.strerror or e}; fix the directory, then run the "
                "command again"
            ) from e
    raise OperationalError(f"cannot write {path}: no unused temporary name in {directory}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_UNDELIVERED = "attest.output.undelivered"


def emit(data: bytes, output: Path | None) -> None:
    """Deliver finished data: to `output` atomically, or to stdout (also for `-o -`).

    A reader that closed the pipe (`attest scan | head`) does not end the command here: what
    follows still decides the exit status (a breached SLO stays 1); `undelivered` ends a
    command that would otherwise pass."""
    if output is not None and output != DASH:
        write_atomic(output, data)
        return
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        raise OperationalError(
            "standard output is closed: nothing was written; name a file with -o FILE"
        )
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError as e:
        sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115  # spare the flush at exit
        click.get_current_context().meta[_UNDELIVERED] = e


def undelivered(ctx: click.Context) -> None:
    """Raise the broken pipe `emit` kept, once the command has passed: output that was not
    all delivered never exits 0 (as a tool that SIGPIPE ends)."""
    error: BrokenPipeError | None = ctx.meta.pop(_UNDELIVERED, None)
    if error is not None:
        raise error


def inform(line: str) -> None:
    """A line for people on stderr saying what was done, its input escaped; none with -q
    (errors, warnings and the results themselves are never left out)."""
    if not logs.quiet():
        click.echo(shown(line), err=True)
