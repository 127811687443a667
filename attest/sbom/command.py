"""`attest sbom`: the click layer of the SBOM stage (parse, call, render)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from attest.output import emit
from attest.sbom.interface import ReadOptions, SourceKind
from attest.sbom.options import LOCK, one_input, reading_options
from attest.sbom.stage import LOCK_FILE_NAMES, SbomRequest, generate
from verify.dash import READ, WRITE, is_dash
from verify.text import shown

_PATH = click.Path(path_type=Path)


@click.command("sbom")
@click.option(
    "--python",
    "python",
    type=_PATH,
    help="Describe another interpreter or venv (it is run: trust it).",
)
@click.option("--requirements", type=READ, help="Describe a pip requirements file (- : stdin).")
@click.option("--lock", type=LOCK, help=f"Describe a lock file: {LOCK_FILE_NAMES}.")
@click.option("--source", "source_name", help="Use this SBOM source plugin (see plugins list).")
@click.option(
    "--project",
    type=_PATH,
    help="Project directory whose pyproject.toml gives the root component "
    "(default: beside the input file, or the working directory).",
)
@reading_options
@click.option("--format", "fmt", type=click.Choice(["json", "xml"]), default="json")
@click.option(
    "--reproducible",
    is_flag=True,
    help="Byte-identical output for identical input (also on when SOURCE_DATE_EPOCH is set).",
)
@click.option("--output", "-o", type=WRITE, help="Write here (atomically) instead of stdout.")
def sbom(
    python: Path | None,
    requirements: Path | None,
    lock: Path | None,
    source_name: str | None,
    project: Path | None,
    python_version: str | None,
    allow_includes_outside: bool,
    fmt: str,
    reproducible: bool,
    output: Path | None,
) -> None:
    """Write a CycloneDX 1.6 SBOM, validated against the schema.

    With no source option it describes the project's environment: .venv in the working
    directory, else $VIRTUAL_ENV, else the one attest runs under (named on stderr).
    """
    kind, target = _input(python, requirements, lock)
    reading = ReadOptions.for_input(kind, python_version, allow_includes_outside)
    result = generate(
        SbomRequest(
            kind=kind,
            target=target,
            project_dir=project,
            fmt="json" if fmt == "json" else "xml",
            reproducible=reproducible,
            source_date_epoch=os.environ.get("SOURCE_DATE_EPOCH"),
            source_name=source_name,
            options=reading,
        )
    )
    for warning in result.warnings:
        click.echo(shown(f"attest: warning: {warning}"), err=True)
    emit(result.document, output)
    where = f" to {output}" if output and not is_dash(output) else ""
    click.echo(
        shown(
            f"attest: SBOM of {len(result.inventory.packages)} components from "
            f"{result.inventory.description}{where}"
        ),
        err=True,
    )


def _input(
    python: Path | None, requirements: Path | None, lock: Path | None
) -> tuple[SourceKind, Path]:
    options: list[tuple[str, SourceKind, Path | None]] = [
        ("--python", "environment", python),
        ("--requirements", "requirements", requirements),
        ("--lock", "lock", lock),
    ]
    return one_input(options, "environment")
