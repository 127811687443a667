"""`uv.lock`: uv's universal lock file (TOML, `version = 1`)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from attest.sbom.interface import (
    Digest,
    Inventory,
    Origin,
    OriginKind,
    Package,
    SbomSource,
    excerpt,
    normalize,
    parse_digest,
    read_toml,
)
from attest.sbom.sources._locks import (
    kept,
    package_name,
    package_version,
    package_where,
    registry_origin,
    shown_value,
    skipped_note,
    tables,
)
from verify.errors import InputError

_ROOT_SOURCES = ("editable", "virtual")
_ORIGINS: tuple[tuple[str, OriginKind], ...] = (
    ("git", "vcs"),
    ("url", "url"),
    ("path", "path"),
    ("directory", "path"),
    ("editable", "path"),
    ("virtual", "path"),
)


def _git(location: str) -> str:
    """uv's git source (`https://host/repo?rev=v1&subdirectory=d#<commit>`) in pip's form,
    `git+https://host/repo@<commit>#subdirectory=d`: the SBOM keeps no query (it may carry a
    credential), so the commit (else the rev, tag or branch) moves into the path."""
    parts = urllib.parse.urlsplit(location)
    query = dict(urllib.parse.parse_qsl(parts.query))
    pinned = parts.fragment or query.get("rev") or query.get("tag") or query.get("branch")
    subdirectory = query.get("subdirectory")
    url = urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
    return (
        f"git+{url}"
        + (f"@{pinned}" if pinned else "")
        + (f"#subdirectory={subdirectory}" if subdirectory else "")
    )


def _origin(source: object, path: Path, where: str) -> Origin | None:
    if not isinstance(source, dict):
        raise InputError(path, f"{where}: 'source' must be a table")
    for key, kind in _ORIGINS:
        location = source.get(key)
        if isinstance(location, str):
            return Origin(kind, _git(location) if key == "git" else location)
    if isinstance(source.get("registry"), str):
        return registry_origin(source["registry"])
    keys = ", ".join(str(key) for key in source)
    raise InputError(path, f"{where}: unknown source (keys {excerpt(keys)})")


def _digests(package: dict[str, object], path: Path) -> tuple[Digest, ...]:
    files: list[object] = []
    if isinstance(package.get("sdist"), dict):
        files.append(package["sdist"])
    wheels = package.get("wheels", [])
    if isinstance(wheels, list):
        files.extend(wheels)
    found = {
        parse_digest(f["hash"], path)
        for f in files
        if isinstance(f, dict) and isinstance(f.get("hash"), str)
    }
    return tuple(sorted(found))


def _dependency_names(package: dict[str, object], path: Path, where: str) -> set[str]:
    names: set[str] = set()
    groups: list[object] = [package.get("dependencies", [])]
    for key in ("optional-dependencies", "dev-dependencies"):
        extra = package.get(key, {})
        if isinstance(extra, dict):
            groups.extend(extra.values())
    for group in groups:
        if isinstance(group, list):
            for d in group:
                if isinstance(d, dict) and "name" in d:
                    if not isinstance(d["name"], str):
                        raise InputError(path, f"{where}: a dependency's 'name' is not a string")
                    names.add(normalize(d["name"]))
    return names


class UvLockSource(SbomSource):
    """`--lock uv.lock`."""

    kind = "lock"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.name == "uv.lock"

    def read(self) -> Inventory:
        path = self.target
        data = read_toml(path)
        version = data.get("version")
        if version != 1:
            shown = shown_value(version)
            raise InputError(path, f"unsupported uv.lock version {shown} (expected 1)")
        target = self.options.python
        packages: list[Package] = []
        skipped: list[str] = []
        direct: set[str] | None = None  # stays None when the lock has no root project
        for index, entry in enumerate(tables(data, "package", path), start=1):
            where = f"package #{index}"
            name = package_name(entry, path, where)
            where = package_where(name)
            source = entry.get("source", {"registry": "https://pypi.org/simple"})
            dependencies = _dependency_names(entry, path, where)
            if isinstance(source, dict) and any(source.get(k) == "." for k in _ROOT_SOURCES):
                direct = (direct or set()) | dependencies  # the project itself: the root
                continue
            # A fork of a universal resolution: this version is chosen where one of these holds.
            if not kept(entry.get("resolution-markers"), target, path, where):
                skipped.append(name)
                continue
            packages.append(
                Package(
                    name=name,
                    version=package_version(entry, path, where),
                    digests=_digests(entry, path),
                    dependencies=tuple(sorted(dependencies)),
                    origin=_origin(source, path, where),
                )
            )
        return Inventory(
            description=f"uv lock file {path} (for {target.label})",
            packages=tuple(packages),
            direct=None if direct is None else tuple(sorted(direct)),
            warnings=skipped_note(skipped, target),
        )
