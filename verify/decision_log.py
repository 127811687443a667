"""The tamper-evident decision log: one JSON line per decision, each carrying its sequence
number and the SHA-256 of the previous line, appended under an exclusive file lock so that
concurrent gates never interleave or fork the chain.

Appends are whole: each record goes out in one `write`, the file is fsynced once per run, and a
failed or short write cuts the file back to its length before the run. A crash or a full disk can
still leave a torn last record; it is reported as that (not as an edit), the gate appends nothing
after it, and `repair_torn_tail` removes it and nothing else.

`check` walks the chain, streamed record by record, and names every record that was edited,
deleted, inserted or moved. Cutting the newest records or rewriting the whole log is detectable
only against a head hash kept elsewhere: `check(path, expect_head=...)`."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import shlex
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from verify.errors import ExitCode, VerifyError
from verify.files import MIB, NotRegular, open_regular

GENESIS = "0" * 64
LOCK_TIMEOUT = 30.0  # seconds: a stuck writer must not block every deploy forever
# Bytes in one record's line: a decision takes a few KB; a longer line is not a record.
MAX_RECORD = MIB
REPAIR = "attest verify-log --repair-torn-tail"
_TAIL = 1 << 16  # bytes first read back from the end to find the last record
_EXCERPT = 60  # bytes of a torn record shown when it is removed


class DecisionLogError(VerifyError):
    """The decision log cannot be written or read."""

    exit_code = ExitCode.OPERATIONAL


class NotALog(DecisionLogError):
    """The path is a FIFO, device, socket or directory: name a regular file."""

    exit_code = ExitCode.USAGE


class TornTail(DecisionLogError):
    """The last record is torn (a crash or a full disk while appending): nothing is appended
    after it until `attest verify-log --repair-torn-tail` removes it."""


class NothingTorn(DecisionLogError):
    """`--repair-torn-tail` found no torn last record, so it changed nothing."""

    exit_code = ExitCode.USAGE


def _canonical(record: dict[str, Any]) -> bytes:
    """UTF-8 JSON; a lone surrogate (a file name that is not UTF-8 reaches Python as one) is
    written as its JSON escape `\\udcXX`, which reads back to the same text and hash."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def record_hash(record: dict[str, Any]) -> str:
    """The SHA-256 of a record's canonical JSON without its own `hash` field."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _encode(record: dict[str, Any]) -> tuple[bytes, str]:
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


def _is_whole(raw: bytes) -> bool:
    """Whether the line is a record that matches its own hash."""
    try:
        record = _json(raw)
        return bool(record_hash(record) == record["hash"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False


@dataclasses.dataclass(frozen=True)
class Torn:
    """A torn last record: an append cut short by a crash or a full disk, not an edit."""

    whole: bool  # a whole record that only lacks its newline (the repair adds it)

    def __str__(self) -> str:
        if self.whole:
            return "torn last record: a whole record without its newline (an append cut short)"
        return (
            "torn last record: cut short, not a whole record (a crash or a full disk while "
            "appending, not an edit)"
        )


def _torn(raw: bytes, newline: bool) -> Torn | None:
    """Whether the last line is torn. A strict prefix of a JSON object is never JSON, so a
    line that is not JSON is what an interrupted append leaves; a JSON line without its newline
    is torn only when it is a whole record (else it was edited)."""
    try:
        _json(raw)
    except ValueError:
        return Torn(whole=False)
    return Torn(whole=True) if not newline and _is_whole(raw) else None


# --- appending ------------------------------------------------------------------------------


def _open_log(path: Path, flags: int) -> int:
    """A descriptor of the regular file `path`, or NotALog (O_NONBLOCK: a FIFO never hangs)."""
    try:
        fd = os.open(path, flags | os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.EISDIR):  # a socket, a directory
            raise NotALog(f"{path}: the decision log must be a regular file") from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotALog(f"{path}: the decision log must be a regular file, not a FIFO or device")
    return fd


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
                raise DecisionLogError(
                    f"{path}: another writer has held the decision log's lock for {timeout:g}s; "
                    f"{then}"
                ) from None
            time.sleep(0.01)


@dataclasses.dataclass(frozen=True)
class _Tail:
    start: int  # byte offset of the last line
    raw: bytes  # the last line, without its newline
    newline: bool  # whether it ends with one


def _tail(fd: int, size: int, path: Path) -> _Tail | None:
    """The last line, read back from the end: at most MAX_RECORD + 1 bytes, never the file."""
    if size == 0:
        return None
    newline = os.pread(fd, 1, size - 1) == b"\n"
    end = size - 1 if newline else size
    for window in (_TAIL, MAX_RECORD + 1):
        low = max(0, end - window)
        data = os.pread(fd, end - low, low)
        cut = data.rfind(b"\n")
        if cut >= 0 or low == 0:
            return _Tail(low + cut + 1, data[cut + 1 :], newline)
    raise DecisionLogError(
        f"{path}: the last line is over the {MAX_RECORD // MIB} MiB limit for a record, so the "
        f"gate did not write it: check the log with `attest verify-log {path}`"
    )


def _chain_end(fd: int, size: int, path: Path) -> tuple[str, int]:
    """(the hash the next record chains to, its sequence number)."""
    tail = _tail(fd, size, path)
    if tail is None:
        return GENESIS, 0
    if _torn(tail.raw, tail.newline) is not None:
        raise TornTail(
            f"{path}: the last record is torn (a crash or a full disk while appending), and "
            f"nothing is appended after it; nothing was decided: run `{repair_command(path)}` "
            "(it says what it removes), then run the gate again"
        )
    check_it = f"check the log with `attest verify-log {path}`; nothing was decided"
    if not tail.newline:
        raise DecisionLogError(f"{path}: the last line has no newline and was edited: {check_it}")
    try:
        last = _json(tail.raw)
        return record_hash(last), int(last["seq"]) + 1
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        raise DecisionLogError(f"{path}: the last line is not a record: {check_it}") from None


def _write_whole(fd: int, line: bytes) -> None:
    """One `write` of the whole line; more only when the kernel took part of it."""
    view = memoryview(line)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _cut_back(fd: int, size: int, path: Path, error: BaseException) -> DecisionLogError:
    why = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        return DecisionLogError(
            f"{path}: cannot append to the decision log: {why}; cutting it back to {size} bytes "
            f"failed too ({e.strerror}): check it with `attest verify-log {path}`"
        )
    return DecisionLogError(
        f"{path}: cannot append to the decision log: {why}; nothing of this run was kept"
    )


def append(path: Path, records: Iterable[dict[str, Any]], timeout: float = LOCK_TIMEOUT) -> None:
    """Chain and append the records under an exclusive lock: each in one write, one fsync at the
    end; on any failure the file is cut back to its length before, and nothing is kept."""
    try:
        fd = _open_log(path, os.O_CREAT | os.O_APPEND)
    except OSError as e:
        raise DecisionLogError(f"{path}: cannot append to the decision log: {e.strerror}") from e
    try:
        _lock(fd, path, timeout)
        try:
            size = os.fstat(fd).st_size  # under the lock: what a failure cuts back to
            previous, first = _chain_end(fd, size, path)
            lines: list[bytes] = []
            for seq, record in enumerate(records, start=first):
                line, previous = _encode({**record, "seq": seq, "prev": previous})
                if len(line) > MAX_RECORD + 1:
                    raise DecisionLogError(
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
        raise DecisionLogError(f"{path}: cannot append to the decision log: {e.strerror}") from e
    finally:
        os.close(fd)


def repair_torn_tail(path: Path, say: Callable[[str], None], timeout: float = LOCK_TIMEOUT) -> None:
    """Remove a torn last record, or give a whole one its missing newline, under the lock;
    `say` is told what is removed before it is. Anything else is NothingTorn: no change."""
    try:
        fd = _open_log(path, 0)
    except OSError as e:
        raise DecisionLogError(f"{path}: cannot open the decision log: {e.strerror}") from e
    try:
        _lock(fd, path, timeout, then="nothing was changed")
        try:
            size = os.fstat(fd).st_size
            tail = _tail(fd, size, path)
            torn = None if tail is None else _torn(tail.raw, tail.newline)
            if tail is None or torn is None:
                raise NothingTorn(
                    f"{path}: the last record is not torn, so nothing was changed; "
                    f"`attest verify-log {path}` says what is wrong, if anything"
                )
            if torn.whole:
                say(f"{torn}: adding its newline")
                os.pwrite(fd, b"\n", size)
            else:
                excerpt = tail.raw[:_EXCERPT].decode("utf-8", "replace")
                more = "…" if len(tail.raw) > _EXCERPT else ""
                say(
                    f"{torn}: removing the last {size - tail.start} bytes "
                    f"(from byte {tail.start}): {excerpt}{more}"
                )
                os.ftruncate(fd, tail.start)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as e:
        raise DecisionLogError(f"{path}: cannot repair the decision log: {e.strerror}") from e
    finally:
        os.close(fd)


# --- checking -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Finding:
    line: int  # 1-based line in the file
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Line:
    seq: int | None
    prev: str | None
    digest: str  # the hash it claims: what the next record chains to
    edited: bool  # its stored hash does not match its content
    oversized: bool = False


def _parse(raw: bytes | None) -> _Line:
    if raw is None:  # over MAX_RECORD: not read
        return _Line(None, None, GENESIS, True, oversized=True)
    try:
        record = _json(raw)
        stored = str(record["hash"])
        return _Line(int(record["seq"]), str(record["prev"]), stored, record_hash(record) != stored)
    # OverflowError: "seq": Infinity; RecursionError: hashing what json.loads could just nest
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        return _Line(None, None, hashlib.sha256(raw).hexdigest(), True)


def _read_lines(handle: BinaryIO) -> Iterator[tuple[bytes | None, bool]]:
    """(each line without its newline, or None when over MAX_RECORD; whether a newline ended
    it), one at a time, in bounded memory however long the log or a line is."""
    while line := handle.readline(MAX_RECORD + 1):
        newline = line.endswith(b"\n")
        if not newline and len(line) > MAX_RECORD:
            while (rest := handle.readline(_TAIL)) and not rest.endswith(b"\n"):
                pass  # skip the rest of an oversized line
            yield None, bool(rest)
            continue
        yield line.removesuffix(b"\n"), newline


def _position(seq: int, top: int, first: dict[int, int], number: int) -> str | None:
    """What is wrong with record `seq` at line `number`, after records up to `top`."""
    if first[seq] != number:
        return f"record {seq} appears again (first at line {first[seq]}): one was inserted"
    if seq <= top:
        return f"records out of order: record {seq} comes after record {top}"
    if seq > top + 1 and top + 1 in first:
        return f"records out of order: record {seq} comes before record {top + 1}"
    if seq > top + 1:
        gone = f"{top + 1}" if seq == top + 2 else f"{top + 1}-{seq - 1}"
        return f"record(s) {gone} deleted before record {seq}"
    return None


def _chain(line: _Line, lines: list[_Line], first: dict[int, int]) -> str | None:
    """Whether the record chains to its predecessor (the first record with the seq before)."""
    assert line.seq is not None
    if line.seq == 0:
        ok = line.prev == GENESIS
        return None if ok else "record 0 does not start the chain: it was edited or inserted"
    at = first.get(line.seq - 1)
    if at is None or line.prev == lines[at - 1].digest:
        return None  # a missing predecessor is reported as a deletion
    return (
        f"record {line.seq} does not chain to record {line.seq - 1} (line {at}): "
        f"line {at} was edited, replaced or inserted"
    )


@dataclasses.dataclass(frozen=True)
class Report:
    """What `check` found: an intact log has no findings and no torn last record."""

    records: int  # lines read as records (a torn last record is not one)
    findings: list[Finding]  # edits, deletions, insertions, moves: tampering
    torn: Finding | None  # a torn last record (a crash or a full disk, not tampering)
    head: str  # the hash of the last record (GENESIS for an empty log)
    anchor: int | None = None  # the line holding `expect_head` (0: GENESIS), None: not there

    @property
    def intact(self) -> bool:
        return not self.findings and self.torn is None


def _findings(lines: list[_Line]) -> list[Finding]:
    first: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        if line.seq is not None:
            first.setdefault(line.seq, number)
    findings: list[Finding] = []
    top = -1
    for number, line in enumerate(lines, start=1):
        if line.oversized:
            limit = f"over the {MAX_RECORD // MIB} MiB limit for a record"
            findings.append(Finding(number, f"{limit}: not a record the gate wrote"))
        elif line.edited:
            findings.append(Finding(number, "edited: the record does not match its own hash"))
        if line.seq is None:
            top += 1  # unreadable: assume it held the next record
            continue
        for problem in (_position(line.seq, top, first, number), _chain(line, lines, first)):
            if problem is not None:
                findings.append(Finding(number, problem))
        top = max(top, line.seq)
    return findings


def _in_order(handle: BinaryIO, expect_head: str | None) -> Report | None:
    """The usual case in constant memory: every record whole and chained to the one before
    (but for a torn last record). None at the first that is not: `_every_line` says why."""
    count, head = 0, GENESIS
    anchor = 0 if expect_head == GENESIS else None
    last: tuple[bytes, bool] | None = None
    unread: tuple[bytes, bool] | None = None  # not a record: fine only as a torn last one
    for raw, newline in _read_lines(handle):
        if raw is None or unread is not None:
            return None
        line = _parse(raw)
        if line.seq is None:
            unread = (raw, newline)
            continue
        if line.edited or line.seq != count or line.prev != head:
            return None
        count, head, last = count + 1, line.digest, (raw, newline)
        if anchor is None and head == expect_head:
            anchor = count
    why = _torn(*unread) if unread is not None else _torn(*last) if last is not None else None
    if unread is not None and why is None:
        return None
    torn = None if why is None else Finding(count if why.whole else count + 1, str(why))
    return Report(count, [], torn, head, anchor)


def _every_line(handle: BinaryIO, expect_head: str | None) -> Report:
    """What is wrong with a log that is not in order, from every line's number and hashes."""
    lines: list[_Line] = []
    last: bytes | None = None
    ended = True
    for raw, newline in _read_lines(handle):
        lines.append(_parse(raw))
        last, ended = raw, newline
    torn = None
    why = None if last is None else _torn(last, ended)  # None: empty, or an oversized line
    if why is not None:
        torn = Finding(len(lines), str(why))
        if not why.whole:
            lines.pop()  # no record, so nothing to chain
    anchor = None
    if expect_head == GENESIS:
        anchor = 0
    elif expect_head is not None:
        anchor = next((n for n, x in enumerate(lines, 1) if x.digest == expect_head), None)
    head = lines[-1].digest if lines else GENESIS
    return Report(len(lines), _findings(lines), torn, head, anchor)


def check(path: Path, expect_head: str | None = None, timeout: float = LOCK_TIMEOUT) -> Report:
    """Walk the chain, streamed, under a shared lock (an append in progress is not a torn
    record); `expect_head`: a head hash kept from earlier, which an intact log still holds
    unless records were cut from its end or it was rewritten."""
    try:
        with open_regular(path) as handle:
            _lock(handle.fileno(), path, timeout, fcntl.LOCK_SH, "nothing was checked")
            report = _in_order(handle, expect_head)
            if report is None:
                handle.seek(0)
                report = _every_line(handle, expect_head)
            return report
    except NotRegular as e:
        raise NotALog(f"{path}: the decision log must be a regular file") from e
    except OSError as e:
        raise DecisionLogError(f"{path}: cannot read the decision log: {e.strerror}") from e
