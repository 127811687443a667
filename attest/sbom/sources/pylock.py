"""`pylock.toml`: the standard lock file of PEP 751 (`lock-version = "1.0"`)."""

from __future__ import annotations

import re
from pathlib import Path

from attest.sbom.interface import (
    Digest,
    Inventory,
    Origin,
    Package,
    SbomSource,
    make_digest,
    normalize,
    read_toml,
)
from attest.sbom.sources._locks import (
    kept,
    optional_text,
    package_name,
    package_version,
    package_where,
    registry_origin,
    shown_value,
    skipped_note,
    tables,
    text,
)
from verify.errors import InputError

_FILE_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")


def _hashes(table: object, path: Path, where: str) -> set[Digest]:
    if not isinstance(table, dict):
        return set()
    hashes = table.get("hashes", {})
    if not isinstance(hashes, dict):
        raise InputError(path, f"{where}: 'hashes' must be a table")
    digests = set()
    for algorithm, value in hashes.items():
        if not isinstance(value, str):
            raise InputError(path, f"{where}: a hash is {shown_value(value)}, not a string")
        digests.add(make_digest(algorithm, value, path))
    return digests


def _origin(entry: dict[str, object], path: Path, where: str) -> Origin | None:
    vcs, archive, directory = entry.get("vcs"), entry.get("archive"), entry.get("directory")
    if isinstance(vcs, dict):
        url = vcs.get("url") or vcs.get("path")
        commit = vcs.get("commit-id")
        return Origin("vcs", f"{vcs.get('type', 'git')}+{url}@{commit}")
    if isinstance(archive, dict):
        if isinstance(archive.get("url"), str):
            return Origin("url", archive["url"])
        return Origin("path", text(archive, "path", path, where))
    if isinstance(directory, dict):
        return Origin("path", text(directory, "path", path, where))
    index = optional_text(entry, "index", path, where)
    return registry_origin(index) if index else None


class PyLockSource(SbomSource):
    """`--lock pylock.toml` (or `pylock.<name>.toml`)."""

    kind = "lock"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return bool(_FILE_NAME.match(path.name))

    def read(self) -> Inventory:
        path = self.target
        data = read_toml(path)
        lock_version = data.get("lock-version")
        if not isinstance(lock_version, str) or lock_version.split(".")[0] != "1":
            shown = shown_value(lock_version)
            raise InputError(path, f"unsupported lock-version {shown} (expected 1.x)")
        target = self.options.python
        packages: list[Package] = []
        skipped: list[str] = []
        for index, entry in enumerate(tables(data, "packages", path), start=1):
            name = package_name(entry, path, f"package #{index}")
            where = package_where(name)
            if not kept(
                entry.get("marker"), target, path, where
            ):  # PEP 751: installed where it holds
                skipped.append(name)
                continue
            digests = _hashes(entry.get("sdist"), path, where) | _hashes(
                entry.get("archive"), path, where
            )
            for wheel in tables(entry, "wheels", path):
                digests |= _hashes(wheel, path, where)
            dependencies = {
                normalize(text(dep, "name", path, f"{where} dependency"))
                for dep in tables(entry, "dependencies", path)
            }
            packages.append(
                Package(
                    name=name,
                    version=package_version(entry, path, where),
                    digests=tuple(sorted(digests)),
                    dependencies=tuple(sorted(dependencies)),
                    origin=_origin(entry, path, where),
                )
            )
        return Inventory(
            description=f"PEP 751 lock file {path} (for {target.label})",
            packages=tuple(packages),
            warnings=skipped_note(skipped, target),
        )
