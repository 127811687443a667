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
from verify.files import NotRegular, TooLarge, in_pseudo_root, named_pseudo_root, read_limited
from verify.osv import plain_yaml
from verify.osv import records as osv
from verify.text import shown

INDEX_FORMAT = "attest-osv-index/2"  # bump whenever the entries or their parsing change
LATEST_KEPT = 64  # newest record times kept in the index, for the staleness guard
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
# Bounds against archive bombs (THREAT_MODEL D3): far above the real databases' sizes (the
# PyPA database: 3.8 MB as .tar.gz, 7,080 records, 21 MB unpacked, the largest record 90 KB).
MAX_DATABASE_BYTES = 512 * 1024 * 1024  # a database file (.tar.gz, .zip), read once, whole
MAX_MEMBERS = 400_000  # archive members or directory records
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # unpacked: every member of a tar is decompressed to pass
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
    """Counts members and unpacked bytes of a database; refuses bombs. Sizes are counted as
    declared, before reading: a tar member holds exactly its declared size, and zipfile stops
    a zip member at its declared size (a larger one is a CRC error)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.members = 0
        self.total = 0

    def take(self, name: str, size: int, limit: int | None = None) -> None:
        self.members += 1
        self.total += size
        limit = MAX_RECORD_BYTES if limit is None else limit
        if size > limit:
            raise DatabaseError(self.where, f"{shown(name)[:200]}: more than {limit} bytes")
        if self.members > MAX_MEMBERS or self.total > MAX_TOTAL_BYTES:
            raise DatabaseError(
                self.where,
                f"more than {MAX_MEMBERS} members or {MAX_TOTAL_BYTES} bytes unpacked: refused "
                "(an archive bomb?)",
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
    if len(infos) > MAX_MEMBERS:
        raise DatabaseError(budget.where, f"more than {MAX_MEMBERS} members: refused")
    has_vulns = any("vulns" in PurePosixPath(i.filename).parts[:-1] for i in infos)
    for info in infos:
        if _wanted(info.filename, has_vulns):
            budget.take(info.filename, info.file_size)
            with data.open(info) as handle:
                blob = handle.read(MAX_RECORD_BYTES + 1)  # declared sizes can lie
            yield f"{prefix}{info.filename}", blob


def _tar_records(blob: bytes, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    """One pass over the stream (`r|*`): a member skipped is still decompressed, so every
    member counts against the budget, by its declared size, before the stream moves past it."""
    kept: list[tuple[str, bytes]] = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|*") as archive:
        for member in archive:
            nested = member.name.endswith(".zip") and not PurePosixPath(
                member.name
            ).name.startswith(".")
            if not member.isfile() or not (nested or _wanted(member.name, False)):
                budget.take(member.name, member.size, MAX_TOTAL_BYTES)
                continue
            budget.take(
                member.name, member.size, MAX_NESTED_ZIP_BYTES if nested else MAX_RECORD_BYTES
            )
            handle = archive.extractfile(member)
            data = handle.read(member.size) if handle is not None else b""
            if nested:
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    kept += _zip_records(inner, budget, f"{member.name}!")
            else:
                kept.append((member.name, data))
    has_vulns = any("vulns" in PurePosixPath(n).parts[:-1] for n, _ in kept if "!" not in n)
    yield from ((n, b) for n, b in kept if "!" in n or _wanted(n, has_vulns))


def _dir_files(root: Path) -> list[Path]:
    if (pseudo := named_pseudo_root(root)) is not None:  # /proc/self: walked, not a database
        raise DatabaseError(root, f"{in_pseudo_root(pseudo)}: never read as a database")
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


def read_database(path: Path) -> bytes:
    """The bytes of a database file: a regular file (a FIFO, a device such as /dev/zero, is
    refused unread) of at most MAX_DATABASE_BYTES, counted as read (st_size can lie; a size
    over the limit is refused before reading, without the 512 MiB read)."""
    too_large = DatabaseError(path, f"more than {MAX_DATABASE_BYTES} bytes: refused")
    try:
        if path.stat().st_size > MAX_DATABASE_BYTES:
            raise too_large
        return read_limited(path, MAX_DATABASE_BYTES, "an advisory database")
    except TooLarge as e:
        raise too_large from e
    except NotRegular as e:
        raise DatabaseError(path, str(e).removeprefix(f"{path}: ")) from e


def records(path: Path, blob: bytes | None = None) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every record file in the database at `path`; `blob`: the bytes of
    a database file, when already read."""
    budget = _Budget(path)
    if path.is_dir():
        for file in _dir_files(path):
            data = _read(file, path)
            budget.take(file.name, len(data))
            yield file.relative_to(path).as_posix(), data
        return
    blob = read_database(path) if blob is None else blob
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            yield from _zip_records(archive, budget, "")
    elif _is_tar(blob):
        yield from _tar_records(blob, budget)
    elif path.name.endswith(RECORD_SUFFIXES):
        if len(blob) > MAX_RECORD_BYTES:
            raise DatabaseError(path, f"more than {MAX_RECORD_BYTES} bytes")
        yield path.name, blob
    else:
        raise DatabaseError(
            path, "not an OSV database: expected a directory, a .zip, a .tar.gz or a record file"
        )


def _is_tar(blob: bytes) -> bool:
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r|*") as archive:
            return archive.next() is not None
    except (tarfile.TarError, EOFError, OSError):
        return False


def content_digest(path: Path, blob: bytes | None = None) -> str:
    """sha256 of the database: the file's bytes, or for a directory its record files' names and
    contents. The index is keyed by it, so an edited database is never answered from a stale
    index."""
    if not path.is_dir():
        return hashlib.sha256(read_database(path) if blob is None else blob).hexdigest()
    digest = hashlib.sha256()
    for file in _dir_files(path):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(_read(file, path)).digest())
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


def build_index(path: Path, digest: str, blob: bytes | None = None) -> bytes:
    """Read every record once and lay out the index file; `blob`: the database file's bytes,
    when `digest` was taken of them (else the file is read again, and must not have changed)."""
    if blob is None and not path.is_dir():
        blob = read_database(path)
        if hashlib.sha256(blob).hexdigest() != digest:
            raise DatabaseError(path, "the database changed while it was read: try again")
    packages: dict[str, list[osv.Entry]] = {}
    count = 0
    stamps: list[str] = []
    for name, raw in records(path, blob):
        data = _parse(name, raw, path)
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
        blob = None if path.is_dir() else read_database(path)  # a FIFO or device: refused unread
        digest = content_digest(path, blob)
        return Database(str(path), digest, Index(build_index(path, digest, blob), digest))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DatabaseError(path, f"cannot read the database: {e}") from e
