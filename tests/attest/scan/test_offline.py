"""The offline source: every accepted layout, the content-keyed index cache, bounds and errors."""

from __future__ import annotations

import datetime
import gc
import json
import os
import stat
from pathlib import Path

import pytest

from attest.scan import report, stage
from attest.scan.interface import AdvisoryDataError, Component, SourceAnswer, SourceOptions
from attest.scan.sources import offline
from attest.scan.sources.offline import OfflineSource
from tests.attest.scan.helpers import (
    PYPA_FIXTURE,
    record,
    tar_dir,
    tar_gz,
    write_json_dir,
    write_pypa,
    zip_bytes,
)
from verify.errors import InputError
from verify.osv import database
from verify.slo import Policy

RECORDS = [
    record("PYSEC-2026-1", "alpha", events=[{"introduced": "0"}, {"fixed": "2.0"}]),
    record("GHSA-2222-3333-4444", "beta", versions=["1.0"], modified="2026-07-12T00:00:00Z"),
]
PINS = [Component("alpha", "1.0"), Component("beta", "1.0"), Component("gamma", "1.0")]


def check(db: Path, cache: Path, components: list[Component] = PINS) -> SourceAnswer:
    return OfflineSource(SourceOptions(db=db, cache_dir=cache)).check(components)


def ids(answer: SourceAnswer) -> list[tuple[str, str]]:
    return sorted((m.component.name, m.advisory.id) for m in answer.matches)


EXPECTED = [("alpha", "PYSEC-2026-1"), ("beta", "GHSA-2222-3333-4444")]


def test_pypa_layout(tmp_path: Path) -> None:
    answer = check(write_pypa(tmp_path / "db", RECORDS), tmp_path / "cache")
    assert ids(answer) == EXPECTED
    assert answer.database is not None
    assert answer.database.records == 2
    assert answer.database.latest[0].isoformat() == "2026-07-12T00:00:00+00:00"
    assert len(answer.database.digest) == 64


def test_directory_of_osv_json(tmp_path: Path) -> None:
    assert ids(check(write_json_dir(tmp_path / "db", RECORDS), tmp_path / "cache")) == EXPECTED


def test_osv_all_zip(tmp_path: Path) -> None:
    db = tmp_path / "all.zip"
    db.write_bytes(zip_bytes(RECORDS))
    assert ids(check(db, tmp_path / "cache")) == EXPECTED


def test_tar_gz_of_the_pypa_layout_of_json_and_of_a_zip(tmp_path: Path) -> None:
    pypa = tar_dir(
        tmp_path / "pypa.tar.gz", write_pypa(tmp_path / "p", RECORDS), "advisory-database"
    )
    jsons = tar_dir(tmp_path / "json.tar.gz", write_json_dir(tmp_path / "j", RECORDS), "osv")
    zipped = tar_gz(tmp_path / "zip.tar.gz", {"export/all.zip": zip_bytes(RECORDS)})
    for db in (pypa, jsons, zipped):
        assert ids(check(db, tmp_path / "cache")) == EXPECTED, db


def test_the_fixture_database_reads_yaml_quirks_and_skips_hidden_files(tmp_path: Path) -> None:
    """Unquoted and quoted timestamps, a name in another spelling, GIT ranges, .github/ and
    .id-allocator beside the records."""
    answer = check(
        PYPA_FIXTURE,
        tmp_path / "cache",
        [Component("toyparser", "1.5"), Component("toyweb", "3.2")],
    )
    assert ids(answer) == [
        ("toyparser", "PYSEC-2024-1"),
        ("toyparser", "PYSEC-2026-7"),
        ("toyweb", "PYSEC-2025-3"),
    ]
    assert answer.database is not None and answer.database.records == 3
    by_id = {m.advisory.id: m.advisory for m in answer.matches}
    assert by_id["PYSEC-2024-1"].published is not None
    assert by_id["PYSEC-2024-1"].published.isoformat() == "2024-01-10T00:00:00+00:00"
    assert by_id["PYSEC-2026-7"].summary == "A slow regular expression in toyparser."
    assert by_id["PYSEC-2026-7"].database_severity == "MODERATE"


def test_the_index_is_built_once_and_keyed_by_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = write_pypa(tmp_path / "db", RECORDS)
    cache = tmp_path / "cache"
    first = check(db, cache)
    (index,) = cache.iterdir()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert first.database is not None and index.name == f"{first.database.digest}.idx"

    def no_rebuild(*args: object) -> bytes:
        raise AssertionError("index rebuilt although the database did not change")

    monkeypatch.setattr(offline, "build_index", no_rebuild)
    assert ids(check(db, cache)) == EXPECTED
    monkeypatch.undo()

    write_pypa(db, [record("PYSEC-2026-5", "gamma", versions=["1.0"])])  # the content changes
    changed = check(db, cache)
    assert ("gamma", "PYSEC-2026-5") in ids(changed)
    assert len(list(cache.iterdir())) == 2


def test_a_corrupt_index_is_rebuilt_with_a_note(tmp_path: Path) -> None:
    db = write_pypa(tmp_path / "db", RECORDS)
    check(db, tmp_path / "cache")
    (index,) = (tmp_path / "cache").iterdir()
    head, _, body = index.read_bytes().partition(b"\n")
    index.write_bytes(head + b"\n" + body.replace(b"PYSEC-2026-1", b"PYSEC-2026-0"))
    answer = check(db, tmp_path / "cache")
    assert ids(answer) == EXPECTED
    assert answer.notes[0].endswith(
        "unusable (index body does not match its digest); rebuilding it"
    )


def test_versions_that_cannot_be_checked_are_skips(tmp_path: Path) -> None:
    answer = check(
        write_pypa(tmp_path / "db", RECORDS),
        tmp_path / "cache",
        [Component("alpha", None), Component("alpha", "not-a-version")],
    )
    assert [s.reason for s in answer.skips] == [
        "no version given",
        "version 'not-a-version' is not PEP 440",
    ]


def error(db: Path, tmp_path: Path) -> str:
    with pytest.raises(AdvisoryDataError) as caught:
        check(db, tmp_path / "cache")
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_a_bad_record_is_an_error_naming_the_file(tmp_path: Path) -> None:
    db = write_pypa(tmp_path / "db", RECORDS)
    (db / "vulns" / "alpha" / "PYSEC-2026-2.yaml").write_text("id: PYSEC-2026-2\naffected: 3\n")
    assert error(db, tmp_path) == (
        f"{db}: vulns/alpha/PYSEC-2026-2.yaml: bad OSV record: PYSEC-2026-2: affected: expected a list"
    )


def test_deeply_nested_records_are_errors_not_crashes(tmp_path: Path) -> None:
    db = write_json_dir(tmp_path / "j", RECORDS)
    (db / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert error(db, tmp_path) == f"{db}: deep.json: nested too deeply"


def test_bad_yaml_and_bad_json_are_errors(tmp_path: Path) -> None:
    db = write_pypa(tmp_path / "db", RECORDS)
    (db / "vulns" / "alpha" / "PYSEC-2026-3.yaml").write_text("id: [unclosed\n")
    assert f"{db}: vulns/alpha/PYSEC-2026-3.yaml: not valid YAML: " in error(db, tmp_path)
    jdb = write_json_dir(tmp_path / "j", RECORDS)
    (jdb / "broken.json").write_text("{")
    assert f"{jdb}: broken.json: not valid JSON: " in error(jdb, tmp_path)


def _twice(first: dict[str, object]) -> str:
    """A JSON record that lists `affected`, then gives it again as []."""
    return json.dumps(first)[:-1] + ', "affected": []}'


def test_a_json_record_giving_a_key_twice_is_refused_by_scan_and_gate(tmp_path: Path) -> None:
    """Read last-wins, the second `"affected": []` hid the advisory (0 findings, the gate's
    --db allowed), where the same record in YAML was refused: one strict reading for both."""
    db = write_json_dir(tmp_path / "j", RECORDS[1:])
    (db / "PYSEC-2026-1.json").write_text(_twice(RECORDS[0]))
    said = (
        f"{db}: PYSEC-2026-1.json: not valid JSON: the key 'affected' appears twice in one object"
    )
    assert error(db, tmp_path) == said
    with pytest.raises(database.DatabaseError) as caught:
        database.load(db)  # the gate's `verify --db`
    assert caught.value.exit_code == 2 and str(caught.value) == said


def test_a_json_record_with_a_number_too_long_names_no_python_setting(tmp_path: Path) -> None:
    db = write_json_dir(tmp_path / "j", RECORDS)
    (db / "long.json").write_text('{"id": ' + "9" * 5000 + "}")
    said = error(db, tmp_path)
    assert (
        said
        == f"{db}: long.json: not valid JSON: a number too long to read (more than 4,300 digits)"
    )
    assert "set_int_max_str_digits" not in said


def test_missing_empty_and_unknown_databases(tmp_path: Path) -> None:
    assert error(tmp_path / "nope", tmp_path) == f"{tmp_path / 'nope'}: no such file or directory"
    (tmp_path / "empty").mkdir()
    assert error(tmp_path / "empty", tmp_path).endswith(
        "no OSV records found (.json or .yaml files)"
    )
    (tmp_path / "db.txt").write_text("hello")
    assert error(tmp_path / "db.txt", tmp_path).endswith(
        "not an OSV database: expected a directory, a .zip, a .tar.gz or a record file"
    )
    (tmp_path / "cut.tar.gz").write_bytes(
        tar_gz(tmp_path / "x.tar.gz", {"a.json": b"{}" * 1000}).read_bytes()[:60]
    )
    assert "cut.tar.gz: " in error(tmp_path / "cut.tar.gz", tmp_path)


def test_directory_records_must_be_regular_files_within_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO among the records would block the reader forever; a huge file, fill memory."""
    db = write_pypa(tmp_path / "db", RECORDS)
    fifo = db / "vulns" / "alpha" / "PYSEC-2026-5.yaml"
    os.mkfifo(fifo)
    assert error(db, tmp_path) == (
        f"{db}: vulns/alpha/PYSEC-2026-5.yaml: is not a regular file (FIFO, socket, device), "
        "expected a file"
    )
    fifo.unlink()
    limit = max(f.stat().st_size for f in db.rglob("*.yaml"))  # the real records fit
    monkeypatch.setattr(database, "MAX_RECORD_BYTES", limit)
    (db / "vulns" / "alpha" / "PYSEC-2026-6.yaml").write_text("id: X\n" + "#" * limit)
    assert error(db, tmp_path) == (f"{db}: vulns/alpha/PYSEC-2026-6.yaml: more than {limit} bytes")


def test_archive_bombs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "MAX_RECORD_BYTES", 100)
    big = record("PYSEC-2026-9", "alpha", versions=["1.0"], details="x" * 500)
    db = tar_gz(
        tmp_path / "big.tar.gz", {"vulns/alpha/PYSEC-2026-9.json": json.dumps(big).encode()}
    )
    assert error(db, tmp_path) == f"{db}: vulns/alpha/PYSEC-2026-9.json: more than 100 bytes"
    monkeypatch.setattr(database, "MAX_RECORD_BYTES", 10_000)
    monkeypatch.setattr(database, "MAX_MEMBERS", 1)
    zipped = tmp_path / "all.zip"
    zipped.write_bytes(zip_bytes(RECORDS))
    assert "more than 1 members" in error(zipped, tmp_path)


def test_every_tar_member_counts_against_the_budget_before_it_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member that is no record is still decompressed to pass it in the stream: a 100 GB
    `padding.bin` (a few MB packed) was unpacked in full before; it is now refused by its
    declared size, before a byte of it is read."""
    monkeypatch.setattr(database, "MAX_TOTAL_BYTES", 10_000)
    members = {"padding.bin": b"\0" * 20_000, "vulns/alpha/PYSEC-2026-1.json": b"{}"}
    db = tar_gz(tmp_path / "bomb.tar.gz", members)
    assert error(db, tmp_path) == (f"{db}: padding.bin: more than 10000 bytes")
    monkeypatch.setattr(database, "MAX_MEMBERS", 3)
    many = tar_gz(tmp_path / "many.tar.gz", {f"x{i}.txt": b"" for i in range(5)})
    assert "more than 3 members" in error(many, tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "device", "sparse"])
def test_a_database_file_that_is_no_regular_file_or_too_large_is_refused_unread(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO blocked the reader forever; /dev/zero or a 2 GiB sparse file were read whole
    (a MemoryError). Now: exit 2 naming the file, st_size not trusted."""
    db = tmp_path / "db.tar.gz"
    if kind == "fifo":
        os.mkfifo(db)
        expected = f"{db}: is not a regular file (FIFO, socket, device), expected a file"
    elif kind == "device":
        db = Path("/dev/zero")
        expected = f"{db}: is not a regular file (FIFO, socket, device), expected a file"
    else:
        with db.open("wb") as handle:
            handle.truncate(2 * 1024**3)
        expected = f"{db}: more than {database.MAX_DATABASE_BYTES} bytes: refused"
    assert error(db, tmp_path) == expected
    with pytest.raises(database.DatabaseError) as caught:  # the gate's --db reads the same way
        database.load(db)
    assert str(caught.value) == expected


def test_no_database_given(tmp_path: Path) -> None:
    with pytest.raises(AdvisoryDataError, match="--db: the offline source needs a database"):
        OfflineSource(SourceOptions(cache_dir=tmp_path)).check(PINS)


def _plant_forged_index(db: Path, cache: Path, tmp_path: Path) -> Path:
    """What another user with write access to the cache can do: an index that passes every
    check of its own (format, database digest, body digest) and answers "no advisories"."""
    harmless = write_pypa(tmp_path / "harmless", [record("PYSEC-2026-8", "zeta", versions=["1"])])
    digest = database.content_digest(db)
    forged = cache / f"{digest}.idx"
    forged.write_bytes(database.build_index(harmless, digest))
    return forged


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777], ids=oct)
def test_a_cache_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    """Threat T12: refused, not tightened, as a chmod would keep the index already planted."""
    db = write_pypa(tmp_path / "db", RECORDS)
    cache = tmp_path / "cache"
    cache.mkdir()
    forged = _plant_forged_index(db, cache, tmp_path)
    cache.chmod(mode)
    with pytest.raises(InputError) as caught:
        check(db, cache)
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        f"{cache}: the advisory cache has mode {stat.S_IMODE(mode):04o}: others could plant "
        f"forged advisories; run `chmod 700 {cache}` and delete the files in it that you did "
        "not write"
    )
    assert stat.S_IMODE(cache.stat().st_mode) == stat.S_IMODE(mode)  # left as it was
    cache.chmod(0o700)
    forged.unlink()
    assert ids(check(db, cache)) == EXPECTED


def test_a_cache_others_can_only_read_is_used(tmp_path: Path) -> None:
    """Advisories are public: reading the cache gives nothing away, writing it is the threat."""
    db = write_pypa(tmp_path / "db", RECORDS)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)
    assert ids(check(db, cache)) == EXPECTED


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_cache_of_another_user_is_refused(tmp_path: Path) -> None:
    db = write_pypa(tmp_path / "db", RECORDS)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    _plant_forged_index(db, cache, tmp_path)
    os.chown(cache, 65534, -1)
    with pytest.raises(InputError, match="the advisory cache belongs to uid 65534, not"):
        check(db, cache)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_scan_and_its_report_collect_no_cycles_and_restore_the_callers_setting(
    enabled: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cyclic collection walked the advisories read again and again (a tenth of a warm scan);
    it is off inside the scan and the report's rendering, and then as the caller had it, also
    when the scan fails."""
    seen: list[bool] = []

    def spy(*args: object) -> None:
        seen.append(gc.isenabled())
        raise InputError(tmp_path, "stop here")

    monkeypatch.setattr(stage, "read_components", spy)
    monkeypatch.setattr(report, "markdown", spy)
    request = stage.ScanRequest(
        kind="sbom",
        target=tmp_path / "sbom.json",
        source="offline",
        options=SourceOptions(),
        policy=Policy(),
        now=datetime.datetime(2026, 7, 24, tzinfo=datetime.timezone.utc),
    )
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(InputError, match="stop here"):
            stage.scan(request)
        with pytest.raises(InputError, match="stop here"):
            report.render(None, "markdown")  # type: ignore[arg-type]
        assert gc.isenabled() == enabled
    finally:
        gc.enable()
    assert seen == [False, False]
