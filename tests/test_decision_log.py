"""The gate's decision log: a hash chain that names every edited, deleted, inserted or
reordered record, and appends that stay one valid chain under concurrent writers."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from verify import decision_log
from verify.errors import ExitCode

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
    return [str(f) for f in decision_log.check(path)[1]]


def test_intact_log(log: Path) -> None:
    count, findings = decision_log.check(log)
    assert (count, findings) == (5, [])
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
    lines.insert(2, json.dumps(forged))
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
    assert _problems(log) == ["line 4: edited: the record does not match its own hash"]


def test_verify_log_command(invoke: Callable[..., Result], log: Path) -> None:
    intact = invoke("verify-log", str(log))
    assert intact.exit_code == 0 and "5 records, chain intact" in intact.stderr
    lines = _lines(log)
    del lines[3]
    _write(log, lines)
    broken = invoke("verify-log", str(log))
    assert broken.exit_code == ExitCode.DENIED
    assert "line 4: record(s) 3 deleted before record 4" in broken.stderr
    missing = invoke("verify-log", str(log.with_name("nope.jsonl")))
    assert missing.exit_code == ExitCode.OPERATIONAL
    assert "cannot read the decision log" in missing.stderr


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
    count, findings = decision_log.check(path)
    assert (count, findings) == (WRITERS * DECISIONS, [])
    names = {json.loads(line)["artifact"]["name"] for line in _lines(path)}
    assert len(names) == WRITERS * DECISIONS


def test_a_stuck_writer_times_out_and_denies(log: Path) -> None:
    import fcntl

    with log.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(decision_log.DecisionLogError, match="held the decision log's lock"):
            decision_log.append(log, [_record(9)], timeout=0.2)
    assert decision_log.DecisionLogError.exit_code == ExitCode.OPERATIONAL
    assert decision_log.check(log) == (5, [])
