"""`offline`: a local OSV database, indexed once into a cache keyed by its content.

The layouts, their reading (bounded, as hostile input) and the index are `verify.osv.database`,
which the deploy gate's `--db` uses too; the index file is the same blob, kept in the cache, so
a warm scan parses only the packages it is asked about.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Collection, Sequence
from pathlib import Path

from packaging.version import InvalidVersion

from attest.output import write_atomic
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
from verify import forked
from verify.errors import InputError
from verify.osv.database import (
    DatabaseError,
    Index,
    build_index,
    content_digest,
    matches,
    read_database,
    unreadable,
)
from verify.osv.records import Entry, parse_time


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "attest" / "osv-index"


def private_dir(path: Path) -> None:
    """A cache holds what decides the scan (the offline index, the services' HTTP answers):
    keep it the user's own (THREAT_MODEL T12). What is in it is trusted once read, so a
    directory that another user owns or can write to is refused, not tightened: a chmod now
    would not remove what was planted before."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
    except (FileExistsError, NotADirectoryError) as e:  # a file where a directory must be
        raise InputError(path, f"cannot be the cache: {e.strerror}") from e
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


def load_index(
    db: Path, cache_dir: Path, notes: list[str], wanted: Collection[str] | None = None
) -> tuple[Index, str]:
    """The index of `db`, built into `cache_dir` the first time its content is seen, with the
    records of the `wanted` packages parsed (the others when first asked about)."""
    try:
        return _load_index(db, cache_dir, notes, wanted)
    except DatabaseError as e:
        raise AdvisoryDataError(e.where, e.problem) from e


def _load_index(
    db: Path, cache_dir: Path, notes: list[str], wanted: Collection[str] | None
) -> tuple[Index, str]:
    if not db.exists():
        raise AdvisoryDataError(db, "no such file or directory")
    try:
        blob = None if db.is_dir() else read_database(db)  # once: the digest is of what is read
        digest = content_digest(db, blob)
    except OSError as e:
        raise ScanError(f"cannot read the advisory database {db}: {e.strerror or e}") from e
    private_dir(cache_dir)  # before anything in it is read
    cached = cache_dir / f"{digest}.idx"
    if cached.is_file():
        try:
            return Index(cached.read_bytes(), digest, db), digest
        except (ValueError, KeyError, OSError) as e:
            notes.append(f"advisory index {cached} unusable ({e}); rebuilding it")
    held: dict[str, list[Entry]] = {}  # the entries parsed now: not decoded again
    try:
        raw = build_index(db, digest, blob, wanted, held, forked.cores())
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise AdvisoryDataError(db, f"cannot read the database: {e}") from e
    write_atomic(cached, raw)
    return Index(raw, digest, db, held), digest


class OfflineSource(VulnSource):
    """A local OSV database (`--db`); see the module docstring for the layouts."""

    name = "offline"

    def check(self, components: Sequence[Component]) -> SourceAnswer:
        if self.options.db is None:
            raise AdvisoryDataError("--db", "the offline source needs a database: give --db PATH")
        notes: list[str] = []
        db, cache = self.options.db, self.options.cache_dir or default_cache_dir()
        index, digest = load_index(db, cache, notes, {c.name for c in components})
        try:
            return self._answer(components, index, db, digest, notes)
        except DatabaseError as e:  # a record parsed now, as its package is asked about
            raise AdvisoryDataError(e.where, e.problem) from e

    @staticmethod
    def _answer(
        components: Sequence[Component], index: Index, db: Path, digest: str, notes: list[str]
    ) -> SourceAnswer:
        found: list[Match] = []
        skips: list[Skip] = []
        for component in components:
            if component.version is None:
                skips.append(Skip(component, "no version given"))
                continue
            try:
                hits = matches(index, component.name, component.version)
            except InvalidVersion:
                skips.append(Skip(component, f"version {component.version!r} is not PEP 440"))
                continue
            found += [Match(component, a) for a in hits]
        odd = tuple(
            u for name in sorted({c.name for c in components}) for u in unreadable(index, name)
        )
        if odd:
            notes.append(
                f"{len({u.id for u in odd})} advisories of the scanned packages hold data that "
                "cannot be read; judged on the safe side (affected) and listed in the report"
            )
        database = Database(
            location=str(db),
            digest=digest,
            records=index.records,
            latest=tuple(t for t in map(parse_time, index.latest) if t is not None),
        )
        return SourceAnswer(
            tuple(found), tuple(skips), database=database, notes=tuple(notes), unreadable=odd
        )
