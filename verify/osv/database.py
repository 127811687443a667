"""Offline OSV databases, read as hostile input: the PyPA advisory database
(`vulns/<package>/<ID>.yaml`), a directory of OSV JSON or YAML, an OSV `all.zip` export, and a
`.tar.gz` of any of these. Archive members are read as bounded streams, never extracted to
disk; directory records are read only as regular files, with the same size limit; YAML only
through `untrusted_yaml`. The index is one blob: a JSON header line (the database digest,
record count, newest record, per-package offsets, the body's own sha256) and a body of
per-package JSON blobs, so a lookup parses only the packages it is asked about, then the text of
the records not parsed yet (a scan's index parses only the packages it asks about: `_glance`).

The scan's offline source keeps such an index in its cache; the gate builds it in memory."""

from __future__ import annotations

import bz2
import dataclasses
import datetime
import functools
import hashlib
import io
import json
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from packaging.utils import canonicalize_version
from packaging.version import Version

from verify import forked
from verify.errors import UsageError
from verify.files import NotRegular, TooLarge, in_pseudo_root, named_pseudo_root, read_limited
from verify.formats import strict_json
from verify.osv import records as osv
from verify.text import shown

INDEX_FORMAT = "attest-osv-index/5"  # bump whenever the entries or their parsing change
LATEST_KEPT = 64  # newest record times kept in the index, for the staleness guard
RECORD_SUFFIXES = (".json", ".yaml", ".yml")
# Bounds against archive bombs (THREAT_MODEL D3): far above the real databases' sizes (the
# PyPA database: 3.8 MB as .tar.gz, 7,080 records, 21 MB unpacked, the largest record 90 KB).
MAX_DATABASE_BYTES = 512 * 1024 * 1024  # a database file (.tar.gz, .zip), read once, whole
MAX_MEMBERS = 400_000  # archive members or directory records
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # unpacked: every member of a tar is decompressed to pass
MAX_NESTED_ZIP_BYTES = 512 * 1024 * 1024


class DatabaseError(UsageError):
    """The advisory database named is malformed or refused (exit 2): `where` names it, or the
    record."""

    def __init__(self, where: Path | str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[DatabaseError], tuple[Path | str, str]]:
        return (DatabaseError, (self.where, self.problem))  # as a forked parse reports it


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


def _parts(name: str) -> list[str]:
    """The parts of a member's name that matter here, as PurePosixPath(name).parts but faster."""
    return [p for p in name.split("/") if p not in ("", ".")]


def _wanted(name: str, has_vulns_dir: bool) -> bool:
    """Record files only: hidden files and folders (.github, .id-allocator) are not records,
    and in the PyPA layout only vulns/ holds them."""
    if not name.endswith(RECORD_SUFFIXES):
        return False
    parts = _parts(name)
    if any(p.startswith(".") for p in parts):
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


class _Unpacked:
    """The decompressed bytes of a tar stream (gzip, bzip2, xz or none), unpacked only as far as
    they are read, and at most AHEAD bytes more: a member's size is counted against the budget
    before its bytes are. Decompressing in pieces of AHEAD (not member by member, most of them a
    few KB) spares the codec thousands of calls, each copying the input it has not used yet."""

    CHUNK = 1 << 16
    AHEAD = 1 << 18

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        self._at = 0
        self._buffer = b""  # unpacked, not read yet: from `_used` on
        self._used = 0
        self._codec: Any = None
        self._zlib = blob.startswith(b"\x1f\x8b")  # zlib keeps the input it has not used yet
        if self._zlib:
            self._codec = zlib.decompressobj(wbits=31)
        elif blob.startswith(b"BZh"):
            self._codec = bz2.BZ2Decompressor()
        elif blob.startswith(b"\xfd7zXZ\x00"):
            self._codec = lzma.LZMADecompressor()

    def read(self, size: int) -> bytes:
        """`size` bytes, fewer only at the end of the stream."""
        if self._codec is None:
            self._at += size
            return self._blob[self._at - size : self._at]
        if len(self._buffer) - self._used < size:
            parts = [self._buffer[self._used :]]
            needed = size - len(parts[0])
            while needed > 0 and (piece := self._more(max(min(needed, 1 << 20), self.AHEAD))):
                parts.append(piece)
                needed -= len(piece)
            self._buffer, self._used = b"".join(parts), 0
        found = self._buffer[self._used : self._used + size]
        self._used += len(found)
        return found

    def skip(self, size: int) -> int:
        """Pass `size` bytes (in pieces: a member skipped is never held whole); how many were."""
        passed = 0
        while passed < size and (piece := self.read(min(size - passed, 1 << 20))):
            passed += len(piece)
        return passed

    def _more(self, limit: int) -> bytes:
        codec = self._codec
        while not codec.eof:
            if self._zlib:
                data = codec.unconsumed_tail or self._input()
            else:  # bz2 and lzma buffer it, and say when they need more
                data = self._input() if codec.needs_input else b""
            if not data and (self._zlib or codec.needs_input):
                return b""  # the stream ends early: the caller finds the archive cut
            out: bytes = codec.decompress(data, limit)
            if out:
                return out
        return b""

    def _input(self) -> bytes:
        self._at += self.CHUNK
        return self._blob[self._at - self.CHUNK : self._at]


_REGULAR = (b"0", b"\0", b"7")
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, folders, FIFOs
_EXTENSIONS = (b"x", b"g", b"L", b"K")  # pax headers, GNU long names: what the next one is


def _field(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(raw: bytes) -> int:
    """A header's number: octal text, or base-256 (a first byte 0x80) for large ones."""
    if raw[:1] == b"\x80":
        return int.from_bytes(raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if text.strip(b"01234567"):
        raise ValueError("a number in a header is not octal")
    return int(text or b"0", 8)


def _header(block: bytes) -> tuple[str, int, bytes]:
    """(name, size, type) of a ustar, pax or GNU header block; ValueError when it is none."""
    checksum = _number(block[148:156])
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32  # the checksum field counts as spaces
    high = block[:148] + block[156:]  # some tars sum the bytes as signed: computed only then
    if checksum != unsigned and checksum != unsigned - 256 * sum(b > 127 for b in high):
        raise ValueError("bad header checksum")
    name, kind, prefix = _field(block[:100]), block[156:157], _field(block[345:500])
    if kind == b"\0" and name.endswith("/"):
        kind = b"5"  # an old tar's folder
    if prefix and kind not in (b"L", b"K", b"S"):
        name = f"{prefix}/{name}"
    return name, _number(block[124:136]), kind


def _pax(data: bytes) -> dict[str, str]:
    """The records of a pax header: `<length> <key>=<value>\\n`."""
    found, at = {}, 0
    while at < len(data):
        space = data.index(b" ", at)
        end = at + int(data[at:space])
        key, equals, value = data[space + 1 : end].partition(b"=")
        if end <= space or data[end - 1 : end] != b"\n" or not equals:
            raise ValueError("bad pax header")
        found[key.decode(errors="surrogateescape")] = value[:-1].decode(errors="surrogateescape")
        at = end
    return found


def _members(blob: bytes, budget: _Budget) -> Iterator[tuple[str, int, bytes, _Unpacked]]:
    """(name, size, type, stream) of each member of a tar; the stream is at the member's data,
    which the caller reads or skips (padding is passed here). Every member counts against the
    budget, by its declared size, before the stream moves into it."""
    stream = _Unpacked(blob)
    pax_global: dict[str, str] = {}
    pax: dict[str, str] = {}
    long_name: str | None = None
    while True:
        block = stream.read(512)
        if not block:
            return  # no end-of-archive blocks: the members so far are all there is
        if len(block) < 512:
            raise ValueError("cut inside a header")
        if not block.strip(b"\0"):
            return  # the end of the archive
        name, size, kind = _header(block)
        if kind == b"S" or any(k.startswith("GNU.sparse") for k in pax):
            raise ValueError(f"{shown(name)[:200]}: a sparse member")
        if kind in _EXTENSIONS:
            budget.take(name, size)
            data = stream.read(size)
            if len(data) < size:
                raise ValueError("cut inside a header")
            stream.skip(-size % 512)
            if kind in (b"x", b"g"):
                (pax_global if kind == b"g" else pax).update(_pax(data))
            elif kind == b"L":
                long_name = _field(data)
            continue
        headers = {**pax_global, **pax}
        name = headers.get("path", long_name if long_name is not None else name)
        if not headers.get("size", "0").isdigit():
            raise ValueError("a pax size that is no number")
        size = int(headers.get("size", size))
        pax, long_name = {}, None
        yield name, (0 if kind in _NO_DATA else size), kind, stream
        if kind in _NO_DATA:
            continue
        if stream.skip(-size % 512) < -size % 512:
            raise ValueError("cut inside a member")


def _tar_records(blob: bytes, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    """One pass over the stream: a member skipped is still decompressed, so every member counts
    against the budget, by its declared size, before the stream moves past it."""
    kept: list[tuple[str, bytes]] = []
    try:
        for name, size, kind, stream in _members(blob, budget):
            nested = name.endswith(".zip") and not PurePosixPath(name).name.startswith(".")
            if kind not in _REGULAR or not (nested or _wanted(name, False)):
                budget.take(name, size, MAX_TOTAL_BYTES)
                if stream.skip(size) < size:
                    raise ValueError("cut inside a member")
                continue
            budget.take(name, size, MAX_NESTED_ZIP_BYTES if nested else MAX_RECORD_BYTES)
            data = stream.read(size)
            if len(data) < size:
                raise ValueError("cut inside a member")
            if nested:
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    kept += _zip_records(inner, budget, f"{name}!")
            else:
                kept.append((name, data))
    except (ValueError, zlib.error, lzma.LZMAError, OSError, EOFError) as e:
        raise DatabaseError(budget.where, f"not a readable tar archive: {e}") from e
    has_vulns = any("vulns" in _parts(n)[:-1] for n, _ in kept if "!" not in n)
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
    """Whether `blob` starts with a tar header, compressed or not."""
    try:
        block = _Unpacked(blob).read(512)
        return len(block) == 512 and bool(block.strip(b"\0")) and bool(_header(block))
    except (ValueError, zlib.error, lzma.LZMAError, OSError, EOFError):
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


@functools.cache
def _yaml() -> tuple[type[Exception], ModuleType, ModuleType]:
    """PyYAML's error, the fast reader and the bounded full loader, imported on first use (a
    warm scan reads only the index, and PyYAML is a tenth of its start-up) and then kept: an
    import statement in `_parse`, run for every record, cost about 3% of a cold index build
    (`from package import module` runs Python code on every call)."""
    import yaml

    from verify import untrusted_yaml
    from verify.osv import plain_yaml

    return yaml.YAMLError, plain_yaml, untrusted_yaml


def _parse(name: str, blob: bytes, where: Path, unread: frozenset[str] = frozenset()) -> object:
    """A record as loaded; `unread`: top-level keys the caller does not read, which the fast
    reader may then only check (they load) and leave out."""
    yaml_error, plain_yaml, untrusted_yaml = _yaml()
    if len(blob) > MAX_RECORD_BYTES:
        raise DatabaseError(where, f"{name}: more than {MAX_RECORD_BYTES} bytes")
    try:
        if name.endswith(".json"):  # strict: a repeated `affected` would be read two ways
            return strict_json.loads(blob)
        fast = plain_yaml.load(blob, unread)  # most records; the rest: the bounded full loader
        return fast if fast is not None else untrusted_yaml.load(blob)
    except strict_json.TooDeep as e:
        raise DatabaseError(where, f"{name}: nested too deeply") from e
    except (ValueError, yaml_error) as e:
        kind = "JSON" if name.endswith(".json") else "YAML"
        raise DatabaseError(where, f"{name}: not valid {kind}: {e}") from e


# A glance at a YAML record files it under its packages and dates it without parsing it, by a
# few searches of its text. Whatever the parse makes of the record, a key `name` is spelled out
# in it (`name`, `'name'`, `"name"`, after a tag or a `?`...), unless an escape (`\x6e`), an
# escaped line break or an alias (`*a`, of an anchored `name`) writes it; and the top-level keys
# of a mapping that starts at column 0 stand at column 0, unless tagged, anchored, quoted or
# complex (`?`). The glance gives up (the record is parsed now, as before) on any of these, on
# a `name` key not alone at the start of its line, and on a value not written on its line alone.
_ODD_CHARS = "\r\t\x85\u2028\u2029\ufeff"  # line breaks other than \n, a tab, a byte order mark
_ODD_START = re.compile(r"""\n["'?{\[&*!%]""")  # two searches, each led by one character,
_ODD_ESCAPE = re.compile(r"\\[xuU\n]")  # are six times as fast as one of either
_SAFE_LINE = (  # a line that leaves no quoted scalar or flow collection open
    r""" *(?:- +)*(?:[\w.-]+ *:(?= |\n))? *(?:\[\]|\{\}|'(?:[^'\n]|'')*'|"(?:[^"\\\n]|\\.)*"|"""
    r"""[^'"{\[&*!?|>%@`#\s](?:(?!: +['"{\[&*!?|>%@`])[^\n])*)? *"""
)
_SAFE_LINE_RE = re.compile(_SAFE_LINE)
_OPENERS = re.compile(r"""['"{\[]""")  # what may open a quoted scalar or a flow collection
_ALIAS = re.compile(r"\*(?![\s*])(?<=[\s{,\[?]\*)")  # an alias that may stand for a key
_NAME = re.compile(r"""name(?<![^\s{,\[\]'"?!&*]name)['"]?\s*:""")
_INDENT = re.compile(r" *(?:- +)*")
_TOP_KEY = re.compile(r"\n[A-Za-z_][A-Za-z0-9_]*:(?: |\n)")
_QUOTED = re.compile(r"""'(?:[^'\n]|'')*'|"[^"\\\n]*\"""")
_NEXT = re.compile(r"(?: *\n)*( *)\S")  # the indentation of the next line with text


class _Unsure(Exception):
    """The record needs a parse to be read for sure."""


def _value(text: str, start: int, column: int) -> object:
    """The scalar written on the line from `start` on, under a key at `column`: a quoted one,
    or a plain one on that line alone (the next line with text is no deeper)."""
    end = text.index("\n", start)
    raw = text[start:end].strip(" ")
    if not raw or " #" in raw:
        raise _Unsure
    if raw[0] in "'\"":
        if _QUOTED.fullmatch(raw) is None:
            raise _Unsure  # continued on the next line, or followed by more
        return raw[1:-1].replace("''", "'") if raw[0] == "'" else raw[1:-1]
    following = _NEXT.match(text, end + 1)
    if following is not None and len(following[1]) > column:
        raise _Unsure  # continued on the next line
    found = _yaml()[1].plain_value(raw)  # imported on first use, as for `_parse`
    if found is None:
        raise _Unsure  # a number, a bool, a null...: what the parse makes of it decides
    return found


def _closed_before(text: str, at: int) -> bool:
    """Whether no quoted scalar or flow collection is open at `at` (a line's start)."""
    checked = -1
    for opener in _OPENERS.finditer(text, 0, at):
        start = text.rfind("\n", 0, opener.start()) + 1
        if start != checked:
            checked = start
            if not _SAFE_LINE_RE.fullmatch(text, start, text.index("\n", start)):
                return False
    return True


def _top_value(text: str, key: str) -> object:
    """The value of the top-level `key`, or None when it has none."""
    at = text.find(f"\n{key}:")
    if at < 0:
        if f"\n{key} " in text:
            raise _Unsure
        return None
    if text.find(f"\n{key}:", at + 1) >= 0 or not _closed_before(text, at):
        raise _Unsure  # given twice, or maybe inside a quoted scalar begun above
    return _value(text, at + len(key) + 2, 0)


def _glance(raw: bytes) -> tuple[set[str], str | None] | None:
    """The packages a YAML record may concern (a superset: the parse decides) and its time,
    or None when only a parse can tell."""
    try:
        text = "\n" + raw.decode() + "\n"  # a blank line more is no change
    except UnicodeDecodeError:
        return None
    if (
        any(c in text for c in _ODD_CHARS)
        or _ODD_START.search(text)
        or ("\\" in text and _ODD_ESCAPE.search(text))
        or not _TOP_KEY.match(text)
        or "\nid:" not in text
        or "\naffected:" not in text
        or _ALIAS.search(text)
    ):
        return None
    try:
        moment = _top_value(text, "modified") or _top_value(text, "published")
        stamp = osv.timestamp(moment, "modified")
        names = set()
        for m in _NAME.finditer(text):
            line = text.rindex("\n", 0, m.start()) + 1
            plain_key = m[0][:-1].rstrip(" ") == "name"  # no quote, no line break
            if not plain_key or _INDENT.fullmatch(text, line, m.start()) is None:
                raise _Unsure  # not a plain key alone at the start of its line
            found = _value(text, m.end(), m.start() - line)
            if found is not None:
                names.add(osv.normalize(str(found)))
    except (_Unsure, osv.RecordError):
        return None
    return (names, stamp) if names else None  # a record of no package: odd, parse it


def _folder(name: str) -> list[str]:
    """The package a record's path names in the PyPA layout (`vulns/<package>/<ID>.yaml`)."""
    parts = _parts(name)  # as PurePosixPath(name).parts, but for a leading `/` (never `vulns`)
    return [osv.normalize(parts[-2])] if len(parts) > 2 and parts[-3] == "vulns" else []


def _read_record(name: str, raw: bytes, where: Path) -> list[tuple[str, osv.Entry]]:
    """The entries of one record, bounded and validated; DatabaseError naming it."""
    data = _parse(name, raw, where, osv.UNREAD)
    try:
        return list(osv.entries(data))
    except osv.RecordError as e:
        raise DatabaseError(where, f"{name}: bad OSV record: {e}") from e


def _stamp(name: str, data: object, where: Path) -> str | None:
    if not isinstance(data, dict):
        return None
    try:
        return osv.timestamp(data.get("modified") or data.get("published"), "modified")
    except osv.RecordError as e:
        raise DatabaseError(where, f"{name}: bad OSV record: {e}") from e


def build_index(
    path: Path,
    digest: str,
    blob: bytes | None = None,
    wanted: Collection[str] | None = None,
    held: dict[str, list[osv.Entry]] | None = None,
    processes: int = 1,
) -> bytes:
    """Read every record once and lay out the index file; `blob`: the database file's bytes,
    when `digest` was taken of them (else the file is read again, and must not have changed).
    `wanted`: the packages to parse now (None: all); the YAML records a glance files under
    other packages only are kept as text, parsed when their package is first asked about.
    `held`: filled with the entries parsed, for an `Index` of this blob to start with (a cold
    scan does not decode what it has just encoded). `processes`: how many forked processes may
    share the parse (see `_parse_all`)."""
    if blob is None and not path.is_dir():
        blob = read_database(path)
        if hashlib.sha256(blob).hexdigest() != digest:
            raise DatabaseError(path, "the database changed while it was read: try again")
    parsed: dict[str, list[list[Any]]] = {}  # package -> [record number, entry]
    later: dict[str, list[int]] = {}  # package -> the numbers of its records kept as text
    kept: list[tuple[str, int, bytes]] = []
    asked = None if wanted is None else set(wanted)
    stamps: list[str] = []
    todo: list[tuple[str, int, bytes]] = []  # the records to parse now
    count = 0
    for name, raw in records(path, blob):
        folder = _folder(name) if asked is not None else []
        glance = None
        if asked is not None and not name.endswith(".json") and not asked.intersection(folder):
            glance = _glance(raw)  # a record in an asked package's folder is parsed anyway
        if glance is not None:
            glance[0].update(folder)  # where the PyPA database files it, too
        if glance is not None and asked is not None and not glance[0] & asked:
            for package in sorted(glance[0]):  # not a set's order: PYTHONHASHSEED decides it
                later.setdefault(package, []).append(len(kept))
            kept.append((name, count, raw))
            if glance[1] is not None:
                stamps.append(glance[1])
        else:
            todo.append((name, count, raw))
        count += 1
    for number, found, stamp in _parse_all(todo, path, processes):
        for package, entry in found:
            parsed.setdefault(package, []).append([number, entry])
        if stamp is not None:
            stamps.append(stamp)
    if count == 0:
        raise DatabaseError(path, "no OSV records found (.json or .yaml files)")
    if held is not None:
        held.update((p, [e for _, e in found]) for p, found in parsed.items() if p not in later)
    return _index_file(digest, count, stamps, parsed, later, kept)


Parsed = tuple[int, list[tuple[str, osv.Entry]], str | None]  # number, entries, time
FORK_FROM = 500  # records: below this, forking costs more than the second core gives back


def _parse_all(todo: list[tuple[str, int, bytes]], where: Path, processes: int) -> list[Parsed]:
    """Each record parsed, in order: in this process, or (a cold scan of many packages, where
    the YAML parse is most of the time) in `processes` forked children, each given a run of
    records of about equal bytes. The first bad record's error is raised either way."""
    processes = min(processes, len(todo) // FORK_FROM)
    if processes <= 1 or not forked.FORK_IS_SAFE:
        return _parse_run(todo, where)
    total, cuts, seen = sum(len(raw) for _, _, raw in todo), [0], 0
    for i, (_, _, raw) in enumerate(todo):
        seen += len(raw)
        if seen * processes >= total * len(cuts) and len(cuts) < processes:
            cuts.append(i + 1)
    cuts.append(len(todo))
    runs = forked.run(
        lambda k: _parse_run(todo[cuts[k] : cuts[k + 1]], where), len(cuts) - 1, processes, 1
    )
    return [done for run in runs for done in run]


def _parse_run(todo: list[tuple[str, int, bytes]], where: Path) -> list[Parsed]:
    done = []
    for name, number, raw in todo:
        data = _parse(name, raw, where, osv.UNREAD)
        try:
            found = list(osv.entries(data))
        except osv.RecordError as e:
            raise DatabaseError(where, f"{name}: bad OSV record: {e}") from e
        done.append((number, found, _stamp(name, data, where)))
    return done


def _index_file(
    digest: str,
    count: int,
    stamps: list[str],
    parsed: dict[str, list[list[Any]]],
    later: dict[str, list[int]],
    kept: list[tuple[str, int, bytes]],
) -> bytes:
    """The index file: a JSON header line saying where each package's parsed entries and each
    record kept as text are, then those bytes."""
    body = io.BytesIO()
    offsets: dict[str, list[int]] = {}
    for package in sorted(parsed):
        blob = json.dumps(parsed[package], separators=(",", ":")).encode()
        offsets[package] = [body.tell(), len(blob)]
        body.write(blob)
    texts: list[list[Any]] = []
    for name, number, raw in kept:
        texts.append([name, number, body.tell(), len(raw)])
        body.write(raw)
    data_bytes = body.getvalue()
    header = {
        "format": INDEX_FORMAT,
        "digest": digest,
        "records": count,
        "latest": sorted(stamps, reverse=True)[:LATEST_KEPT],
        "body_sha256": hashlib.sha256(data_bytes).hexdigest(),
        "packages": offsets,
        "later": later,
        "texts": texts,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + data_bytes


class Index:
    """A loaded index: the header parsed, package blobs parsed on demand, and the records kept
    as text parsed (bounded and validated as any record) when their package is asked about."""

    def __init__(
        self,
        raw: bytes,
        digest: str,
        where: Path | str = "the advisory index",
        held: dict[str, list[osv.Entry]] | None = None,
    ) -> None:
        head, _, self._body = raw.partition(b"\n")
        header = json.loads(head)
        if header.get("format") != INDEX_FORMAT or header.get("digest") != digest:
            raise ValueError("index of another format or database")
        if hashlib.sha256(self._body).hexdigest() != header.get("body_sha256"):
            raise ValueError("index body does not match its digest")
        self.records: int = header["records"]
        self.latest: list[str] = header["latest"]
        self._offsets: dict[str, list[int]] = header["packages"]
        self._later: dict[str, list[int]] = header["later"]
        self._texts: list[list[Any]] = header["texts"]
        self._where = where
        self._read: dict[str, list[osv.Entry]] = dict(held or {})  # package -> its entries

    def entries(self, package: str) -> list[osv.Entry]:
        """The entries of `package`, in the order of their records; DatabaseError when a
        record of it kept as text is malformed."""
        known = self._read.get(package)
        if known is None:
            known = self._read[package] = self._entries(package)
        return known

    def _entries(self, package: str) -> list[osv.Entry]:
        found: list[list[Any]] = []
        where = self._offsets.get(package)
        if where is not None:
            start, length = where
            found = json.loads(self._body[start : start + length])
        later = self._later.get(package, ())
        for text in later:
            name, number, start, length = self._texts[text]
            raw = self._body[start : start + length]
            read = _read_record(name, raw, Path(self._where))
            found += [[number, e] for p, e in read if p == package]
        if later:
            found.sort(key=lambda pair: int(pair[0]))  # as a parse of every record orders them
        return [entry for _, entry in found]


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
    canonical = canonicalize_version(wanted)
    hits = [
        osv.advisory(package, e)
        for e in index.entries(package)
        if osv.affects(e, wanted, canonical)
    ]
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
        held: dict[str, list[osv.Entry]] = {}
        raw = build_index(path, digest, blob, None, held)
        return Database(str(path), digest, Index(raw, digest, held=held))
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise DatabaseError(path, f"cannot read the database: {e}") from e
