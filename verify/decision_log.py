"""The tamper-evident decision log: one JSON line per decision, each carrying its sequence
number and the SHA-256 of the previous line, appended under an exclusive file lock so that
concurrent gates never interleave or fork the chain.

A record's line is exactly the bytes the gate writes (`_encode`): any other spelling of the same
JSON (a key given twice, white space, `\r`, key order, escapes) is an edit. It is strict UTF-8
JSON: a lone surrogate is written as U+FFFD (`_strict`).

Appends are whole: each record goes out in one `write`, the file is fsynced once per run, and a
failed or short write cuts the file back to its length before the run. A crash or a full disk can
still leave a torn last record, and only that: a last line without its newline that is not JSON
(an append cut short) or a whole record missing its newline; after a power loss, such a line
followed by NULs, any number of them (`_torn_long`: past one record's bytes, only NULs). It is
reported as torn (not as an edit), the gate appends nothing after it, and `repair_torn_tail`
removes it and nothing else. A last line with its newline that is not a record was edited: the
gate appends nothing after it either, and there is nothing to repair.

`check` walks the chain once, streamed, in memory bounded by its findings (at most
MAX_FINDINGS), and names every record that was edited, deleted, inserted or moved. Cutting the
newest records or rewriting the whole log is detectable only against a head hash kept elsewhere:
`check(path, expect_head=...)`. A file none of whose lines is a record of the gate's (a policy,
2 GiB of NULs) is not a log at all: exit 2, said in one line, and never appended to. Nothing in
/proc, /sys or /dev is ever opened as a log."""

from __future__ import annotations

import bisect
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from verify import logs
from verify.errors import AttestError, OperationalError, UsageError
from verify.files import (
    MIB,
    NotRegular,
    in_pseudo_root,
    named_pseudo_root,
    open_regular,
    opened_in_pseudo_root,
)

_log = logs.get(__name__)

GENESIS = "0" * 64
LOCK_TIMEOUT = 30.0  # seconds: a stuck writer must not block every deploy forever
# Bytes in one record's line: a decision takes a few KB; a longer line is not a record.
MAX_RECORD = MIB
REPAIR = "attest verify-log --repair-torn-tail"
_TAIL = 1 << 16  # bytes first read back from the end to find the last record
_EXCERPT = 60  # bytes of a torn record shown when it is removed
# Findings before `check` stops reading: a log this damaged needs a person, not a longer list,
# and what is kept about the log grows with its findings only.
MAX_FINDINGS = 1000
EDITED = "edited: the record does not match its own hash"
RESPELLED = "edited: not the bytes the gate wrote"


class DecisionLogError(AttestError):
    """Anything about the decision log: the common base of the four below, each of which
    names its own contract (a log that is not one is exit 2, one that cannot be written 3)."""


class LogUnusable(DecisionLogError, OperationalError):
    """The decision log cannot be written or read now (I/O, a writer holding its lock, a last
    line that is not a record): nothing is decided from it or appended to it."""


class NotALog(DecisionLogError, UsageError):
    """The path is not a decision log: missing (when checked), a FIFO, device, socket or
    directory, or a file none of whose lines is a record the gate writes (`_not_a_log`)."""


class TornTail(DecisionLogError, OperationalError):
    """The last record is torn (a crash or a full disk while appending): nothing is appended
    after it until `attest verify-log --repair-torn-tail` removes it."""


class NothingTorn(DecisionLogError, UsageError):
    """`--repair-torn-tail` found no torn last record, so it changed nothing."""


def _canonical(record: dict[str, Any]) -> bytes:
    """UTF-8 JSON. The gate writes no lone surrogate (`_strict`); a record of an older gate
    holding one (a file name that is not UTF-8 reaches Python as one) has it as its JSON escape
    `\\udcXX`, which reads back to the same text and hash, so it still verifies."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def record_hash(record: dict[str, Any]) -> str:
    """The SHA-256 of a record's canonical JSON without its own `hash` field."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _strict(value: Any) -> Any:
    """`value` with every lone surrogate in its text (keys too) as U+FFFD: the log is strict
    JSON, which no reader rejects (`\\udcff` is refused by strict parsers). The exact bytes of
    a name that is not UTF-8 are the caller's to keep (`name_bytes_hex`)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_strict(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def _encode(record: dict[str, Any]) -> tuple[bytes, str]:
    record = json.loads(_canonical(_strict(record)))
    digest = record_hash(record)
    return _canonical({**record, "hash": digest}) + b"\n", digest


def repair_command(path: Path) -> str:
    return f"{REPAIR} {shlex.quote(str(path))}"


# --- what a line is -------------------------------------------------------------------------


def _json(raw: bytes) -> Any:
    """The JSON value of a line; ValueError for anything else (RecursionError: `[[[[...`)."""
    try:
        return json.loads(raw)
    except RecursionError as e:
        raise ValueError("nested too deeply") from e


@dataclasses.dataclass(frozen=True, slots=True)
class _Line:
    seq: int | None
    prev: str | None
    digest: str  # the hash it claims: what the next record chains to
    problem: str | None  # why it is not a record as the gate wrote it; None: it is one


def _parse(raw: bytes | None) -> _Line:
    if raw is None:  # over MAX_RECORD: not read
        limit = f"over the {MAX_RECORD // MIB} MiB limit for a record"
        return _Line(None, None, GENESIS, f"{limit}: not a record the gate wrote")
    try:
        record = _json(raw)
        stored = str(record["hash"])
        seq, prev = int(record["seq"]), str(record["prev"])
        if record_hash(record) != stored:
            return _Line(seq, prev, stored, EDITED)
        # The chain hashes the parsed record: the bytes must be the one spelling the gate writes.
        return _Line(seq, prev, stored, None if _canonical(record) == raw else RESPELLED)
    # OverflowError: "seq": Infinity; RecursionError: hashing what json.loads could just nest
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        return _Line(None, None, hashlib.sha256(raw).hexdigest(), RESPELLED)


@dataclasses.dataclass(frozen=True)
class Torn:
    """A torn last record: an append cut short by a crash or a full disk, not an edit."""

    whole: bool  # a whole record that only lacks its newline (the repair adds it)
    padded: bool = False  # over MAX_RECORD: at most a record's bytes, then only NULs

    def __str__(self) -> str:
        if self.whole:
            return "torn last record: a whole record without its newline (an append cut short)"
        if self.padded:
            return (
                f"torn last record: cut short and followed by NULs, over the {MAX_RECORD // MIB} "
                "MiB a record takes (a power loss while appending), not an edit"
            )
        return (
            "torn last record: cut short, not a whole record (a crash or a full disk while "
            "appending, not an edit)"
        )


def _torn(raw: bytes, newline: bool) -> Torn | None:
    """Whether the last line is torn. An append is one write ending in its newline, so a line
    that has its newline was written whole: if it is not a record, it was edited. Without it, a
    line that is not JSON is what an interrupted append leaves if it starts as a record does
    (a strict prefix of a record is never JSON) or with the zeros a power loss can leave; a JSON
    line is torn only when it is a whole record (else it was edited). Any other line was never
    written by the gate, and the repair must not cut a file that is not a log."""
    if newline or raw[:1] not in (b"{", b"\0"):
        return None
    try:
        _json(raw)
    except ValueError:
        return Torn(whole=False)
    return Torn(whole=True) if _parse(raw).problem is None else None


def _torn_long(start: bytes, newline: bool, padded: bool) -> Torn | None:
    """Whether a last line over MAX_RECORD is torn. One append is one write of a record of at
    most MAX_RECORD bytes, so a crash cuts one short, never makes one longer; but a power loss
    can leave the file extended by NULs, as many as that run was writing (records or file
    system blocks). So such a line is torn when it starts as `_torn` says and, past its first
    MAX_RECORD bytes, holds only NULs (`padded`); any other long line was never written by the
    gate (an edit), and the repair leaves it to a person."""
    if newline or not padded or start[:1] not in (b"{", b"\0"):
        return None
    return Torn(whole=False, padded=True)


def _ours(raw: bytes | None, newline: bool) -> bool:
    """Whether a line is a record of the gate's (edited or not: a JSON object with an integer
    `seq`, a `prev` and a `hash`) or what a torn append of one leaves."""
    return raw is not None and (_parse(raw).seq is not None or _torn(raw, newline) is not None)


def _not_a_log(path: Path, which: str) -> NotALog:
    """What tells a log that was tampered with (its findings, exit 1) from a file that is not a
    decision log at all (a policy, a file of zeros, 2 GiB of NULs on one line): none of its
    lines is a record of the gate's, so it is exit 2, said once, and nothing is appended."""
    return NotALog(
        f"{path}: not a decision log: {which} a record the gate writes (name a new file or an "
        "existing decision log)"
    )


def _first_line(fd: int) -> tuple[bytes | None, bool]:
    """The file's first line (None: over MAX_RECORD), and whether a newline ends it."""
    for window in (_TAIL, MAX_RECORD + 1):
        data = os.pread(fd, window, 0)
        cut = data.find(b"\n")
        if cut >= 0:
            return data[:cut], True
        if len(data) < window:
            return data, False
    return None, False


# --- appending ------------------------------------------------------------------------------


_REGULAR = "the decision log must be a regular file, not a FIFO or device"


def _pseudo(path: Path, root: Path) -> NotALog:
    return NotALog(f"{path}: {_REGULAR}: it {in_pseudo_root(root)}, never written or read")


def _open_log(path: Path, flags: int) -> int:
    """A descriptor of the regular file `path`, or NotALog (O_NONBLOCK: a FIFO never hangs).
    Nothing in /proc, /sys or /dev is opened (its name, through any symlink), and a file found
    there once open (a symlink swapped in between) is closed before anything is written."""
    root = named_pseudo_root(path)
    if root is not None:
        raise _pseudo(path, root)
    try:
        fd = os.open(path, flags | os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.EISDIR):  # a socket, a directory
            raise NotALog(f"{path}: the decision log must be a regular file") from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotALog(f"{path}: {_REGULAR}")
    root = opened_in_pseudo_root(fd, path)
    if root is not None:
        os.close(fd)
        raise _pseudo(path, root)
    return fd


def _size(fd: int, path: Path) -> int:
    """The file's size, which the tail is read back from: a file holding more than its size
    says (a pseudo file's size is 0) is no log on disk, and its size is not trusted to skip
    the check of its first and last lines."""
    size = os.fstat(fd).st_size
    if os.pread(fd, 1, size):
        raise NotALog(f"{path}: holds more than its size ({size} bytes) says: {_REGULAR}")
    return size


def _lock(
    fd: int,
    path: Path,
    timeout: float,
    kind: int = fcntl.LOCK_EX,
    then: str = "nothing was decided",
) -> None:
    """A lock (exclusive to write, shared to read), waited for at most `timeout` seconds (then
    exit 3, which denies)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LogUnusable(
                    f"{path}: another writer has held the decision log's lock for {timeout:g}s; "
                    f"{then}"
                ) from None
            time.sleep(0.01)


@dataclasses.dataclass(frozen=True)
class _Tail:
    start: int | None  # byte offset of the last line (None: over MAX_RECORD and not torn)
    raw: bytes | None  # the last line, without its newline (None: over MAX_RECORD)
    newline: bool  # whether it ends with one
    torn: Torn | None


def _tail(fd: int, size: int) -> _Tail | None:
    """The last line, read back from the end: at most MAX_RECORD + 1 bytes of it (`_long_tail`
    past that), never the file."""
    if size == 0:
        return None
    newline = os.pread(fd, 1, size - 1) == b"\n"
    end = size - 1 if newline else size
    for window in (_TAIL, MAX_RECORD + 1):
        low = max(0, end - window)
        data = os.pread(fd, end - low, low)
        cut = data.rfind(b"\n")
        if cut >= 0 or low == 0:
            raw = data[cut + 1 :]
            return _Tail(low + cut + 1, raw, newline, _torn(raw, newline))
    if newline:  # written whole, and no record is that long: an edit
        return _Tail(None, None, newline, None)
    return _long_tail(fd, end)


def _long_tail(fd: int, end: int) -> _Tail:
    """A last line over MAX_RECORD without its newline, read back in chunks from `end` to find
    where it starts and whether it is torn (`_torn_long`): holes are stepped over unread, and
    nothing is read further than MAX_RECORD before its last byte that is not NUL."""
    data_end: int | None = None  # just past the line's last byte that is not NUL
    high = end
    while high > 0:
        low = max(0, high - MIB)
        chunk = b"" if _hole(fd, low, high) else os.pread(fd, high - low, low)
        cut = chunk.rfind(b"\n")
        if data_end is None and (kept := len(chunk[cut + 1 :].rstrip(b"\0"))):
            data_end = low + cut + 1 + kept
        start = low + cut + 1 if cut >= 0 else 0 if low == 0 else None
        if start is not None:
            padded = data_end is None or data_end - start <= MAX_RECORD
            torn = _torn_long(os.pread(fd, 1, start), False, padded)
            return _Tail(start if torn else None, None, False, torn)
        if data_end is not None and data_end - low > MAX_RECORD:
            return _Tail(None, None, False, None)  # over a record before its last data
        high = low
    raise AssertionError("unreachable: the loop ends at the start of the file")


def _hole(fd: int, low: int, high: int) -> bool:
    """Whether the bytes from `low` to `high` are a hole of a sparse file (NULs, unread)."""
    try:
        return os.lseek(fd, low, os.SEEK_DATA) >= high
    except OSError as e:  # ENXIO: a hole up to the end; else no SEEK_DATA: read it
        return e.errno == errno.ENXIO


def _chain_end(fd: int, size: int, path: Path) -> tuple[str, int]:
    """(the hash the next record chains to, its sequence number). Nothing is chained onto a last
    line that is not a record: exit 3 for a log's (`verify-log` says why), exit 2 when the
    first line is not a record of the gate's either: then the file is not a log."""
    try:
        return _chained_onto(fd, size, path)
    except DecisionLogError as e:
        if not _ours(*_first_line(fd)):
            raise _not_a_log(path, "neither its first nor its last line is") from e
        raise


def _chained_onto(fd: int, size: int, path: Path) -> tuple[str, int]:
    tail = _tail(fd, size)
    if tail is None:
        return GENESIS, 0
    if tail.torn is not None:
        raise TornTail(
            f"{path}: the last record is torn (a crash or a full disk while appending), and "
            f"nothing is appended after it; nothing was decided: run `{repair_command(path)}` "
            "(it says what it removes), then run the gate again"
        )
    last = _parse(tail.raw)  # not torn: a record, or it was edited
    if last.problem is not None or last.seq is None:
        raise LogUnusable(
            f"{path}: the last line is not a record as the gate wrote it ({last.problem}), and "
            f"nothing is chained onto it: check the log with `attest verify-log {path}`; "
            "nothing was decided"
        )
    return last.digest, last.seq + 1


def _write_whole(fd: int, line: bytes) -> None:
    """One `write` of the whole line; more only when the kernel took part of it."""
    view = memoryview(line)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _cut_back(fd: int, size: int, path: Path, error: BaseException) -> LogUnusable:
    why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        return LogUnusable(
            f"{path}: cannot append to the decision log: {why}; cutting it back to {size} bytes "
            f"failed too ({e.strerror}): check it with `attest verify-log {path}`"
        )
    return LogUnusable(
        f"{path}: cannot append to the decision log: {why}; nothing of this run was kept"
    )


@logs.timed(_log, "decision log append")
def append(path: Path, records: Iterable[dict[str, Any]], timeout: float = LOCK_TIMEOUT) -> None:
    """Chain and append the records under an exclusive lock: each in one write, one fsync at the
    end; on any failure the file is cut back to its length before, and nothing is kept."""
    try:
        fd = _open_log(path, os.O_CREAT | os.O_APPEND)
    except OSError as e:
        raise LogUnusable(f"{path}: cannot append to the decision log: {e.strerror}") from e
    try:
        _lock(fd, path, timeout)
        try:
            size = _size(fd, path)  # under the lock: what a failure cuts back to
            previous, first = _chain_end(fd, size, path)
            lines: list[bytes] = []
            for seq, record in enumerate(records, start=first):
                line, previous = _encode({**record, "seq": seq, "prev": previous})
                if len(line) > MAX_RECORD + 1:
                    raise LogUnusable(
                        f"{path}: a record of {len(line)} bytes is over the "
                        f"{MAX_RECORD // MIB} MiB limit; nothing was decided"
                    )
                lines.append(line)
            try:
                for line in lines:
                    _write_whole(fd, line)
                os.fsync(fd)
            except BaseException as e:  # ^C included: no part of this run stays
                raise _cut_back(fd, size, path, e) from e
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as e:  # reading the tail; nothing was written yet
        raise LogUnusable(f"{path}: cannot append to the decision log: {e.strerror}") from e
    finally:
        os.close(fd)


@logs.timed(_log, "decision log repair")
def repair_torn_tail(path: Path, say: Callable[[str], None], timeout: float = LOCK_TIMEOUT) -> None:
    """Remove a torn last record, or give a whole one its missing newline, under the lock;
    `say` is told what is removed before it is. Anything else is NothingTorn: no change."""
    try:
        fd = _open_log(path, 0)
    except FileNotFoundError as e:
        raise NotALog(f"{path}: no such decision log") from e
    except OSError as e:
        raise LogUnusable(f"{path}: cannot open the decision log: {e.strerror}") from e
    try:
        _lock(fd, path, timeout, then="nothing was changed")
        try:
            if not _ours(*_first_line(fd)):  # the repair cuts nothing off a file that is no log
                raise _not_a_log(path, "its first line is not")
            size = _size(fd, path)
            tail = _tail(fd, size)
            if tail is None or tail.torn is None or tail.start is None:
                raise _not_torn(path, tail)
            if tail.torn.whole:
                say(f"{tail.torn}: adding its newline")
                os.pwrite(fd, b"\n", size)
            else:
                shown = os.pread(fd, _EXCERPT + 1, tail.start)
                excerpt = shown[:_EXCERPT].decode("utf-8", "replace")
                more = "…" if len(shown) > _EXCERPT else ""
                say(
                    f"{tail.torn}: removing the last {size - tail.start} bytes "
                    f"(from byte {tail.start}): {excerpt}{more}"
                )
                os.ftruncate(fd, tail.start)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as e:
        raise LogUnusable(f"{path}: cannot repair the decision log: {e.strerror}") from e
    finally:
        os.close(fd)


def _not_torn(path: Path, tail: _Tail | None) -> NothingTorn:
    if tail is not None and tail.raw is None:  # what a crash cannot leave: say so
        return NothingTorn(
            f"{path}: the last line is over the {MAX_RECORD // MIB} MiB a record takes and not "
            "a record cut short followed by NULs, which is all a crash leaves: it was not torn "
            f"but written so (an edit), so nothing was changed; `attest verify-log {path}` "
            "names it"
        )
    return NothingTorn(
        f"{path}: the last record is not torn, so nothing was changed; "
        f"`attest verify-log {path}` says what is wrong, if anything"
    )


# --- checking -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Finding:
    line: int  # 1-based line in the file
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


def _read_lines(handle: BinaryIO) -> Iterator[tuple[bytes | None, bool, Torn | None]]:
    """(each line without its newline, or None when over MAX_RECORD; whether a newline ended
    it; whether it is torn, if it is the last), one at a time, in bounded memory however long
    the log or a line is."""
    while line := handle.readline(MAX_RECORD + 1):
        newline = line.endswith(b"\n")
        if not newline and len(line) > MAX_RECORD:
            newline, nuls = _skip_line(handle)
            padded = nuls and not line[MAX_RECORD:].strip(b"\0")
            yield None, newline, _torn_long(line, newline, padded)
            continue
        raw = line.removesuffix(b"\n")
        yield raw, newline, _torn(raw, newline)


def _skip_line(handle: BinaryIO) -> tuple[bool, bool]:
    """Past the rest of an oversized line, in bounded memory: whether a newline ends it, and
    whether the rest held only NULs. A sparse file's holes read as NULs, never a newline, so
    they are stepped over unread (`truncate -s 2G` made a 2 GiB line that took seconds to
    read)."""
    nuls = True
    while rest := handle.readline(_TAIL):
        if rest.endswith(b"\n"):
            return True, False
        nuls = nuls and not rest.strip(b"\0")
        try:
            handle.seek(os.lseek(handle.fileno(), handle.tell(), os.SEEK_DATA))
        except OSError as e:  # ENXIO: a hole up to the end; else no SEEK_DATA: read on
            if e.errno == errno.ENXIO:
                handle.seek(0, os.SEEK_END)
    return False, nuls


@dataclasses.dataclass(frozen=True)
class Report:
    """What `check` found: an intact log has no findings and no torn last record."""

    records: int  # lines read as records (a torn last record is not one)
    findings: list[Finding]  # edits, deletions, insertions, moves: tampering
    torn: Finding | None  # a torn last record (a crash or a full disk, not tampering)
    head: str  # the hash of the last record (GENESIS for an empty log)
    anchor: int | None = None  # the line holding `expect_head` (0: GENESIS), None: not there
    stopped_at: int | None = None  # the line after which MAX_FINDINGS stopped the check
    heads: dict[int, str] = dataclasses.field(default_factory=dict)  # line -> its hash, asked

    @property
    def intact(self) -> bool:
        return not self.findings and self.torn is None


@dataclasses.dataclass
class _Run:
    """Records first seen one after the other: `low`..`high` on the lines from `line` on."""

    low: int
    high: int
    line: int
    digest: str  # of record `high`: what record `high + 1` chains to


_PROBLEM, _POSITION, _CHAIN = range(3)  # the order of one line's findings


class _Walk:
    """The chain, one line at a time. What it keeps grows with the findings only: a run of
    records in order is one `_Run`, and every record out of place (a finding) adds at most one
    run, one chain to check once its predecessor shows up, and one gap to name."""

    def __init__(self) -> None:
        self.runs: list[_Run] = []  # sorted by `low`, disjoint: every seq seen, and where
        self.lows: list[int] = []
        self.current: _Run | None = None  # the run the line before extended
        self.top = -1  # the highest seq so far
        self.found: list[tuple[int, int, str]] = []  # (line, order, problem)
        self.chains: dict[int, tuple[int, str]] = {}  # seq awaited: (line, the prev it claims)
        self.gaps: dict[int, tuple[int, int]] = {}  # seq awaited: (line, the seq that came)

    def count(self) -> int:
        return len(self.found) + len(self.gaps)

    def _first(self, seq: int) -> _Run | None:
        at = bisect.bisect_right(self.lows, seq) - 1
        return self.runs[at] if at >= 0 and self.runs[at].high >= seq else None

    def add(self, number: int, line: _Line) -> None:
        if line.problem is not None:
            self.found.append((number, _PROBLEM, line.problem))
        if line.seq is None:
            self.top += 1  # unreadable: assume it held the next record
            self.current = None
            return
        seq = line.seq
        seen = self._first(seq)
        if seen is not None:  # named as inserted; its chain is not checked again
            first = seen.line + seq - seen.low
            problem = f"record {seq} appears again (first at line {first}): one was inserted"
            self.found.append((number, _POSITION, problem))
            self.current = None
            return
        self._position(number, seq)
        self._chain(number, line)
        self._seen(number, line)
        self.top = max(self.top, seq)

    def _position(self, number: int, seq: int) -> None:
        if seq <= self.top:
            problem = f"records out of order: record {seq} comes after record {self.top}"
            self.found.append((number, _POSITION, problem))
        elif seq > self.top + 1:  # deleted, or moved later: known when it shows up, or never
            self.gaps[self.top + 1] = (number, seq)
        if (gap := self.gaps.pop(seq, None)) is not None:
            problem = f"records out of order: record {gap[1]} comes before record {seq}"
            self.found.append((gap[0], _POSITION, problem))

    def _chain(self, number: int, line: _Line) -> None:
        """Whether the record chains to its predecessor (the first record with the seq before);
        one seen later is checked when it shows up, a missing one is named as deleted."""
        assert line.seq is not None
        if line.seq == 0:
            if line.prev != GENESIS:
                problem = "record 0 does not start the chain: it was edited or inserted"
                self.found.append((number, _CHAIN, problem))
            return
        before = self._first(line.seq - 1)
        if before is None:
            self.chains[line.seq - 1] = (number, str(line.prev))
        elif line.prev != before.digest:  # a first sighting: its predecessor ends a run
            self._broken(number, line.seq, before.line + before.high - before.low)

    def _broken(self, number: int, seq: int, at: int) -> None:
        problem = (
            f"record {seq} does not chain to record {seq - 1} (line {at}): "
            f"line {at} was edited, replaced or inserted"
        )
        self.found.append((number, _CHAIN, problem))

    def _seen(self, number: int, line: _Line) -> None:
        assert line.seq is not None
        run = self.current
        if run is not None and run.high + 1 == line.seq:
            run.high, run.digest = line.seq, line.digest
        else:
            run = self.current = _Run(line.seq, line.seq, number, line.digest)
            at = bisect.bisect(self.lows, line.seq)
            self.lows.insert(at, line.seq)
            self.runs.insert(at, run)
        if (waiting := self.chains.pop(line.seq, None)) is not None and waiting[1] != line.digest:
            self._broken(waiting[0], line.seq + 1, number)

    def findings(self, complete: bool) -> list[Finding]:
        """Every finding in line order; a gap still open is a deletion if the whole log was
        read."""
        found = list(self.found)
        for missing, (number, seq) in self.gaps.items():
            gone = f"{missing}" if seq == missing + 1 else f"{missing}-{seq - 1}"
            why = "deleted" if complete else "missing (deleted, or past the lines checked)"
            found.append((number, _POSITION, f"record(s) {gone} {why} before record {seq}"))
        found.sort(key=lambda f: f[:2])
        return [Finding(number, problem) for number, _, problem in found[:MAX_FINDINGS]]


def _walk(
    handle: BinaryIO, expect_head: str | None, path: Path, at_lines: frozenset[int] = frozenset()
) -> Report:
    walk = _Walk()
    heads: dict[int, str] = {}
    count, head, torn, stopped = 0, GENESIS, None, None
    anchor = 0 if expect_head == GENESIS else None
    ours = False  # whether any line read is a record of the gate's, or a torn one
    for raw, _, why in _read_lines(handle):  # why: torn (only the last line can be)
        if why is not None:
            # over a record (NULs): not read whole, so it does not make a file a log
            torn, ours = Finding(count + 1, str(why)), ours or not why.padded
            if not why.whole:
                break  # no record, so nothing to chain
        line = _parse(raw)
        count, head = count + 1, line.digest
        ours = ours or line.seq is not None
        walk.add(count, line)
        if anchor is None and head == expect_head:
            anchor = count
        if count in at_lines:
            heads[count] = head
        if walk.count() >= MAX_FINDINGS:
            stopped = count
            break
    if (count or torn) and not ours:
        raise _not_a_log(
            path,
            "none of its lines is" if stopped is None else f"none of its first {count} lines is",
        )
    findings = walk.findings(complete=stopped is None)
    return Report(count, findings, torn, head, anchor, stopped, heads)


@logs.timed(_log, "decision log check")
def check(
    path: Path,
    expect_head: str | None = None,
    timeout: float = LOCK_TIMEOUT,
    at_lines: frozenset[int] = frozenset(),
) -> Report:
    """Walk the chain once, streamed, under a shared lock (an append in progress is not a torn
    record); `expect_head`: a head hash kept from earlier, which an intact log still holds
    unless records were cut from its end or it was rewritten; `at_lines`: the lines whose
    hashes `Report.heads` keeps (the heads anchors signed)."""
    root = named_pseudo_root(path)
    if root is not None:
        raise _pseudo(path, root)
    try:
        with open_regular(path) as handle:
            _lock(handle.fileno(), path, timeout, fcntl.LOCK_SH, "nothing was checked")
            return _walk(handle, expect_head, path, at_lines)
    except NotRegular as e:
        raise NotALog(f"{path}: the decision log must be a regular file") from e
    except FileNotFoundError as e:
        raise NotALog(f"{path}: no such decision log") from e
    except OSError as e:
        raise LogUnusable(f"{path}: cannot read the decision log: {e.strerror}") from e
