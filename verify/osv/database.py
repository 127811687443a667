"""Offline OSV databases, read as hostile input: the PyPA advisory database
(`vulns/<package>/<ID>.yaml`), a directory of OSV JSON or YAML, an OSV `all.zip` export, and a
`.tar.gz` of any of these. Archive members are read as bounded streams, never extracted to
disk; directory records are read only as regular files, with the same size limit; YAML only
through `untrusted_yaml`. The index is one blob: a JSON header line (the database digest,
record count, newest record, per-package offsets, the body's own sha256) and a body of
per-package JSON blobs, so a lookup parses only the packages it is asked about.

The scan's offline source keeps such an index in its cache; the gate builds it in memory."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import yaml
from packaging.version import Version

from verify import untrusted_yaml
from verify.errors import ExitCode, VerifyError
from verify.files import NotRegular, TooLarge, open_regular, read_limited
from verify.osv import plain_yaml
from verify.osv import records as osv

INDEX_FORMAT = "attest-osv-index/2"  # bump whenever the entries or their parsing change
LATEST_KEPT = 64  # newest record times kept in the index, for the staleness guard
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
# Bounds against archive bombs (THREAT_MODEL D3): far above the real databases' sizes.
MAX_MEMBERS = 400_000
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_NESTED_ZIP_BYTES = 512 * 1024 * 1024


class DatabaseError(VerifyError):
    """The advisory database named is malformed or refused (exit 2): `where` names it, or the
    record."""

    exit_code = ExitCode.USAGE

    def __init__(self, where: Path | str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


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
            raise DatabaseError(self.where, f"{name}: {size} bytes, more than a record may be")
        if self.members > MAX_MEMBERS or self.total > MAX_TOTAL_BYTES:
            raise DatabaseError(
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
                    raise DatabaseError(path, f"{member.name}: nested zip too large")
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


def _read(file: Path, root: Path) -> bytes:
    """A record file of a database: a regular file, at most a record's size, and, through a
    symlink, one inside the database (a link to ~/.ssh/id_rsa is no record to read)."""
    name = file.name if file == root else file.relative_to(root).as_posix()
    if file != root and not Path(os.path.realpath(file)).is_relative_to(os.path.realpath(root)):
        raise DatabaseError(root, f"{name}: a symlink that leads out of the database")
    try:
        return read_limited(file, MAX_RECORD_BYTES, "an advisory record")
    except TooLarge as e:
        raise DatabaseError(root, f"{name}: more than {MAX_RECORD_BYTES} bytes") from e
    except NotRegular as e:
        raise DatabaseError(root, f"{name}: {str(e).removeprefix(f'{file}: ')}") from e


def records(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every record file in the database at `path`."""
    budget = _Budget(path)
    if path.is_dir():
        for file in _dir_files(path):
            yield file.relative_to(path).as_posix(), _read(file, path)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from _zip_records(archive, budget, "")
    elif tarfile.is_tarfile(path):
        yield from _tar_records(path, budget)
    elif path.name.endswith(RECORD_SUFFIXES):
        yield path.name, _read(path, path)
    else:
        raise DatabaseError(
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
            digest.update(hashlib.sha256(_read(file, path)).digest())
    else:
        try:
            handle = open_regular(path)  # a FIFO or device is refused, never read forever
        except NotRegular as e:
            raise DatabaseError(path, str(e).removeprefix(f"{path}: ")) from e
        with handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _parse(name: str, blob: bytes, where: Path) -> object:
    if len(blob) > MAX_RECORD_BYTES:
        raise DatabaseError(where, f"{name}: more than {MAX_RECORD_BYTES} bytes")
    try:
        if name.endswith(".json"):
            return json.loads(blob)
        fast = plain_yaml.load(blob)  # most records; the rest through the bounded full loader
        return fast if fast is not None else untrusted_yaml.load(blob)
    except (ValueError, yaml.YAMLError) as e:
        kind = "JSON" if name.endswith(".json") else "YAML"
        raise DatabaseError(where, f"{name}: not valid {kind}: {e}") from e
    except RecursionError as e:  # JSON nested deeper than the interpreter's stack
        raise DatabaseError(where, f"{name}: nested too deeply") from e


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
            raise DatabaseError(path, f"{name}: bad OSV record: {e}") from e
        if isinstance(data, dict):
            stamp = osv.timestamp(data.get("modified") or data.get("published"), "modified")
            if stamp is not None:
                stamps.append(stamp)
    if count == 0:
        raise DatabaseError(path, "no OSV records found (.json or .yaml files)")
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


@dataclasses.dataclass(frozen=True)
class Database:
    """An indexed database: what it is (for records and reports) and its entries."""

    location: str
    digest: str  # sha256 of its content (`content_digest`)
    index: Index

    @property
    def latest(self) -> tuple[datetime.datetime, ...]:
        """The newest `modified` (or `published`) times, newest first (a few dozen)."""
        return tuple(t for t in map(osv.parse_time, self.index.latest) if t is not None)

    def newest(self, now: datetime.datetime) -> datetime.datetime | None:
        """The newest record time not after `now` (some records are misdated)."""
        return next((t for t in self.latest if t <= now), None)


def matches(index: Index, package: str, version: str) -> list[osv.Advisory]:
    """The advisories affecting `package` (PEP 503 name) at `version`, one per vulnerability
    (records sharing an alias merged). InvalidVersion when `version` is not PEP 440."""
    wanted = Version(version)
    hits = [osv.advisory(package, e) for e in index.entries(package) if osv.affects(e, wanted)]
    return osv.merge_aliases(hits)


def unreadable(index: Index, package: str) -> list[osv.Unreadable]:
    """What the advisories of `package` hold that cannot be read, affecting the version or not:
    each was judged on the safe side, and a report lists them."""
    return [u for e in index.entries(package) for u in osv.unreadable(package, e)]


def load(path: Path) -> Database:
    """The database at `path`, indexed in memory (no cache: nothing to poison); DatabaseError
    when it is missing, unreadable or malformed."""
    if not path.exists():
        raise DatabaseError(path, "no such file or directory")
    try:
        digest = content_digest(path)  # first: a FIFO or device is refused before it is read
        return Database(str(path), digest, Index(build_index(path, digest), digest))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DatabaseError(path, f"cannot read the database: {e}") from e
