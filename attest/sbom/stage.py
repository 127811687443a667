"""The SBOM stage as a library function: pick a source, read it, describe the project, render
and validate the CycloneDX document."""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path

from attest import plugins
from attest.sbom.build import Format, Reproducibility, render
from attest.sbom.interface import (
    Inventory,
    ReadOptions,
    SbomSource,
    SourceKind,
    resolved_input,
    unquoted,
)
from attest.sbom.project import Project, read_project
from verify import logs
from verify.errors import InputError, UsageError

_log = logs.get(__name__)

LOCK_FILE_NAMES = "uv.lock, pylock.toml (pylock.<name>.toml), poetry.lock"


@dataclasses.dataclass(frozen=True)
class SbomRequest:
    kind: SourceKind
    target: Path  # the interpreter or venv, requirements file, or lock file
    project_dir: Path | None = None  # None: beside the input file, else the working directory
    fmt: Format = "json"
    reproducible: bool = False
    source_date_epoch: str | None = None
    source_name: str | None = None  # a plugin chosen by name instead of by kind / file name
    options: ReadOptions = dataclasses.field(default_factory=ReadOptions)


@dataclasses.dataclass(frozen=True)
class SbomResult:
    document: bytes
    inventory: Inventory
    project: Project | None
    warnings: tuple[str, ...]


def select_source(
    kind: SourceKind, target: Path, name: str | None = None, options: ReadOptions | None = None
) -> SbomSource:
    """The source plugin for this input: the one named, else the one whose kind (and, for lock
    files, whose file name) matches: a built-in source first, so that a plugin (broken or not)
    is imported only for an input no built-in source reads."""
    registry = plugins.sbom_sources()
    if name is not None:
        chosen = registry.load(name)
        if chosen.kind != kind:
            raise UsageError(f"source {name!r} reads {chosen.kind} input, not {kind}")
        return chosen(target, options)
    for built_in in (True, False):
        candidates = [registry.load(n) for n in registry.names(built_in=built_in)]
        matching = [
            c for c in candidates if c.kind == kind and (kind != "lock" or c.accepts(target))
        ]
        if len(matching) > 1:
            names = ", ".join(sorted(c.__name__ for c in matching))
            raise UsageError(f"several sources read {target} ({names}): choose one with --source")
        if matching:
            return matching[0](target, options)
    if kind == "lock":
        raise InputError(target, f"unknown lock file format; known: {LOCK_FILE_NAMES}")
    raise UsageError(f"no SBOM source for {kind} input is installed")


def _reproducibility(request: SbomRequest) -> Reproducibility:
    epoch = request.source_date_epoch
    if epoch is None or epoch == "":
        return Reproducibility(request.reproducible, None)
    try:
        moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
    except (ValueError, OverflowError, OSError) as e:
        raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in seconds") from e
    return Reproducibility(True, moment)


def _project(request: SbomRequest, warnings: list[str]) -> Project | None:
    if request.project_dir is not None:
        if not request.project_dir.is_dir():
            raise InputError(request.project_dir, "project directory does not exist")
        return read_project(request.project_dir)
    guess = request.target.parent if request.kind != "environment" else Path()
    found = guess / "pyproject.toml"
    if os.path.lexists(found):  # whatever it is: a FIFO or a directory is refused, as --project
        _confined(found, guess, request)
        return read_project(guess, unquoted)
    warnings.append(
        f"no pyproject.toml in {guess.resolve()}: the SBOM has no root component "
        "(name the project with --project DIR)"
    )
    return None


def _confined(found: Path, directory: Path, request: SbomRequest) -> None:
    """A pyproject.toml the user did not name is read only from the input file's directory tree
    (the working directory's for an environment), as -r includes are: a symlink out of it could
    put any TOML file's name and version into the SBOM."""
    resolved = resolved_input(found)
    tree = directory.resolve()
    if request.options.includes_outside or resolved.is_relative_to(tree):
        return
    allow = " or --allow-includes-outside" if request.kind == "requirements" else ""
    raise InputError(
        found, f"leads outside {tree}: not read (name its directory with --project DIR{allow})"
    )


@logs.timed(_log, "sbom")
def generate(request: SbomRequest) -> SbomResult:
    """Build the validated SBOM; raise an `AttestError` naming the input when it is bad."""
    reproducibility = _reproducibility(request)
    source = select_source(request.kind, request.target, request.source_name, request.options)
    _log.info("sbom: reading %s %s", request.kind, request.target)
    inventory = source.read()
    _log.info("sbom: %d components; rendering %s", len(inventory.packages), request.fmt)
    warnings = list(inventory.warnings)
    project = _project(request, warnings)
    document, notes = render(inventory, project, request.fmt, reproducibility)
    return SbomResult(document, inventory, project, (*warnings, *notes))
