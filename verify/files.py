"""Reading untrusted input files: only regular files, and with a size limit, so a 100 MB file
where a few KB are expected is refused after reading at most the limit, and a FIFO or a device
(`/dev/zero`) named as an artifact or planted among bundles is refused instead of blocking or
reading forever."""

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
    """The path is a FIFO, socket, device or directory, not a file."""


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
