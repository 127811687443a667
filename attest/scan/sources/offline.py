"""`offline`: a local OSV database, indexed once into a cache keyed by its content.

Accepted layouts: the PyPA advisory database (`vulns/<package>/<ID>.yaml`), a directory of OSV
JSON or YAML, an OSV `all.zip` export, and a `.tar.gz` of any of these. Archive members are read
as bounded streams, never extracted to disk. The index is one file: a JSON header line (the
database digest, record count, newest record, per-package offsets, the body's own sha256) and
a body of per-package JSON blobs, so a warm scan parses only the packages it is asked about.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import yaml
from packaging.version import InvalidVersion, Version

from attest.errors import InputError
from attest.output import write_atomic
from attest.scan import osv
from attest.scan.interface import (
    AdvisoryDataError,
    Component,
    Database,
    Match,
    ScanError,
    Skip,
    SourceAnswer,
    VulnSource,
)
from verify import untrusted_yaml

INDEX_FORMAT = "attest-osv-index/1"  # bump whenever the entries or their parsing change
LATEST_KEPT = 64  # newest record times kept in the index, for the staleness guard
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
# Bounds against archive bombs (THREAT_MODEL D3): far above the real databases' sizes.
MAX_MEMBERS = 400_000
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_NESTED_ZIP_BYTES = 512 * 1024 * 1024


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attest" / "osv-index"


class _Budget:
    """Counts members and bytes read from an archive; refuses bombs."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.members = 0
        self.total = 0

    def take(self, name: str, size: int) -> None:
        self.members += 1
        self.total += size
        if size > MAX_RECORD_BYTES:
            raise AdvisoryDataError(self.where, f"{name}: {size} bytes, more than a record may be")
        if self.members > MAX_MEMBERS or self.total > MAX_TOTAL_BYTES:
            raise AdvisoryDataError(
                self.where, f"more than {MAX_MEMBERS} members or {MAX_TOTAL_BYTES} bytes: refused"
            )


def _wanted(name: str, has_vulns_dir: bool) -> bool:
    """Record files only: hidden files and folders (.github, .id-allocator) are not records,
    and in the PyPA layout only vulns/ holds them."""
    parts = PurePosixPath(name).parts
    if any(p.startswith(".") for p in parts) or not name.endswith(RECORD_SUFFIXES):
        return False
    return not has_vulns_dir or "vulns" in parts[:-1]


def _zip_records(
    data: zipfile.ZipFile, budget: _Budget, prefix: str
) -> Iterator[tuple[str, bytes]]:
    infos = [i for i in data.infolist() if not i.is_dir()]
    has_vulns = any("vulns" in PurePosixPath(i.filename).parts[:-1] for i in infos)
    for info in infos:
        if _wanted(info.filename, has_vulns):
            budget.take(info.filename, info.file_size)
            with data.open(info) as handle:
                blob = handle.read(MAX_RECORD_BYTES + 1)  # declared sizes can lie
            yield f"{prefix}{info.filename}", blob


def _tar_records(path: Path, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, "r:*") as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        has_vulns = any("vulns" in PurePosixPath(m.name).parts[:-1] for m in members)
        for member in members:
            if member.name.endswith(".zip") and not PurePosixPath(member.name).name.startswith("."):
                if member.size > MAX_NESTED_ZIP_BYTES:
                    raise AdvisoryDataError(path, f"{member.name}: nested zip too large")
                blob = _member_bytes(archive, member, MAX_NESTED_ZIP_BYTES)
                with zipfile.ZipFile(io.BytesIO(blob)) as inner:
                    yield from _zip_records(inner, budget, f"{member.name}!")
            elif _wanted(member.name, has_vulns):
                budget.take(member.name, member.size)
                yield member.name, _member_bytes(archive, member, MAX_RECORD_BYTES)


def _member_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    handle = archive.extractfile(member)
    if handle is None:
        return b""
    with handle:
        return handle.read(limit + 1)


def _dir_files(root: Path) -> list[Path]:
    has_vulns = (root / "vulns").is_dir()
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            rel = (Path(directory) / name).relative_to(root).as_posix()
            if _wanted(rel, has_vulns):
                found.append(Path(directory) / name)
    return found


def records(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every record file in the database at `path`."""
    budget = _Budget(path)
    if path.is_dir():
        for file in _dir_files(path):
            yield file.relative_to(path).as_posix(), file.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from _zip_records(archive, budget, "")
    elif tarfile.is_tarfile(path):
        yield from _tar_records(path, budget)
    elif path.name.endswith(RECORD_SUFFIXES):
        yield path.name, path.read_bytes()
    else:
        raise AdvisoryDataError(
            path, "not an OSV database: expected a directory, a .zip, a .tar.gz or a record file"
        )


def content_digest(path: Path) -> str:
    """sha256 of the database: the file's bytes, or for a directory its record files' names and
    contents. The index is keyed by it, so an edited database is never answered from a stale
    index."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in _dir_files(path):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    else:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _parse(name: str, blob: bytes, where: Path) -> object:
    if len(blob) > MAX_RECORD_BYTES:
        raise AdvisoryDataError(where, f"{name}: more than {MAX_RECORD_BYTES} bytes")
    try:
        if name.endswith(".json"):
            return json.loads(blob)
        return untrusted_yaml.load(blob)
    except (ValueError, yaml.YAMLError) as e:
        kind = "JSON" if name.endswith(".json") else "YAML"
        raise AdvisoryDataError(where, f"{name}: not valid {kind}: {e}") from e
    except RecursionError as e:  # JSON nested deeper than the interpreter's stack
        raise AdvisoryDataError(where, f"{name}: nested too deeply") from e


def build_index(path: Path, digest: str) -> bytes:
    """Read every record once and lay out the index file."""
    packages: dict[str, list[osv.Entry]] = {}
    count = 0
    stamps: list[str] = []
    for name, blob in records(path):
        data = _parse(name, blob, path)
        count += 1
        try:
            for package, entry in osv.entries(data):
                packages.setdefault(package, []).append(entry)
        except osv.RecordError as e:
            raise AdvisoryDataError(path, f"{name}: bad OSV record: {e}") from e
        if isinstance(data, dict):
            stamp = osv.timestamp(data.get("modified") or data.get("published"), "modified")
            if stamp is not None:
                stamps.append(stamp)
    if count == 0:
        raise AdvisoryDataError(path, "no OSV records found (.json or .yaml files)")
    body = io.BytesIO()
    offsets: dict[str, list[int]] = {}
    for package in sorted(packages):
        blob = json.dumps(packages[package], separators=(",", ":")).encode()
        offsets[package] = [body.tell(), len(blob)]
        body.write(blob)
    data_bytes = body.getvalue()
    header = {
        "format": INDEX_FORMAT,
        "digest": digest,
        "records": count,
        "latest": sorted(stamps, reverse=True)[:LATEST_KEPT],
        "body_sha256": hashlib.sha256(data_bytes).hexdigest(),
        "packages": offsets,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + data_bytes


class Index:
    """A loaded index: the header parsed, package blobs parsed on demand."""

    def __init__(self, raw: bytes, digest: str) -> None:
        head, _, self._body = raw.partition(b"\n")
        header = json.loads(head)
        if header.get("format") != INDEX_FORMAT or header.get("digest") != digest:
            raise ValueError("index of another format or database")
        if hashlib.sha256(self._body).hexdigest() != header.get("body_sha256"):
            raise ValueError("index body does not match its digest")
        self.records: int = header["records"]
        self.latest: list[str] = header["latest"]
        self._offsets: dict[str, list[int]] = header["packages"]

    def entries(self, package: str) -> list[osv.Entry]:
        where = self._offsets.get(package)
        if where is None:
            return []
        start, length = where
        found: list[osv.Entry] = json.loads(self._body[start : start + length])
        return found


def private_dir(path: Path) -> None:
    """A cache holds what decides the scan (the offline index, the services' HTTP answers):
    keep it the user's own (THREAT_MODEL T12). What is in it is trusted once read, so a
    directory that another user owns or can write to is refused, not tightened: a chmod now
    would not remove what was planted before."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
    except OSError as e:
        raise ScanError(f"cannot create the cache {path}: {e.strerror or e}") from e
    if info.st_uid != os.geteuid():
        raise InputError(
            path,
            f"the advisory cache belongs to uid {info.st_uid}, not to you (uid "
            f"{os.geteuid()}): its owner could plant forged advisories; use a --cache-dir of yours",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise InputError(
            path,
            f"the advisory cache has mode {mode:04o}: others could plant forged advisories; "
            f"run `chmod 700 {path}` and delete the files in it that you did not write",
        )


def load_index(db: Path, cache_dir: Path, notes: list[str]) -> tuple[Index, str]:
    """The index of `db`, built into `cache_dir` the first time its content is seen."""
    if not db.exists():
        raise AdvisoryDataError(db, "no such file or directory")
    try:
        digest = content_digest(db)
    except OSError as e:
        raise ScanError(f"cannot read the advisory database {db}: {e.strerror or e}") from e
    private_dir(cache_dir)  # before anything in it is read
    cached = cache_dir / f"{digest}.idx"
    if cached.is_file():
        try:
            return Index(cached.read_bytes(), digest), digest
        except (ValueError, KeyError, OSError) as e:
            notes.append(f"advisory index {cached} unusable ({e}); rebuilding it")
    try:
        raw = build_index(db, digest)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise AdvisoryDataError(db, f"cannot read the database: {e}") from e
    write_atomic(cached, raw)
    return Index(raw, digest), digest


class OfflineSource(VulnSource):
    """A local OSV database (`--db`); see the module docstring for the layouts."""

    name = "offline"

    def check(self, components: Sequence[Component]) -> SourceAnswer:
        if self.options.db is None:
            raise AdvisoryDataError("--db", "the offline source needs a database: give --db PATH")
        notes: list[str] = []
        index, digest = load_index(
            self.options.db, self.options.cache_dir or default_cache_dir(), notes
        )
        matches: list[Match] = []
        skips: list[Skip] = []
        for component in components:
            if component.version is None:
                skips.append(Skip(component, "no version given"))
                continue
            try:
                version = Version(component.version)
            except InvalidVersion:
                skips.append(Skip(component, f"version {component.version!r} is not PEP 440"))
                continue
            hits = [
                osv.advisory(e) for e in index.entries(component.name) if osv.affects(e, version)
            ]
            matches += [Match(component, a) for a in osv.merge_aliases(hits)]
        database = Database(
            location=str(self.options.db),
            digest=digest,
            records=index.records,
            latest=tuple(t for t in map(osv.parse_time, index.latest) if t is not None),
        )
        return SourceAnswer(tuple(matches), tuple(skips), database=database, notes=tuple(notes))
