"""Reading untrusted input files: only regular files, and with a size limit, so a 100 MB file
where a few KB are expected is refused after reading at most the limit, and a FIFO or a device
(`/dev/zero`) named as an artifact or planted among bundles is refused instead of blocking or
reading forever. Nothing in /proc, /sys or /dev is read either: `/proc/self/environ` is, to
`fstat`, a regular file of size 0 that holds the process environment (tokens included)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

MIB = 1 << 20
_NOT_REGULAR = "not a regular file (FIFO, socket, device)"


class TooLarge(ValueError):
    """The file is over its limit; the message says how large and which limit."""


class NotRegular(ValueError):
    """The path is a FIFO, socket, device or directory, not a file, or lies in a kernel pseudo
    file system."""


PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def pseudo_root(resolved: Path) -> Path | None:
    """The kernel pseudo file system the resolved path `resolved` lies in, if any."""
    return next((root for root in PSEUDO_ROOTS if resolved.is_relative_to(root)), None)


def _opened_in_pseudo_root(fd: int, path: Path) -> Path | None:
    """Where the open file `fd` really is (its /proc/self/fd link: no race with a symlink
    swapped after the open), else `path` resolved, checked against PSEUDO_ROOTS."""
    try:
        real = Path(f"/proc/self/fd/{fd}").readlink()
    except OSError:
        real = Path(os.path.realpath(path))
    return pseudo_root(real)


def open_regular(path: Path, follow_symlinks: bool = True) -> BinaryIO:
    """`path` opened for reading, or NotRegular. O_NONBLOCK keeps a FIFO with no writer from
    blocking the open; it changes nothing for the regular file that is then read. Without
    `follow_symlinks`, a symlink there is an OSError (ELOOP): it was not one when looked at."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a UNIX socket cannot be opened at all
            raise NotRegular(f"{path}: is {_NOT_REGULAR}, expected a file") from e
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else _NOT_REGULAR
        raise NotRegular(f"{path}: is {kind}, expected a file")
    root = _opened_in_pseudo_root(fd, path)
    if root is not None:
        os.close(fd)
        raise NotRegular(f"{path}: is in {root}, a kernel pseudo file system: never read as input")
    return os.fdopen(fd, "rb")


def read_limited(
    path: Path, limit: int, what: str = "a file", follow_symlinks: bool = True
) -> bytes:
    """The bytes of the regular file `path`, or TooLarge when there are more than `limit`."""
    with open_regular(path, follow_symlinks) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        size = path.stat().st_size
        raise TooLarge(
            f"{path}: {size / MIB:.1f} MiB, over the {limit / MIB:g} MiB limit for {what}"
        )
    return data
