"""Small helpers shared by the lock-file sources: typed access to TOML tables with errors that
name the file and the place."""

from __future__ import annotations

from pathlib import Path

from attest.errors import InputError
from attest.sbom.interface import Origin


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
