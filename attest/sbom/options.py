"""Options that commands share, apart from the stages' code: `attest scan` reads requirements
files too, and importing the SBOM stage (CycloneDX, jsonschema) would cost it a third of a
second at start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


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
