"""The tamper-evident decision log: one JSON line per decision, each carrying its sequence
number and the SHA-256 of the previous line, appended under an exclusive file lock so that
concurrent gates never interleave or fork the chain.

`check` walks the chain and names every record that was edited, deleted, inserted or moved.
Truncating the newest records is not detectable from the file alone: anchor the last hash
elsewhere (e.g. the deploy job's output) when that matters."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from verify.errors import ExitCode, VerifyError

GENESIS = "0" * 64
LOCK_TIMEOUT = 30.0  # seconds: a stuck writer must not block every deploy forever
_TAIL = 1 << 16  # bytes read from the end to find the last record


class DecisionLogError(VerifyError):
    """The decision log cannot be written or read."""

    exit_code = ExitCode.OPERATIONAL


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    """The SHA-256 of a record's canonical JSON without its own `hash` field."""
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _encode(record: dict[str, Any]) -> tuple[bytes, str]:
    digest = record_hash(record)
    return _canonical({**record, "hash": digest}) + b"\n", digest


def _last_line(handle: Any) -> bytes | None:
    """The last complete line of the open file (read from its end, not the whole file)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return None
    start = max(0, size - _TAIL)
    while True:
        handle.seek(start)
        tail: bytes = handle.read(size - start)
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or start == 0:
            return lines[-1]
        start = max(0, start - _TAIL)


def _lock(handle: Any, path: Path, timeout: float) -> None:
    """An exclusive lock, waited for at most `timeout` seconds (then exit 3, which denies)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DecisionLogError(
                    f"{path}: another writer has held the decision log's lock for {timeout:g}s; "
                    "nothing was decided"
                ) from None
            time.sleep(0.01)


def append(path: Path, records: Iterable[dict[str, Any]], timeout: float = LOCK_TIMEOUT) -> None:
    """Chain and append the records; holds an exclusive lock for the whole append."""
    try:
        with path.open("a+b") as handle:
            _lock(handle, path, timeout)
            try:
                last = _last_line(handle)
                previous, seq = GENESIS, 0
                if last is not None:
                    tail = json.loads(last)
                    previous, seq = record_hash(tail), int(tail["seq"]) + 1
                for record in records:
                    line, previous = _encode({**record, "seq": seq, "prev": previous})
                    handle.write(line)
                    seq += 1
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except (OSError, ValueError, KeyError) as e:
        raise DecisionLogError(f"{path}: cannot append to the decision log: {e}") from e


@dataclasses.dataclass(frozen=True)
class Finding:
    line: int  # 1-based line in the file
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclasses.dataclass(frozen=True)
class _Line:
    seq: int | None
    prev: str | None
    digest: str  # the hash it claims: what the next record chains to
    edited: bool  # its stored hash does not match its content


def _parse(raw: bytes) -> _Line:
    try:
        record = json.loads(raw)
        stored = str(record["hash"])
        return _Line(int(record["seq"]), str(record["prev"]), stored, record_hash(record) != stored)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):  # "seq": Infinity
        return _Line(None, None, hashlib.sha256(raw).hexdigest(), True)


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


def check(path: Path) -> tuple[int, list[Finding]]:
    """(records read, what is wrong); an intact log gives no findings."""
    try:
        raw_lines = path.read_bytes().split(b"\n")
    except OSError as e:
        raise DecisionLogError(f"{path}: cannot read the decision log: {e.strerror}") from e
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    lines = [_parse(raw) for raw in raw_lines]
    first: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        if line.seq is not None:
            first.setdefault(line.seq, number)
    findings: list[Finding] = []
    top = -1
    for number, line in enumerate(lines, start=1):
        if line.edited:
            findings.append(Finding(number, "edited: the record does not match its own hash"))
        if line.seq is None:
            top += 1  # unreadable: assume it held the next record
            continue
        for problem in (_position(line.seq, top, first, number), _chain(line, lines, first)):
            if problem is not None:
                findings.append(Finding(number, problem))
        top = max(top, line.seq)
    return len(lines), findings
