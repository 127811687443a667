"""Small helpers shared by the lock-file sources: typed access to TOML tables with errors that
name the file and the place (quoting at most an excerpt of a value), and the lock's markers."""

from __future__ import annotations

from pathlib import Path

from attest.errors import InputError
from attest.sbom.interface import EXCERPT, Origin, excerpt
from attest.sbom.markers import TargetPython, kept_by_lock_marker


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


def kept(markers: object, target: TargetPython) -> bool:
    """Whether a package whose lock entry carries `markers` (one marker, a list of them, or a
    table of them by group; None: none) is installed for `target`: when any of them may hold."""
    if isinstance(markers, str):
        markers = [markers]
    if isinstance(markers, dict):
        markers = list(markers.values())
    if not isinstance(markers, list) or not markers:
        return True
    return any(kept_by_lock_marker(marker, target) for marker in markers)


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
