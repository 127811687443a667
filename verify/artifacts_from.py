"""`attest verify --artifacts-from FILE`: the artifacts named in a file, one path per line (`-`:
standard input), for batches no command line holds (ARG_MAX) and without the interpreter's
copies of every argument. A line is taken as the command line takes an argument (its bytes
decoded as the OS decodes arguments, relative to the current directory), so the decisions are
those for the same names on the command line, every rule on the names included (each file once,
no evidence, no `-`). A line no path can be is refused naming its number, never guessed at."""

from __future__ import annotations

import os
from pathlib import Path

from verify.errors import UsageError
from verify.files import DASH, MIB, NotRegular, TooLarge, lines_limited

PATH_MAX = 4095  # bytes of a path Linux opens (4096 with its NUL): no longer line is a path
LIMIT = 64 * MIB  # the list's bytes in all: over 16,000 paths of the longest kind
_OPTION = "--artifacts-from"


def named(arguments: tuple[Path, ...], listed: Path | None) -> tuple[Path, ...]:
    """The artifacts to judge: the ARTIFACT arguments, or those `listed` names, never both."""
    if listed is None:
        return arguments
    if arguments:
        raise UsageError(
            f"ARTIFACT arguments and {_OPTION}: name the artifacts in one place, on the command "
            f"line or in the file"
        )
    paths = _paths(listed)
    if not paths:
        raise UsageError(
            f"{_OPTION} {_name(listed)}: names no artifact: none allowed (an empty set never "
            "allows)"
        )
    return paths


def _paths(listed: Path) -> tuple[Path, ...]:
    lines = lines_limited(listed, PATH_MAX, LIMIT, f"the list of artifacts ({_OPTION})")
    try:
        return tuple(_path(listed, n, line) for n, line in enumerate(lines, start=1))
    except NotRegular as e:
        pipe = " (a list from a pipe: give - and pipe it in)" if "FIFO" in str(e) else ""
        raise UsageError(f"{_OPTION} {e}{pipe}") from e
    except TooLarge as e:
        raise UsageError(f"{_OPTION} {e}") from e
    except OSError as e:
        raise UsageError(f"{_OPTION} {listed}: cannot be read: {e.strerror or e}") from e


def _path(listed: Path, number: int, line: bytes) -> Path:
    """The path on line `number`, as the command line would take it."""
    problem = None
    if not line:
        problem = "is empty: one path per line, none blank"
    elif b"\0" in line:
        problem = "holds a NUL byte, which no path can: one path per line (not -print0's list)"
    elif line.endswith(b"\r"):
        problem = "ends in a carriage return (CRLF line ends): one path per line, ending in LF"
    if problem is not None:
        raise UsageError(f"{_OPTION} {_name(listed)}: line {number} {problem}")
    return Path(os.fsdecode(line))


def _name(listed: Path) -> str:
    return "standard input" if listed == DASH else str(listed)
