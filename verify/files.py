"""Reading untrusted input files: only regular files, and with a size limit, so a 100 MB file
where a few KB are expected is refused after reading at most the limit, and a FIFO or a device
(`/dev/zero`) named as an artifact or planted among bundles is refused instead of blocking or
reading forever. Nothing in /proc, /sys or /dev is read either, refused by name (any spelling,
through any symlink) before it is opened and by where the open file is after: `/proc/self/environ`
is, to `fstat`, a regular file of size 0 that holds the process environment (tokens included),
and `/proc/self/fd/3` reads whatever descriptor 3 is."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MIB = 1 << 20
DASH = Path("-")  # on the command line: standard input (or output), where the option takes it
_NOT_REGULAR = "not a regular file (FIFO, socket, device)"


class TooLarge(ValueError):
    """The file is over its limit; the message says how large and which limit."""


class NotRegular(ValueError):
    """The path is a FIFO, socket, device or directory, not a file, or lies in a kernel pseudo
    file system."""


PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _pseudo(where: str) -> Path | None:
    """The root of PSEUDO_ROOTS that the absolute, normalised path `where` lies in (strings:
    this runs for every component of every file read, and pathlib's parsing cost 10x: hence
    os.path below)."""
    for root in _PSEUDO:
        if where == root or where.startswith(f"{root}/"):
            return Path(root)
    return None


_PSEUDO = tuple(str(root) for root in PSEUDO_ROOTS)


def pseudo_root(resolved: Path) -> Path | None:
    """The kernel pseudo file system the resolved path `resolved` lies in, if any."""
    return _pseudo(str(resolved))


def in_pseudo_root(root: Path) -> str:
    return f"is in {root}, a kernel pseudo file system"


def named_pseudo_root(path: Path) -> Path | None:
    """The kernel pseudo file system `path` names or passes through, if any: every component
    as spelled (`..` taken as the kernel does, after the symlink before it) and every symlink on
    the way, one hop at a time. Resolving the whole path is not enough: `/proc/self/fd/3` (or a
    link to it) resolves to whatever file descriptor 3 is, but it is read through /proc."""
    todo = list(reversed(os.path.join(os.getcwd(), path).split("/")))  # noqa: PTH109,PTH118
    where, hops = "/", 0
    while todo:
        name = todo.pop()
        if name in ("", "."):
            continue
        up = os.path.dirname(where)  # noqa: PTH120
        where = up if name == ".." else os.path.join(where, name)  # noqa: PTH118
        if (root := _pseudo(where)) is not None:
            return root
        try:
            target = os.readlink(where)  # noqa: PTH115
        except OSError:  # not a symlink, or not there: the open that follows says so
            continue
        hops += 1
        if hops > 40:  # a loop: the open that follows fails with ELOOP
            return None
        where = "/" if target.startswith("/") else os.path.dirname(where)  # noqa: PTH120
        todo.extend(reversed(target.split("/")))
    return None


def opened_in_pseudo_root(fd: int, path: Path) -> Path | None:
    """Where the open file `fd` really is (its /proc/self/fd link: no race with a symlink
    swapped after the open), else `path` resolved, checked against PSEUDO_ROOTS."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")  # noqa: PTH115
    except OSError:
        real = os.path.realpath(path)
    return _pseudo(real)


def _not_regular(path: Path) -> None:
    """NotRegular naming what `path` is when it is there and not a regular file (stat only)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegular(f"{path}: is {_kind(mode)}, expected a file")


def _kind(mode: int) -> str:
    return "a directory" if stat.S_ISDIR(mode) else _NOT_REGULAR


def open_regular(path: Path, follow_symlinks: bool = True, walked: bool = False) -> BinaryIO:
    """`path` opened for reading, or NotRegular. O_NONBLOCK keeps a FIFO with no writer from
    blocking the open; it changes nothing for the regular file that is then read. Without
    `follow_symlinks`, a symlink there is an OSError (ELOOP): it was not one when looked at.
    `walked`: the caller walked `path`'s directory (named_pseudo_root: in none), and `path` is
    a name in it opened without following a symlink, so the walk of each of a directory's files
    (8 readlinks each) would find nothing more; where the open file is is checked as ever."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    root = None if walked and not follow_symlinks else named_pseudo_root(path)
    if root is not None:
        _not_regular(path)  # a device is named as one: /dev/zero
        raise NotRegular(f"{path}: {in_pseudo_root(root)}: never read as input")
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a UNIX socket cannot be opened at all
            raise NotRegular(f"{path}: is {_NOT_REGULAR}, expected a file") from e
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular(f"{path}: is {_kind(mode)}, expected a file")
    root = opened_in_pseudo_root(fd, path)
    if root is not None:
        os.close(fd)
        raise NotRegular(f"{path}: {in_pseudo_root(root)}: never read as input")
    return os.fdopen(fd, "rb")


def read_limited(
    path: Path, limit: int, what: str = "a file", follow_symlinks: bool = True, walked: bool = False
) -> bytes:
    """The bytes of the regular file `path`, or TooLarge when there are more than `limit`.
    `-` (DASH) reads standard input, under the same limit: the command line chose it, so it
    may be a pipe (the click layer lets only options that read one file take `-`)."""
    if path == DASH:
        return read_stdin(limit, what)
    with open_regular(path, follow_symlinks, walked) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        size = path.stat().st_size
        raise TooLarge(
            f"{path}: {size / MIB:.1f} MiB, over the {limit / MIB:g} MiB limit for {what}"
        )
    return data


def read_stdin(limit: int, what: str = "a file") -> bytes:
    """Standard input's bytes, or TooLarge after reading `limit` + 1 of them."""
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"standard input: over the {limit / MIB:g} MiB limit for {what}")
    return data


def lines_limited(path: Path, line_limit: int, limit: int, what: str = "a file") -> Iterator[bytes]:
    """The lines of the regular file `path` (`-` (DASH): standard input), each without its
    newline, read one at a time as the caller takes them (never the whole file at once);
    TooLarge when a line is over `line_limit` bytes or all of them over `limit`. A last line
    without its newline is a line."""
    name = "standard input" if path == DASH else str(path)
    opened = contextlib.nullcontext(sys.stdin.buffer) if path == DASH else open_regular(path)
    total = 0
    with opened as handle:
        for number in range(1, sys.maxsize):
            line = handle.readline(line_limit + 1)  # the newline, or the byte too many
            if not line:
                return
            total += len(line)
            if total > limit:
                raise TooLarge(f"{name}: over the {limit / MIB:g} MiB limit for {what}")
            body = line.removesuffix(b"\n")
            if len(body) > line_limit:
                raise TooLarge(
                    f"{name}: line {number}: over {line_limit} bytes, the limit for {what}"
                )
            yield body
