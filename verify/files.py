"""Reading untrusted input files with a size limit: a 100 MB file where a few KB are expected
is refused after reading at most the limit (a FIFO or an endless file included)."""

from __future__ import annotations

from pathlib import Path

MIB = 1 << 20


class TooLarge(ValueError):
    """The file is over its limit; the message says how large and which limit."""


def read_limited(path: Path, limit: int, what: str = "a file") -> bytes:
    """The bytes of `path`, or TooLarge when there are more than `limit` of them."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        size = path.stat().st_size if path.is_file() else len(data)
        raise TooLarge(
            f"{path}: {size / MIB:.1f} MiB, over the {limit / MIB:g} MiB limit for {what}"
        )
    return data
