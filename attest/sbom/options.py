"""Options that commands share, apart from the stages' code: `attest scan` reads requirements
files too, and importing the SBOM stage (CycloneDX, jsonschema) would cost it a third of a
second at start."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from verify.dash import not_dash
from verify.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])
K = TypeVar("K", bound=str)
LOCK = not_dash("a lock file is read by the reader its name selects (uv.lock, pylock.toml, …)")


def reading_options(command: F) -> F:
    """The options of how a requirements or lock file is read (`ReadOptions`), shared by the
    commands that read one (sbom, scan)."""
    command = click.option(
        "--allow-includes-outside",
        is_flag=True,
        help="Let -r includes leave the requirements file's directory tree "
        "(never /proc, /sys, /dev).",
    )(command)
    return click.option(
        "--python-version",
        help="Evaluate the environment markers of a requirements or lock file for this Python "
        "(3.12 or 3.12.4) on this platform; default: the Python attest runs under.",
    )(command)


def one_input(options: Sequence[tuple[str, K, Path | None]], environment: K) -> tuple[K, Path]:
    """The kind and path of the one input option given (of `(flag, kind, path)`), else
    `environment`: this interpreter's; UsageError when more than one is given."""
    given = [(kind, path) for _, kind, path in options if path is not None]
    if len(given) > 1:
        flags = [flag for flag, _, _ in options]
        raise UsageError(f"give at most one of {', '.join(flags[:-1])} and {flags[-1]}")
    return given[0] if given else (environment, Path(sys.executable))
