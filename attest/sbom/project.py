"""The project being described: its `pyproject.toml` gives the SBOM's root component."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from attest.sbom.interface import (
    Quote,
    checked_name,
    checked_version,
    excerpt,
    normalize,
    read_toml,
)
from verify.errors import InputError


@dataclasses.dataclass(frozen=True)
class Project:
    name: str
    version: str | None
    description: str | None
    licenses: tuple[str, ...]
    dependencies: tuple[str, ...]  # normalized names of the declared runtime dependencies


def _table(data: object, key: str) -> dict[str, object]:
    value = data.get(key, {}) if isinstance(data, dict) else {}
    return value if isinstance(value, dict) else {}


def _license(project: dict[str, object]) -> tuple[str, ...]:
    value = project.get("license")
    if isinstance(value, str) and value.strip():
        return (value.strip(),)  # PEP 639 SPDX expression
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        text = value["text"].strip()
        return (text,) if text and "\n" not in text and len(text) <= 100 else ()
    return ()


def _requirement_names(values: object, path: Path, quote: Quote) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    names: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            raise InputError(path, f"a dependency is a {type(value).__name__}, not a string")
        try:
            names.add(normalize(Requirement(value).name))
        except InvalidRequirement as e:  # its message quotes the whole requirement
            reason = str(e).splitlines()[0][:100] if str(e) else "unreadable"
            raise InputError(path, f"invalid dependency {quote(value)}: {reason}") from e
    return tuple(sorted(names))


def read_project(directory: Path, quote: Quote = excerpt) -> Project:
    """Read `directory/pyproject.toml`: PEP 621 `[project]`, else Poetry's `[tool.poetry]`.
    `quote` shows its text in errors: `unquoted` when the user did not name the directory."""
    path = directory / "pyproject.toml"
    data = read_toml(path, quote)
    project = _table(data, "project")
    poetry = _table(_table(data, "tool"), "poetry")
    if project.get("name"):
        dependencies = _requirement_names(project.get("dependencies", []), path, quote)
        source = project
    elif poetry.get("name"):
        dependencies = tuple(
            sorted(normalize(n) for n in _table(poetry, "dependencies") if n.lower() != "python")
        )
        source = poetry
    else:
        raise InputError(path, "has no [project] name (nor [tool.poetry] name)")
    name, version, description = (
        source.get("name"),
        source.get("version"),
        source.get("description"),
    )
    if not isinstance(name, str):
        raise InputError(path, "project name is not a string")
    checked_name(name, path, quote=quote, where="project: ")
    if isinstance(version, str):
        checked_version(version, path, quote=quote, where="project: ")
    return Project(
        name=name,
        version=version if isinstance(version, str) else None,
        description=description if isinstance(description, str) else None,
        licenses=_license(source) if source is project else _poetry_license(poetry),
        dependencies=dependencies,
    )


def _poetry_license(poetry: dict[str, object]) -> tuple[str, ...]:
    value = poetry.get("license")
    return (value,) if isinstance(value, str) and value.strip() else ()
