"""The gate's decision log: a hash chain that names every edited, deleted, inserted or
reordered record, and every line that is not the bytes the gate wrote; appends that stay one
valid chain under concurrent writers and are whole or not there at all; a torn last record (only
a last line without its newline) told apart from tampering and repaired; a head hash that
catches cut records and rewrites; bounded reads of regular files only, and a check whose memory
is bounded by its findings."""

from __future__ import annotations

import errno
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from attest.cli import cli
from tests.conftest import REPO
from verify import decision_log
from verify.errors import ExitCode
from verify.files import MIB

WRITERS, DECISIONS = 8, 200


def _record(n: int) -> dict[str, object]:
    return {"artifact": {"name": f"a{n}.whl", "sha256": f"{n:064x}"}, "decision": "ALLOW"}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.jsonl"
    for n in range(5):  # five appends, as five gate runs would make them
        decision_log.append(path, [_record(n)])
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def _problems(path: Path) -> list[str]:
    return [str(f) for f in decision_log.check(path).findings]


def test_intact_log(log: Path) -> None:
    report = decision_log.check(log)
    assert (report.records, report.findings, report.torn) == (5, [], None)
    records = [json.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prev"] == decision_log.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))


def test_edited_record(log: Path) -> None:
    lines = _lines(log)
    lines[2] = lines[2].replace('"ALLOW"', '"DENY"')
    _write(log, lines)
    assert _problems(log) == ["line 3: edited: the record does not match its own hash"]


def test_edited_record_with_its_hash_recomputed(log: Path) -> None:
    lines = _lines(log)
    record = json.loads(lines[1])
    record["decision"] = "DENY"
    record["hash"] = decision_log.record_hash(record)
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    _write(log, lines)
    assert _problems(log) == [
        "line 3: record 2 does not chain to record 1 (line 2): "
        "line 2 was edited, replaced or inserted"
    ]


def test_edited_last_record(log: Path) -> None:
    lines = _lines(log)
    lines[-1] = lines[-1].replace("a4.whl", "b4.whl")
    _write(log, lines)
    assert _problems(log) == ["line 5: edited: the record does not match its own hash"]


def test_deleted_record(log: Path) -> None:
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    assert _problems(log) == ["line 2: record(s) 1 deleted before record 2"]


def test_deleted_records(log: Path) -> None:
    lines = _lines(log)
    del lines[1:3]
    _write(log, lines)
    assert _problems(log) == ["line 2: record(s) 1-2 deleted before record 3"]


def test_inserted_record(log: Path) -> None:
    lines = _lines(log)
    lines.insert(2, lines[1])  # a replayed copy of a real record
    _write(log, lines)
    assert _problems(log) == ["line 3: record 1 appears again (first at line 2): one was inserted"]


def test_inserted_forged_record(log: Path) -> None:
    lines = _lines(log)
    forged = {**json.loads(lines[1]), "seq": 2, "prev": json.loads(lines[1])["hash"]}
    forged["artifact"] = {"name": "evil.whl", "sha256": "f" * 64}
    forged["hash"] = decision_log.record_hash(forged)
    lines.insert(2, json.dumps(forged, sort_keys=True, separators=(",", ":")))  # as the gate would
    _write(log, lines)
    assert _problems(log) == [  # the forged line 3 is named twice
        "line 4: record 2 appears again (first at line 3): one was inserted",
        "line 5: record 3 does not chain to record 2 (line 3): "
        "line 3 was edited, replaced or inserted",
    ]


def test_reordered_records(log: Path) -> None:
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    assert _problems(log) == [
        "line 2: records out of order: record 2 comes before record 1",
        "line 3: records out of order: record 1 comes after record 2",
    ]


def test_garbage_line(log: Path) -> None:
    lines = _lines(log)
    lines[3] = "not json"
    _write(log, lines)
    assert _problems(log) == ["line 4: edited: not the bytes the gate wrote"]


# --- one spelling: the bytes the gate wrote ---------------------------------------------------

RESPELLINGS: dict[str, Callable[[str], str]] = {
    # Python's json keeps the last of a key given twice; grep and other readers see the first
    "key-given-twice": lambda line: '{"decision":"DENY",' + line[1:],
    "white-space": lambda line: "  " + line.replace(",", " , ", 1),
    "carriage-return": lambda line: line + "\r",
    "key-order": lambda line: json.dumps(
        dict(reversed(json.loads(line).items())), separators=(",", ":")
    ),
    "escape": lambda line: line.replace('"ALLOW"', '"\\u0041LLOW"'),
}


@pytest.mark.parametrize("at", [1, 4], ids=["inside", "last"])
@pytest.mark.parametrize("respell", RESPELLINGS.values(), ids=RESPELLINGS.keys())
def test_a_record_spelled_otherwise_is_an_edit(
    invoke: Callable[..., Result], log: Path, at: int, respell: Callable[[str], str]
) -> None:
    """The same record in other bytes: before, the chain hashed the parsed record, so these
    kept `chain intact` and --expect-head passing."""
    head = invoke("verify-log", "--head", str(log)).stdout.split()[0]
    lines = _lines(log)
    original, lines[at] = lines[at], respell(lines[at])
    assert json.loads(lines[at]) == json.loads(original)  # the same record, other bytes
    _write(log, lines)
    finding = f"line {at + 1}: edited: not the bytes the gate wrote"
    assert _problems(log) == [finding]
    result = invoke("verify-log", "--expect-head", head, str(log))
    assert result.exit_code == ExitCode.DENIED
    assert f"attest: {log}: {finding}\n" in result.stderr
    assert "chain intact" not in result.stderr and "torn" not in result.stderr


TEXT = st.text(  # lone surrogates: a file name that is not UTF-8 reaches the gate as them
    st.characters() | st.sampled_from(["\ud83d", "\ude00", "\udcff", "é", "\x1b", "\\", '"']),
    max_size=12,
)
SEPARATORS = st.sampled_from([(",", ":"), (", ", ": "), (" ,", ":"), (",", " : ")])


@st.composite
def _respelled(draw: st.DrawFn, line: bytes) -> bytes:
    """The same record in other bytes: key order, separators, escapes, white space, CR, a
    key given twice."""
    record = json.loads(line)
    items = draw(st.permutations(list(record.items())))
    text = json.dumps(dict(items), separators=draw(SEPARATORS), ensure_ascii=draw(st.booleans()))
    key = draw(st.sampled_from(sorted(record)))
    twice = f"{{{json.dumps(key)}:{json.dumps(draw(TEXT))}," if draw(st.booleans()) else "{"
    space = st.sampled_from(["", " ", "\t", "\r", "\r\r"])
    text = draw(space) + twice + text[1:] + draw(space)
    return text.encode("utf-8", "backslashreplace")


@st.composite
def _changed(draw: st.DrawFn, line: bytes) -> bytes:
    """Any byte-level change of the line: a splice of random bytes, or a respelling."""
    if draw(st.booleans()):
        return draw(_respelled(line))
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, min(len(line), start + 8)))
    return line[:start] + draw(st.binary(max_size=8)) + line[end:]


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(names=st.lists(TEXT, min_size=1, max_size=4), at=st.integers(0, 3), data=st.data())
def test_any_change_of_a_record_line_is_reported(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], at: int, data: st.DataObject
) -> None:
    """For a log the gate wrote (intact, whatever its records' text), any change of a record's
    line (the file still ending in a newline, so never a torn tail) is a finding: exit 1. The
    one exception: when no line of it reads as a record any more (the only record mangled), the
    file is not a decision log at all: exit 2, one line."""
    path = tmp_path_factory.mktemp("log") / "decisions.jsonl"
    decision_log.append(path, [{"artifact": {"name": n}, "decision": "ALLOW"} for n in names])
    written = decision_log.check(path)
    assert written.intact and written.records == len(names)
    lines = path.read_bytes().split(b"\n")[:-1]
    at %= len(lines)
    changed = data.draw(_changed(lines[at]))
    assume(changed != lines[at])
    lines[at] = changed
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    result = CliRunner().invoke(cli, ["verify-log", "--expect-head", written.head, str(path)])
    # the change may add a newline: count the lines of the file as written
    if all(decision_log._parse(line).seq is None for line in path.read_bytes().splitlines()):
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert f"{path}: not a decision log: none of its lines is a record" in result.stderr
        return
    report = decision_log.check(path)
    assert report.findings and report.torn is None, report
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "was tampered with" in result.stderr and "chain intact" not in result.stderr


def _strict_json(line: bytes) -> object:
    """The line as a strict JSON reader reads it: UTF-8, and no lone surrogate (which Python's
    json accepts and others refuse)."""
    value = json.loads(line.decode("utf-8"))
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError: a surrogate
    return value


def test_the_gate_writes_strict_json_that_reads_back(tmp_path: Path) -> None:
    """Lone surrogates (a file name's undecodable bytes) were written as `\\udcff` escapes,
    which strict JSON readers refuse (and two that form a pair read back as one character):
    each is written as U+FFFD, and the record as it reads back."""
    path = tmp_path / "decisions.jsonl"
    decision_log.append(path, [{"artifact": {"name": "\ud83d\ude00.whl \udcff"}, "\udc80": 1}])
    assert decision_log.check(path).intact
    record = _strict_json(path.read_bytes())
    assert record["artifact"] == {"name": "\ufffd\ufffd.whl \ufffd"}  # type: ignore[index]
    assert b"\\ud" not in path.read_bytes() and "\ufffd" in record  # type: ignore[operator]


def test_records_of_an_older_gate_holding_lone_surrogates_still_verify(tmp_path: Path) -> None:
    """An older gate wrote a name that is not UTF-8 as `\\udcff` escapes: such a log stays
    intact, and the gate chains onto it."""
    path = tmp_path / "decisions.jsonl"
    old = {"artifact": {"name": "caf\udcff.whl"}, "decision": "DENY", "seq": 0}
    old["prev"] = decision_log.GENESIS
    line = decision_log._canonical({**old, "hash": decision_log.record_hash(old)}) + b"\n"
    assert b"caf\\udcff.whl" in line
    path.write_bytes(line)
    assert decision_log.check(path).intact
    decision_log.append(path, [_record(1)])
    report = decision_log.check(path)
    assert report.intact and report.records == 2


def test_verify_log_command(invoke: Callable[..., Result], log: Path) -> None:
    intact = invoke("verify-log", str(log))
    assert intact.exit_code == 0 and "5 records, chain intact, head " in intact.stderr
    lines = _lines(log)
    del lines[3]
    _write(log, lines)
    broken = invoke("verify-log", str(log))
    assert broken.exit_code == ExitCode.DENIED
    assert "line 4: record(s) 3 deleted before record 4" in broken.stderr
    missing = invoke("verify-log", str(log.with_name("nope.jsonl")))
    assert missing.exit_code == ExitCode.USAGE  # was 3: nothing to retry, name the right file
    assert missing.stderr == f"attest: error: {log.with_name('nope.jsonl')}: no such decision log\n"


def _writer(path: str, writer: int) -> None:
    for n in range(DECISIONS):
        decision_log.append(Path(path), [_record(writer * DECISIONS + n)])


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), w)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    report = decision_log.check(path)
    assert (report.records, report.findings, report.torn) == (WRITERS * DECISIONS, [], None)
    names = {json.loads(line)["artifact"]["name"] for line in _lines(path)}
    assert len(names) == WRITERS * DECISIONS


def test_a_stuck_writer_times_out_and_denies(log: Path) -> None:
    import fcntl

    with log.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(decision_log.DecisionLogError, match="held the decision log's lock"):
            decision_log.append(log, [_record(9)], timeout=0.2)
    assert decision_log.DecisionLogError.exit_code == ExitCode.OPERATIONAL
    assert decision_log.check(log).records == 5 and decision_log.check(log).intact


# --- whole appends ----------------------------------------------------------------------------

POLICY = REPO / "examples" / "policies" / "github-release.yaml"  # the production root: offline
TORN = b'{"artifact":{"name":"a5.whl","sha256":"00'  # an append cut short


def _gate(
    invoke: Callable[..., Result], log: Path, *names: str, where: Path | None = None
) -> Result:
    """A real gate run that appends one (DENY) record per artifact: none is signed."""
    where = where or log.parent
    where.mkdir(exist_ok=True)
    for name in names:
        (where / name).write_bytes(b"not signed")
    paths = [str(where / name) for name in names]
    return invoke("verify", "--policy", str(POLICY), "--decision-log", str(log), *paths)


def _faulty_write(log: Path, fail_at: int, calls: list[int]) -> Callable[[int, bytes], int]:
    """os.write that, on the log's `fail_at`-th write, writes half the data, then fails."""
    real = os.write

    def write(fd: int, data: bytes) -> int:
        if Path(f"/proc/self/fd/{fd}").readlink() != log:
            return real(fd, data)
        calls.append(len(data))
        if len(calls) < fail_at:
            return real(fd, data)
        real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_failed_write_cuts_the_log_back_and_exits_3(
    invoke: Callable[..., Result], log: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """The disk fills up half-way through a record (the first, or the second of the run):
    nothing of the run stays, the log is byte for byte what it was, no verdict is shown."""
    before = log.read_bytes()
    calls: list[int] = []
    monkeypatch.setattr(os, "write", _faulty_write(log, fail_at, calls))
    result = _gate(invoke, log, "a.whl", "b.whl")
    assert result.exit_code == ExitCode.OPERATIONAL
    assert (
        f"{log}: cannot append to the decision log: No space left on device; nothing of this "
        "run was kept"
    ) in result.stderr
    assert "DENY" not in result.stderr and "ALLOW" not in result.stderr
    assert len(calls) == fail_at
    assert log.read_bytes() == before


def test_each_record_is_one_write_and_each_run_one_fsync(
    log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[bytes] = []
    syncs: list[int] = []
    real_write, real_fsync = os.write, os.fsync

    def write(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        syncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    decision_log.append(log, [_record(5), _record(6), _record(7)])
    assert [json.loads(w)["seq"] for w in writes] == [5, 6, 7]
    assert all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
    assert len(syncs) == 1
    assert decision_log.check(log).records == 8 and decision_log.check(log).intact


def test_a_short_write_is_completed(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may take part of a write: the rest follows, never a torn record."""
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    decision_log.append(log, [_record(5)])
    assert decision_log.check(log).records == 6 and decision_log.check(log).intact


# --- a torn last record ---------------------------------------------------------------------


def _repair(log: Path) -> str:
    return f"attest verify-log --repair-torn-tail {log}"


@pytest.mark.parametrize("tail", [TORN, b"\0" * 40])
def test_a_torn_last_record_is_reported_as_torn_not_as_tampering(
    invoke: Callable[..., Result], log: Path, tail: bytes
) -> None:
    """A crash mid-append (or, after a power loss, a tail of zeros): exit 3, not 1 (tampering),
    and the message names the repair."""
    log.write_bytes(log.read_bytes() + tail)
    report = decision_log.check(log)
    assert (report.records, report.findings) == (5, [])
    assert str(report.torn) == (
        "line 6: torn last record: cut short, not a whole record (a crash or a full disk while "
        "appending, not an edit)"
    )
    result = invoke("verify-log", str(log))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "line 6: torn last record: cut short, not a whole record (a crash" in result.stderr
    assert f"; repair with `{_repair(log)}`" in result.stderr
    assert "tampered" not in result.stderr and "edited" not in result.stderr


LAST_LINES = {
    "text": b"this record said DENY\n",  # the outside attack's replacement for the last record
    "cut-record": TORN + b"\n",
    "zeros": b"\0" * 40 + b"\n",
    "blank": b"\n",
}


@pytest.mark.parametrize("replace", [True, False], ids=["replacing-the-last", "after-the-last"])
@pytest.mark.parametrize("last", LAST_LINES.values(), ids=LAST_LINES.keys())
def test_a_last_line_with_its_newline_is_never_torn(
    invoke: Callable[..., Result], log: Path, last: bytes, replace: bool
) -> None:
    """An append is one write ending in its newline, so a crash cannot leave a line that has
    one: such a line that is not a record was edited (exit 1). Before, it was called torn (exit
    3), --repair-torn-tail deleted it and then said "chain intact"; a blank line blocked every
    later deploy as torn. The gate still appends nothing after it (exit 3): it neither chains
    onto nor glues onto what is not a record, and there is nothing to repair."""
    kept = b"".join(line + b"\n" for line in log.read_bytes().split(b"\n")[: 4 if replace else 5])
    log.write_bytes(kept + last)
    number = 5 if replace else 6
    report = decision_log.check(log)
    assert [str(f) for f in report.findings] == [
        f"line {number}: edited: not the bytes the gate wrote"
    ]
    assert report.torn is None
    checked = invoke("verify-log", str(log))
    assert checked.exit_code == ExitCode.DENIED
    assert f"{log}: the decision log was tampered with (1 finding(s))" in checked.stderr
    assert "torn" not in checked.stderr
    before = log.read_bytes()
    repair = invoke("verify-log", "--repair-torn-tail", str(log))
    assert repair.exit_code == ExitCode.USAGE
    assert f"{log}: the last record is not torn, so nothing was changed" in repair.stderr
    gate = _gate(invoke, log, "a.whl")
    assert gate.exit_code == ExitCode.OPERATIONAL
    assert (
        f"{log}: the last line is not a record as the gate wrote it (edited: not the bytes the "
        f"gate wrote), and nothing is chained onto it: check the log with `attest verify-log "
        f"{log}`; nothing was decided"
    ) in gate.stderr
    assert "DENY" not in gate.stderr
    assert log.read_bytes() == before


def test_the_gate_chains_nothing_onto_an_edited_last_record(
    invoke: Callable[..., Result], log: Path
) -> None:
    """Before, the next record chained onto the edited one's content."""
    _edited_last(log, newline=True)
    before = log.read_bytes()
    result = _gate(invoke, log, "a.whl")
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "the last line is not a record as the gate wrote it (edited: the record does not " in (
        result.stderr
    )
    assert log.read_bytes() == before


def test_a_torn_record_after_tampering_is_both(invoke: Callable[..., Result], log: Path) -> None:
    lines = _lines(log)
    lines[1] = lines[1].replace('"ALLOW"', '"DENY"')
    _write(log, lines)
    log.write_bytes(log.read_bytes() + TORN)
    result = invoke("verify-log", str(log))
    assert result.exit_code == ExitCode.DENIED  # tampering decides
    assert "line 2: edited: the record does not match its own hash" in result.stderr
    assert "line 6: torn last record: cut short" in result.stderr


def test_the_gate_appends_nothing_after_a_torn_record(
    invoke: Callable[..., Result], log: Path
) -> None:
    """Before, the next record was glued onto the torn one and every later deploy exited 3
    with a parse error; now the gate says what happened and how to repair it."""
    torn = log.read_bytes() + TORN
    log.write_bytes(torn)
    result = _gate(invoke, log, "a.whl")
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "the last record is torn (a crash or a full disk while appending)" in result.stderr
    assert f"run `{_repair(log)}` (it says what it removes)" in result.stderr
    assert "DENY" not in result.stderr
    assert log.read_bytes() == torn


def test_repair_removes_the_torn_record_and_says_what_it_removes(
    invoke: Callable[..., Result], log: Path
) -> None:
    intact = log.read_bytes()
    tail = TORN + b"\x1b[2J"  # what a torn tail holds is shown escaped
    log.write_bytes(intact + tail)
    result = invoke("verify-log", "--repair-torn-tail", str(log))
    assert result.exit_code == 0, result.stderr
    assert (
        f"attest: {log}: torn last record: cut short, not a whole record (a crash or a full disk "
        f"while appending, not an edit): removing the last {len(tail)} bytes "
        f"(from byte {len(intact)}): {TORN.decode()}\\x1b[2J\n"
    ) in result.stderr
    assert "\x1b" not in result.stderr
    assert "5 records, chain intact" in result.stderr
    assert log.read_bytes() == intact
    assert _gate(invoke, log, "a.whl").exit_code == ExitCode.DENIED  # the gate goes on
    assert decision_log.check(log).records == 6 and decision_log.check(log).intact


def test_a_whole_record_without_its_newline_gets_it_back(
    invoke: Callable[..., Result], log: Path
) -> None:
    """An append cut just before its newline: the record is whole, so the repair keeps it."""
    whole = log.read_bytes()
    log.write_bytes(whole[:-1])
    report = decision_log.check(log)
    assert (report.records, report.findings) == (5, [])
    assert str(report.torn) == (
        "line 5: torn last record: a whole record without its newline (an append cut short)"
    )
    assert _gate(invoke, log, "a.whl").exit_code == ExitCode.OPERATIONAL  # nothing glued on
    assert log.read_bytes() == whole[:-1]
    result = invoke("verify-log", "--repair-torn-tail", str(log))
    assert result.exit_code == 0, result.stderr
    assert "a whole record without its newline (an append cut short): adding its newline" in (
        result.stderr
    )
    assert log.read_bytes() == whole


def _edited_last(log: Path, newline: bool) -> None:
    lines = _lines(log)
    lines[-1] = lines[-1].replace('"ALLOW"', '"DENY"')
    log.write_text("\n".join(lines) + ("\n" if newline else ""))


@pytest.mark.parametrize(
    "damage",
    [
        lambda log: None,
        lambda log: _edited_last(log, newline=True),
        lambda log: _edited_last(log, newline=False),
        lambda log: _write(log, [*_lines(log)[:2], "not json", *_lines(log)[3:]]),
    ],
    ids=["intact", "last-record-edited", "last-record-edited-no-newline", "garbage-inside"],
)
def test_repair_refuses_anything_but_a_torn_tail(
    invoke: Callable[..., Result], log: Path, damage: Callable[[Path], None]
) -> None:
    damage(log)
    before = log.read_bytes()
    result = invoke("verify-log", "--repair-torn-tail", str(log))
    assert result.exit_code == ExitCode.USAGE
    assert f"{log}: the last record is not torn, so nothing was changed" in result.stderr
    assert log.read_bytes() == before


# --- the head: cut records and rewrites -------------------------------------------------------


def test_head_prints_the_head_hash_and_count(invoke: Callable[..., Result], log: Path) -> None:
    result = invoke("verify-log", "--head", str(log))
    assert result.exit_code == 0
    assert result.stdout == f"{json.loads(_lines(log)[-1])['hash']} 5\n"
    empty = log.with_name("empty.jsonl")
    empty.write_bytes(b"")
    assert invoke("verify-log", "--head", str(empty)).stdout == f"{decision_log.GENESIS} 0\n"


def test_expect_head_passes_while_the_log_extends_it(
    invoke: Callable[..., Result], log: Path
) -> None:
    head = invoke("verify-log", "--head", str(log)).stdout.split()[0]
    decision_log.append(log, [_record(5), _record(6)])
    result = invoke("verify-log", "--json", "--expect-head", head, str(log))
    assert result.exit_code == 0
    assert "7 records, chain intact" in result.stderr
    assert "extends the expected head (line 5)" in result.stderr
    assert json.loads(result.stdout) == {
        "log": str(log),
        "records": 7,
        "head": json.loads(_lines(log)[-1])["hash"],
        "intact": True,
        "torn_last_record": None,
        "findings": [],
        "stopped_at_line": None,
        "expected_head": {"hash": head, "at_line": 5},
    }
    genesis = invoke("verify-log", "--expect-head", decision_log.GENESIS, str(log))
    assert genesis.exit_code == 0


def test_expect_head_catches_cut_records(invoke: Callable[..., Result], log: Path) -> None:
    head = invoke("verify-log", "--head", str(log)).stdout.split()[0]
    _write(log, _lines(log)[:3])  # the newest two records cut: an intact chain of 3
    assert decision_log.check(log).intact
    result = invoke("verify-log", "--expect-head", head, str(log))
    assert result.exit_code == ExitCode.DENIED
    assert (
        f"{log}: the decision log no longer holds the expected head {head}: records were cut "
        "from its end, or it was rewritten"
    ) in result.stderr


def test_expect_head_catches_a_rewritten_log(invoke: Callable[..., Result], log: Path) -> None:
    """Every record re-chained after one was changed: an intact chain, but not the one."""
    head = invoke("verify-log", "--head", str(log)).stdout.split()[0]
    records = [json.loads(line) for line in _lines(log)]
    records[1]["decision"] = "DENY"
    log.unlink()
    decision_log.append(log, [{k: r[k] for k in ("artifact", "decision")} for r in records])
    assert decision_log.check(log).intact
    result = invoke("verify-log", "--json", "--expect-head", head, str(log))
    assert result.exit_code == ExitCode.DENIED
    assert "no longer holds the expected head" in result.stderr
    assert json.loads(result.stdout)["expected_head"] == {"hash": head, "at_line": None}


def test_expect_head_must_be_a_hash(invoke: Callable[..., Result], log: Path) -> None:
    result = invoke("verify-log", "--expect-head", "abc", str(log))
    assert result.exit_code == ExitCode.USAGE
    assert "--expect-head takes a head hash as --head prints it (64 hex digits)" in result.stderr


# --- bounded reads, regular files only --------------------------------------------------------


def _peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_line_is_a_finding_read_in_bounded_memory(log: Path) -> None:
    lines = _lines(log)
    with log.open("wb") as handle:
        handle.write(f"{lines[0]}\n{lines[1]}\n".encode())
        handle.write(b"x" * (32 * MIB) + b"\n")  # in place of record 2
        handle.write(f"{lines[3]}\n{lines[4]}\n".encode())
    report: list[decision_log.Report] = []
    peak = _peak(lambda: report.append(decision_log.check(log)))
    assert [str(f) for f in report[0].findings] == [
        "line 3: over the 1 MiB limit for a record: not a record the gate wrote"
    ]
    assert peak < 4 * MIB


def test_a_huge_last_line_is_refused_when_appending_in_bounded_memory(log: Path) -> None:
    with log.open("ab") as handle:
        handle.write(b"x" * (32 * MIB))
    before = log.stat().st_size

    def append() -> None:
        with pytest.raises(decision_log.DecisionLogError, match="over the 1 MiB limit") as e:
            decision_log.append(log, [_record(5)])
        assert e.value.exit_code == ExitCode.OPERATIONAL

    assert _peak(append) < 4 * MIB
    assert log.stat().st_size == before
    assert [str(f) for f in decision_log.check(log).findings] == [
        "line 6: over the 1 MiB limit for a record: not a record the gate wrote"
    ]


def test_a_long_log_is_normal(tmp_path: Path) -> None:
    """An intact log is checked in constant memory, however long."""
    path = tmp_path / "decisions.jsonl"
    decision_log.append(path, [{**_record(n), "detail": "x" * 2000} for n in range(4000)])
    report: list[decision_log.Report] = []
    peak = _peak(lambda: report.append(decision_log.check(path)))
    assert report[0].records == 4000 and report[0].intact
    assert peak < MIB < path.stat().st_size / 8


def test_a_log_of_newlines_is_checked_in_bounded_memory(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Before, a log not in order kept every line: 4 MB of newlines took 1.4 GB and 107 s, and
    a MemoryError under a 1 GB limit. Now the check stops after MAX_FINDINGS findings. (A
    file of newlines alone is not a log at all: the first line here is a record.)"""
    path = tmp_path / "decisions.jsonl"
    decision_log.append(path, [_record(0)])
    path.write_bytes(path.read_bytes() + b"\n" * (3 * MIB))
    report: list[decision_log.Report] = []
    peak = _peak(lambda: report.append(decision_log.check(path)))
    assert peak < 4 * MIB
    assert decision_log.MAX_FINDINGS == len(report[0].findings) == 1000
    assert report[0].stopped_at == 1001
    assert str(report[0].findings[-1]) == "line 1001: edited: not the bytes the gate wrote"
    result = invoke("verify-log", "--json", "--expect-head", "a" * 64, str(path))
    assert result.exit_code == ExitCode.DENIED
    assert result.stderr.count("edited: not the bytes the gate wrote") == 1000
    assert (
        f"attest: {path}: … and more: the check stops after 1000 findings, at line 1001; the "
        "rest of the log is not checked"
    ) in result.stderr
    assert f"{path}: the decision log was tampered with (1000+ finding(s))" in result.stderr
    assert "no longer holds the expected head" not in result.stderr  # the rest was not read
    assert json.loads(result.stdout)["stopped_at_line"] == 1001


def test_a_damaged_long_log_is_checked_in_memory_bounded_by_its_findings(tmp_path: Path) -> None:
    """A long log with a record deleted and two swapped is read once, keeping only what is out
    of place: before, every line of a log not in order was kept."""
    path = tmp_path / "decisions.jsonl"
    decision_log.append(path, [_record(n) for n in range(10000)])
    lines = _lines(path)
    lines[7000], lines[7001] = lines[7001], lines[7000]
    del lines[100]
    _write(path, lines)
    report: list[decision_log.Report] = []
    peak = _peak(lambda: report.append(decision_log.check(path)))
    assert [str(f) for f in report[0].findings] == [
        "line 101: record(s) 100 deleted before record 101",
        "line 7000: records out of order: record 7001 comes before record 7000",
        "line 7001: records out of order: record 7000 comes after record 7001",
    ]
    assert report[0].stopped_at is None
    assert peak < MIB < path.stat().st_size / 2


def test_only_a_regular_file_is_a_log(invoke: Callable[..., Result], tmp_path: Path) -> None:
    """A FIFO (or a device, or a directory) is exit 2, never a hang: verify-log read it whole
    before, and a FIFO without a writer blocked it forever (so: a child with a deadline)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for log in (fifo, Path("/dev/zero"), tmp_path):
        checked = subprocess.run(
            [sys.executable, "-m", "attest", "verify-log", str(log)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == ExitCode.USAGE, checked.stderr
        assert f"{log}: the decision log must be a regular file" in checked.stderr
        appended = _gate(invoke, log, "a.whl", where=tmp_path / "artifacts")
        assert appended.exit_code == ExitCode.USAGE, appended.stderr
        assert f"{log}: the decision log must be a regular file" in appended.stderr


def test_an_append_in_progress_is_waited_for_not_called_torn(log: Path) -> None:
    """A writer holds the lock while its record is half written: the check waits for it (here
    past its timeout: exit 3) instead of calling the half record torn."""
    import fcntl

    with log.open("ab") as writing:
        fcntl.flock(writing, fcntl.LOCK_EX)
        writing.write(TORN)
        writing.flush()
        with pytest.raises(decision_log.DecisionLogError, match="nothing was checked"):
            decision_log.check(log, timeout=0.2)


# --- pseudo files: never a log, never opened for writing ------------------------------------


def _writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths `os.open` is asked to open for writing from here on."""
    opened: list[str] = []
    real = os.open

    def spy(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND):
            opened.append(str(path))
        return real(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    return opened


PSEUDO_SPELLINGS = {
    "environ": ("/proc/self/environ", "/proc"),
    "comm": ("/proc/thread-self/comm", "/proc"),
    "writable-sys": ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys"),
    "dev-dotdot": ("/dev/shm/../../proc/self/environ", "/dev"),
    "fd-of-a-regular-file": ("/proc/self/fd/{fd}", "/proc"),
    "dev-fd": ("/dev/fd/{fd}", "/dev"),
    "relative": ("{up}proc/self/comm", "/proc"),
}


@pytest.mark.parametrize("via_link", [False, True], ids=["named", "through-a-symlink"])
@pytest.mark.parametrize(("spelling", "root"), PSEUDO_SPELLINGS.values(), ids=PSEUDO_SPELLINGS)
def test_a_pseudo_file_is_never_a_decision_log_and_never_opened_to_write(
    invoke: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    spelling: str,
    root: str,
    via_link: bool,
) -> None:
    """Before: `--decision-log /proc/self/environ` (size 0 to `fstat`, so its first and last
    lines went unchecked) was opened to append (exit 3 "Invalid argument"; a writable /proc/sys
    file would have been written as root), and /proc/self/fd/N, whose file is a regular one
    elsewhere, was appended to and checked. Every spelling is refused by name, exit 2."""
    victim = tmp_path / "victim.jsonl"  # a regular file reached through /proc/self/fd/N
    with victim.open("ab") as handle:
        # a relative name is read from the working directory, a relative link from its own
        base = tmp_path if via_link else Path.cwd()
        named = spelling.format(fd=handle.fileno(), up="../" * len(base.parts))
        if via_link:
            (tmp_path / "link").symlink_to(named)
            named = str(tmp_path / "link")
        said = (
            f"{named}: the decision log must be a regular file, not a FIFO or device: it is in "
            f"{root}, a kernel pseudo file system, never written or read"
        )
        writes = _writes(monkeypatch)
        for args in (
            ["verify-log", named],
            ["verify-log", "--repair-torn-tail", named],
            ["verify", "--policy", str(POLICY), "--decision-log", named, str(victim)],
        ):
            result = invoke(*args)
            assert result.exit_code == ExitCode.USAGE, (args, result.stderr)
            assert result.stderr == f"attest: error: {said}\n"
        assert writes == []
    assert victim.read_bytes() == b""


def test_a_file_holding_more_than_its_size_says_is_not_a_log(tmp_path: Path) -> None:
    """What the name check would miss (procfs mounted elsewhere): a file whose size says 0 is
    still read for its first and last lines, so its content is never taken for an empty log."""
    fd = os.open("/proc/self/environ", os.O_RDONLY)
    try:
        with pytest.raises(decision_log.NotALog, match=r"holds more than its size \(0 bytes\)"):
            decision_log._size(fd, tmp_path / "x")
    finally:
        os.close(fd)


# --- a torn last record over 1 MiB: what a crash can leave ----------------------------------

LONG_TAILS = {  # (what follows the last whole record, torn: what a crash can leave)
    "2MB-of-NULs": (b"\0" * (2 * MIB), True),
    "torn-record-then-NULs": (TORN + b"\0" * (2 * MIB), True),
    "a-record's-worth-then-NULs": (b"{" + b"x" * (MIB - 1) + b"\0" * MIB, True),
    "one-byte-more-than-a-record": (b"{" + b"x" * MIB + b"\0" * MIB, False),
    "1.1MB-torn-record": (b'{"x":"' + b"A" * 1_100_000, False),
    "NULs-then-text": (b"\0" * (2 * MIB) + b"tail", False),
    "text-then-NULs": (b"x" * 10 + b"\0" * (2 * MIB), False),
}


@pytest.mark.parametrize(("tail", "torn"), LONG_TAILS.values(), ids=LONG_TAILS)
def test_a_last_line_over_a_record_is_torn_exactly_when_a_crash_could_leave_it(
    invoke: Callable[..., Result], log: Path, tail: bytes, torn: bool
) -> None:
    """One append is one write of at most MAX_RECORD bytes, and a power loss can extend the
    file with NULs, as many as it likes: so a torn last line is at most a record's bytes (a
    prefix of one), then only NULs. Before: any last line over 1 MiB made the repair exit 3,
    pointing to verify-log, which said "tampered": such a log could never be repaired. Now
    the check, the gate and the repair agree: torn (repaired, saying how many bytes) or an
    edit (exit 2 from the repair, saying a crash does not leave it; exit 1 from verify-log)."""
    intact = log.read_bytes()
    log.write_bytes(intact + tail)
    assert (decision_log.check(log).torn is not None) == torn
    checked = invoke("verify-log", str(log))
    appended = _gate(invoke, log, "a.whl")
    assert appended.exit_code == ExitCode.OPERATIONAL  # nothing is chained onto either
    repaired = invoke("verify-log", "--repair-torn-tail", str(log))
    if torn:
        assert checked.exit_code == ExitCode.OPERATIONAL, checked.stderr
        assert "torn last record" in checked.stderr and "tampered" not in checked.stderr
        assert f"run `{_repair(log)}`" in appended.stderr
        assert repaired.exit_code == 0, repaired.stderr
        assert f": removing the last {len(tail)} bytes (from byte {len(intact)}): " in (
            repaired.stderr
        )
        assert log.read_bytes() == intact
        assert _gate(invoke, log, "a.whl").exit_code == ExitCode.DENIED  # the gate goes on
        return
    assert checked.exit_code == ExitCode.DENIED, checked.stderr
    assert "line 6: over the 1 MiB limit for a record: not a record the gate wrote" in (
        checked.stderr
    )
    assert repaired.exit_code == ExitCode.USAGE, repaired.stderr
    assert repaired.stderr == (
        f"attest: error: {log}: the last line is over the 1 MiB a record takes and not a record "
        "cut short followed by NULs, which is all a crash leaves: it was not torn but written "
        f"so (an edit), so nothing was changed; `attest verify-log {log}` names it\n"
    )
    assert log.read_bytes() == intact + tail


def test_a_2_gib_torn_tail_of_a_power_loss_is_repaired_in_bounded_memory(log: Path) -> None:
    """A sparse 2 GiB run of NULs after the last record (`truncate -s 2G`): its holes are
    stepped over unread, by the check and by the repair."""
    intact = log.read_bytes()
    with log.open("ab") as handle:
        handle.truncate(2 << 30)
    report: list[decision_log.Report] = []
    assert _peak(lambda: report.append(decision_log.check(log))) < 4 * MIB
    assert str(report[0].torn) == (
        "line 6: torn last record: cut short and followed by NULs, over the 1 MiB a record "
        "takes (a power loss while appending), not an edit"
    )
    said: list[str] = []
    assert _peak(lambda: decision_log.repair_torn_tail(log, said.append)) < 4 * MIB
    assert f"removing the last {(2 << 30) - len(intact)} bytes" in said[0]
    assert log.read_bytes() == intact
