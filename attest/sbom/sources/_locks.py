"""Small helpers shared by the lock-file sources: typed access to TOML tables with errors that
name the file and the place (quoting at most an excerpt of a value), and the lock's markers."""

from __future__ import annotations

from pathlib import Path

from attest.sbom.interface import EXCERPT, Origin, checked_name, checked_version, excerpt
from attest.sbom.markers import MarkerError, TargetPython, kept_by_lock_marker
from verify.errors import InputError


def shown_value(value: object) -> str:
    """A TOML value as an error may show it: a string or number in short, an array or a table
    by its kind only."""
    if isinstance(value, str):
        return excerpt(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    number = repr(value)  # a number, boolean or date: no quotes of its own
    return number if len(number) <= EXCERPT else f"{number[:EXCERPT]}…"


def package_where(name: str) -> str:
    """How errors name a package of the lock: `package 'requests'`."""
    return f"package {excerpt(name)}"


def kept(markers: object, target: TargetPython, path: Path, where: str) -> bool:
    """Whether a package whose lock entry carries `markers` (one marker, a list of them, or a
    table of them by group; None: none) is installed for `target`: when any of them may hold.
    InputError naming `where` when one is not a PEP 508 marker (every one is read)."""
    if isinstance(markers, str):
        markers = [markers]
    if isinstance(markers, dict):
        markers = list(markers.values())
    if not isinstance(markers, list) or not markers:
        return True
    try:
        return any([kept_by_lock_marker(marker, target) for marker in markers])
    except MarkerError as e:
        raise InputError(path, f"{where}: {e}") from e


def package_name(table: dict[str, object], path: Path, where: str) -> str:
    """The entry's `name`, a PEP 508 name; InputError naming `where` otherwise."""
    return checked_name(text(table, "name", path, where), path, where=f"{where}: ")


def package_version(table: dict[str, object], path: Path, where: str) -> str | None:
    """The entry's `version` (None when absent), a PEP 440 version the SBOM can carry."""
    value = optional_text(table, "version", path, where)
    return None if value is None else checked_version(value, path, where=f"{where}: ")


def skipped_note(names: list[str], target: TargetPython) -> tuple[str, ...]:
    """The warning that lists the packages a lock's markers left out (none: no warning)."""
    if not names:
        return ()
    listed = ", ".join(excerpt(n) for n in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return (
        f"{len(names)} package(s) left out, their markers do not hold for {target.label}: "
        f"{listed}{more}",
    )


def tables(data: dict[str, object], key: str, path: Path) -> list[dict[str, object]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InputError(path, f"'{key}' must be an array of tables")
    return value


def text(table: dict[str, object], key: str, path: Path, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(path, f"{where}: '{key}' is missing or not a string")
    return value


def optional_text(table: dict[str, object], key: str, path: Path, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(path, f"{where}: '{key}' is not a string")
    return value


PYPI_INDEXES = ("https://pypi.org/simple", "https://pypi.org/simple/")


def registry_origin(url: str) -> Origin | None:
    """An origin for a package index other than PyPI (None for PyPI itself)."""
    return None if url in PYPI_INDEXES else Origin("registry", url)
