"""`-` on the command line: standard input for an option that reads one file, standard output for
one that writes one. Each option says which it is by its click type: `READ`, `WRITE`, or
`not_dash(why)` where a `-` cannot work (a file appended to, read and rewritten, or known by its
name). One run reads standard input for at most one option, and writes standard output for at
most one: a second `-` would find the stream already consumed (or interleave two documents), so
it is a usage error naming both options. Reading goes through `verify.files.read_limited`, which
keeps a file's size limit for standard input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from verify.errors import UsageError
from verify.files import DASH

_TAKEN = "verify.dash."  # + the stream: which option took it in this run (the root context's meta)


def _name(param: click.Parameter | None) -> str:
    if param is None:
        return "an option"
    if isinstance(param, click.Argument):
        return param.human_readable_name
    return param.opts[-1] if param.opts else str(param.name)  # --output, not -o


def claim(stream: str, param: click.Parameter | None, ctx: click.Context | None) -> None:
    """Record that `param` takes `stream` in this run; UsageError when another took it."""
    if ctx is None:
        return
    meta = ctx.find_root().meta
    first = meta.get(_TAKEN + stream)
    if first is not None:
        raise UsageError(
            f"{_name(param)} -: {stream} is already taken by {first} -: one run reads standard "
            "input for one option and writes standard output for one; name a file"
        )
    meta[_TAKEN + stream] = _name(param)


class Dash(click.Path):
    """A file path where `-` means `stream` (standard input or output), taken once per run."""

    def __init__(self, stream: str) -> None:
        super().__init__(path_type=Path, allow_dash=True)
        self.stream = stream

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if str(value) != "-":
            return super().convert(value, param, ctx)
        claim(self.stream, param, ctx)
        return DASH


def stdin_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for a text argument that may be `-` (standard input)."""
    if value == "-":
        claim(STDIN, param, ctx)
    return value


class NotDash(click.Path):
    """A file path where `-` is refused, saying why (a file named `-` is `./-`)."""

    def __init__(self, why: str) -> None:
        super().__init__(path_type=Path)
        self.why = why

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if str(value) == "-":
            raise UsageError(f"{_name(param)} -: not accepted: {self.why} (a file named - is ./-)")
        return super().convert(value, param, ctx)


STDIN, STDOUT = "standard input", "standard output"
READ = Dash(STDIN)
WRITE = Dash(STDOUT)


def not_dash(why: str) -> NotDash:
    return NotDash(why)


def is_dash(path: Path | None) -> bool:
    return path == DASH
