"""`poetry.lock`: Poetry's lock file (TOML, `[[package]]` with `files` and dependencies)."""

from __future__ import annotations

from pathlib import Path

from attest.sbom.interface import (
    Inventory,
    Origin,
    Package,
    SbomSource,
    checked_version,
    normalize,
    parse_digest,
    read_toml,
)
from attest.sbom.sources._locks import (
    kept,
    optional_text,
    package_name,
    package_where,
    registry_origin,
    shown_value,
    skipped_note,
    tables,
    text,
)
from verify.errors import InputError


def _origin(entry: dict[str, object], path: Path, where: str) -> Origin | None:
    source = entry.get("source")
    if source is None:
        return None
    if not isinstance(source, dict):
        raise InputError(path, f"{where}: 'source' must be a table")
    kind = text(source, "type", path, where)
    url = text(source, "url", path, where)
    if kind == "git":
        reference = source.get("resolved_reference") or source.get("reference")
        return Origin("vcs", f"git+{url}@{reference}" if reference else f"git+{url}")
    if kind == "url":
        return Origin("url", url)
    if kind in ("file", "directory"):
        return Origin("path", url)
    if kind == "legacy":
        return registry_origin(url)
    raise InputError(path, f"{where}: unknown source type {shown_value(kind)}")


class PoetryLockSource(SbomSource):
    """`--lock poetry.lock`."""

    kind = "lock"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.name == "poetry.lock"

    def read(self) -> Inventory:
        path = self.target
        data = read_toml(path)
        if "package" not in data:
            raise InputError(path, "has no [[package]] entries: not a poetry.lock file")
        target = self.options.python
        packages: list[Package] = []
        skipped: list[str] = []
        for index, entry in enumerate(tables(data, "package", path), start=1):
            name = package_name(entry, path, f"package #{index}")
            where = package_where(name)
            if not kept(entry.get("markers"), target, path, where):  # a string, or one per group
                skipped.append(name)
                continue
            dependencies = entry.get("dependencies", {})
            if not isinstance(dependencies, dict):
                raise InputError(path, f"{where}: 'dependencies' must be a table")
            digests = {
                parse_digest(text(f, "hash", path, f"{where} file"), path)
                for f in tables(entry, "files", path)
            }
            packages.append(
                Package(
                    name=name,
                    version=checked_version(
                        text(entry, "version", path, where), path, where=f"{where}: "
                    ),
                    digests=tuple(sorted(digests)),
                    description=optional_text(entry, "description", path, where),
                    dependencies=tuple(sorted(normalize(n) for n in dependencies)),
                    origin=_origin(entry, path, where),
                )
            )
        return Inventory(
            description=f"Poetry lock file {path} (for {target.label})",
            packages=tuple(packages),
            warnings=skipped_note(skipped, target),
        )
