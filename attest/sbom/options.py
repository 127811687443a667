"""Options that commands share, apart from the stages' code: `attest scan` reads requirements
files too, and importing the SBOM stage (CycloneDX, jsonschema) would cost it a third of a
second at start."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from attest.output import inform
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
    `environment`: the project's (`project_environment`), said on stderr; UsageError when more
    than one is given."""
    given = [(kind, path) for _, kind, path in options if path is not None]
    if len(given) > 1:
        flags = [flag for flag, _, _ in options]
        raise UsageError(f"give at most one of {', '.join(flags[:-1])} and {flags[-1]}")
    if given:
        return given[0]
    target, which = project_environment()
    inform(f"attest: no input named: reading {which}")
    return environment, target


def project_environment() -> tuple[Path, str]:
    """The environment a bare `attest sbom` or `attest scan` describes, and how it was chosen:
    the working directory's `.venv`, else the active `$VIRTUAL_ENV`, else the interpreter attest
    runs under (attest's own environment when installed apart, as pipx does: said so)."""
    local = Path(".venv")
    if local.is_dir():
        return local, f"the virtual environment {local.resolve()} (.venv in the working directory)"
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        return Path(active), f"the virtual environment {active} ($VIRTUAL_ENV)"
    return Path(sys.executable), (
        f"the environment attest runs under, {sys.prefix} (no .venv in the working directory "
        "and no $VIRTUAL_ENV: name the project's with --python)"
    )
