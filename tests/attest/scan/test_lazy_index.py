"""The lazy index (verify/osv/database.py `build_index(..., wanted)`): a cold scan parses only the
records of the packages it asks about, and a glance at the others' text files them under their
packages and dates them. What a scan finds is exactly what a full parse finds, for every
package, however a record spells its package names; a record the glance cannot be sure of is
parsed at once, as before."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_version
from packaging.version import Version

from attest.scan.interface import AdvisoryDataError, Component, SourceOptions
from attest.scan.sources import offline
from attest.scan.sources.offline import OfflineSource
from tests.attest.scan.helpers import record, shared_db, write_pypa
from verify.osv import database
from verify.osv import records as osv
from verify.osv.records import normalize


def index(db: Path, wanted: set[str] | None) -> database.Index:
    blob = None if db.is_dir() else database.read_database(db)
    digest = database.content_digest(db, blob)
    return database.Index(database.build_index(db, digest, blob, wanted), digest, db)


def test_a_lazy_index_of_the_pypa_database_answers_as_a_full_parse() -> None:
    """Every package of the 7,080 records, asked about or not at build time: the same entries
    in the same order, the same record count and the same newest record times."""
    db = shared_db()
    full = index(db, None)
    names = sorted(full._offsets)
    wanted = set(random.Random(14).sample(names, len(names) // 2))
    lazy = index(db, wanted)
    assert (lazy.records, lazy.latest) == (full.records, full.latest)
    assert len(lazy._texts) > 2000  # most records of the other half stayed text
    for name in names:
        assert lazy.entries(name) == full.entries(name), name


# A record of `hidden` filed in another package's folder, its name spelled in each way YAML
# allows: the glance must give up on it (parse it now) or see the name, never miss it.
HIDDEN = [
    "affected:\n- package: {name: hidden, ecosystem: PyPI}\n",
    "affected:\n- {package: {name: hidden, ecosystem: PyPI}}\n",
    "affected:\n- package:\n    'name': hidden\n    ecosystem: PyPI\n",
    'affected:\n- package:\n    "name": hidden\n    ecosystem: PyPI\n',
    'affected:\n- package:\n    "n\\x61me": hidden\n    ecosystem: PyPI\n',
    "affected:\n- package:\n    !!str name: hidden\n    ecosystem: PyPI\n",
    "affected:\n- package:\n    ? name\n    : hidden\n    ecosystem: PyPI\n",
    "k: &k name\naffected:\n- package:\n    *k : hidden\n    ecosystem: PyPI\n",
    "p: &p {name: hidden, ecosystem: PyPI}\naffected:\n- package: *p\n",
    "p: &p\n  name: hidden\n  ecosystem: PyPI\naffected:\n- package:\n    <<: *p\n",
    "affected:\n- package:\n    name: !!str hidden\n    ecosystem: PyPI\n",
    "affected:\n- package:\n    name: &n hidden\n    ecosystem: PyPI\n",
    "affected:\n- package:\n    name: Hidden # a comment\n    ecosystem: PyPI\n",
    "affected:\n- package:\n    name:\n      hidden\n    ecosystem: PyPI\n",
    "affected:\n- package:\n    name: hid\n      den\n    ecosystem: PyPI\n",
    "affected:\n- package:\n    name    : HIDDEN\n    ecosystem: PyPI\n",
    'affected:\n- package:\n    name: "hid\\\n      den"\n    ecosystem: PyPI\n',
]


@pytest.mark.parametrize("affected", HIDDEN)
def test_a_package_name_in_any_spelling_is_found(tmp_path: Path, affected: str) -> None:
    text = f"id: PYSEC-2026-9\nmodified: 2026-07-10T00:00:00Z\n{affected}"
    name = normalize(str(yaml.safe_load(text)["affected"][0]["package"]["name"]))
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1.0"])])
    (db / "vulns" / "alpha" / "PYSEC-2026-9.yaml").write_text(text)
    full = index(db, None)
    lazy = index(db, {"beta"})  # neither alpha nor the hidden package is asked about
    assert (lazy.records, lazy.latest) == (full.records, full.latest)
    assert lazy.entries(name) == full.entries(name) != []


def test_the_time_of_a_record_is_never_read_from_inside_a_quoted_scalar(tmp_path: Path) -> None:
    """`modified:` at column 0 may be the continuation of a quoted scalar (PyYAML reads
    `summary: 'a\\nmodified: x'` as one string): the glance gives up, the parse dates it."""
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1.0"])])
    (db / "vulns" / "zeta" / "PYSEC-2026-9.yaml").parent.mkdir(parents=True)
    (db / "vulns" / "zeta" / "PYSEC-2026-9.yaml").write_text(
        "id: PYSEC-2026-9\nsummary: 'moved\nmodified: 2027-01-01T00:00:00Z'\n"
        "published: 2026-01-01T00:00:00Z\n"
        "affected:\n- package:\n    name: zeta\n    ecosystem: PyPI\n  versions:\n  - '1.0'\n"
    )
    assert index(db, {"beta"}).latest == index(db, None).latest
    assert "2027-01-01T00:00:00Z" not in index(db, {"beta"}).latest


def test_a_bad_record_of_a_package_scanned_later_is_the_same_error(tmp_path: Path) -> None:
    """A record that only a parse finds malformed, of a package nobody asked about when the
    index was built: the scan that asks about it fails as a full parse fails (exit 2, naming
    the record); a scan of other packages does not read it (README: cold scans)."""
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1.0"])])
    (db / "vulns" / "zeta").mkdir()
    (db / "vulns" / "zeta" / "PYSEC-2026-9.yaml").write_text(
        "id: PYSEC-2026-9\nmodified: 2026-07-10T00:00:00Z\n"
        "affected:\n- package:\n    name: zeta\n    ecosystem: PyPI\n  ranges: 5\n"
    )
    expected = (
        f"{db}: vulns/zeta/PYSEC-2026-9.yaml: bad OSV record: affected[0].ranges: expected a list"
    )
    with pytest.raises(database.DatabaseError) as caught:
        database.load(db)  # the gate's --db: a full parse, every record
    assert str(caught.value) == expected
    cache = tmp_path / "cache"
    answer = OfflineSource(SourceOptions(db=db, cache_dir=cache)).check([Component("alpha", "1.0")])
    assert [m.advisory.id for m in answer.matches] == ["PYSEC-2026-1"]
    with pytest.raises(AdvisoryDataError) as failed:  # warm: from the cached text
        OfflineSource(SourceOptions(db=db, cache_dir=cache)).check([Component("zeta", "1.0")])
    assert str(failed.value) == expected


def test_a_record_odd_at_the_top_fails_every_scan(tmp_path: Path) -> None:
    """What the glance checks cheaply still fails closed for every scan: here a record of an
    unscanned package that gives `modified` twice."""
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1.0"])])
    (db / "vulns" / "zeta").mkdir()
    (db / "vulns" / "zeta" / "PYSEC-2026-9.yaml").write_text(
        "id: PYSEC-2026-9\nmodified: 2026-07-10T00:00:00Z\nmodified: 2026-07-11T00:00:00Z\n"
        "affected:\n- package:\n    name: zeta\n    ecosystem: PyPI\n"
    )
    with pytest.raises(AdvisoryDataError, match=r"PYSEC-2026-9\.yaml: not valid YAML: .*twice"):
        OfflineSource(SourceOptions(db=db, cache_dir=tmp_path / "c")).check(
            [Component("alpha", "1.0")]
        )


def test_a_warm_scan_of_other_packages_reads_them_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = write_pypa(
        tmp_path / "db",
        [
            record("PYSEC-2026-1", "alpha", versions=["1.0"]),
            record("PYSEC-2026-2", "beta", versions=["1.0"]),
        ],
    )
    cache = tmp_path / "cache"
    first = OfflineSource(SourceOptions(db=db, cache_dir=cache)).check([Component("alpha", "1.0")])
    assert [m.advisory.id for m in first.matches] == ["PYSEC-2026-1"]

    def no_rebuild(*_: object) -> bytes:
        raise AssertionError("the index was rebuilt")

    monkeypatch.setattr(offline, "build_index", no_rebuild)
    later = OfflineSource(SourceOptions(db=db, cache_dir=cache)).check([Component("beta", "1.0")])
    assert [m.advisory.id for m in later.matches] == ["PYSEC-2026-2"]


_NUMBER = st.sampled_from(["0", "00", "1", "01", "10", "9" * 18, "9" * 19, "1" * 5000])
_SUFFIX = ["", "a1", "b0", "rc2", ".post1", ".dev0", "rc1.post2.dev3", "-1", "+local", "a01"]
_VERSION = st.one_of(
    st.builds(
        str.__add__,
        st.lists(_NUMBER, min_size=1, max_size=6).map(".".join),
        st.sampled_from([*_SUFFIX, "RC1", " ", "x", ".", "v"]),
    ),
    st.text(alphabet="0123456789.abrcpostdev-+ ", max_size=12),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_VERSION, max_size=4))
def test_versions_are_canonical_as_packaging_makes_them(versions: list[str]) -> None:
    """The short way to a canonical version (most of a `versions` list) gives what packaging's
    canonicalize_version gives, and an unparsable one stays as written."""
    entry = dict(osv.entries(record("PYSEC-1", "pkg", versions=versions)))["pkg"]
    for text, found in zip(versions, osv.listed(entry), strict=True):
        try:
            assert found == canonicalize_version(text), text
        except ValueError:  # past Python's 4,300 digits
            assert found == text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet="0123456789.a\n ", max_size=6), max_size=4),
        min_size=1,
        max_size=3,
    )
)
def test_entries_read_back_from_the_index_are_those_parsed(listed: list[list[str]]) -> None:
    """What a cold scan holds without reading the index back (`held`) is what a warm one reads
    from the file, and what a parse of the records gives: empty lists, line breaks and all."""
    with tempfile.TemporaryDirectory() as tmp:
        records = [record(f"PYSEC-{i}", "pkg", versions=v) for i, v in enumerate(listed)]
        db = write_pypa(Path(tmp) / "db", records)
        digest = database.content_digest(db)
        held: dict[str, list[osv.Entry]] = {}
        raw = database.build_index(db, digest, None, {"pkg"}, held)
        read_back = database.Index(raw, digest, db).entries("pkg")
    parsed = [e for r in records for _, e in osv.entries(r)]
    assert read_back == held["pkg"] == parsed
    canonical = [[osv.canonical_version(v) for v in vs] for vs in listed]
    assert [osv.listed(e) for e in read_back] == [
        [v for v in c if "\n" not in v] for c in canonical
    ]


@pytest.mark.parametrize("listed", [["9\n1.0"], ["1.0\n9"], ["x\n1.0\ny", "2.0"], ["\n"]])
def test_a_listed_value_with_a_line_break_matches_no_version(listed: list[str]) -> None:
    """An entry keeps its versions as lines of one string: a listed value holding a line break
    (no PEP 440 version does) cannot split into lines that match."""
    ((_, entry),) = osv.entries(record("PYSEC-1", "pkg", versions=listed))
    assert not osv.affects(entry, Version("1.0")) and not osv.affects(entry, Version("9"))
    assert osv.affects(entry, Version("2.0")) == ("2.0" in listed)


def test_a_warm_scan_does_not_load_the_yaml_readers(tmp_path: Path) -> None:
    """A warm scan reads only the index: PyYAML and the YAML readers (a tenth of the start-up
    of a whole `attest scan` process) are not imported for it; nor are what only other paths
    need (a mistyped command's suggestion, requirement markers, a shared counter), which a
    cold and a warm scan of an SBOM both start up with."""
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1.0"])])
    sbom = tmp_path / "sbom.json"
    sbom.write_text(
        '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": '
        '[{"type": "library", "name": "alpha", "version": "1.0"}]}'
    )
    cache = tmp_path / "cache"
    program = f"""
import sys
from attest.cli import main
sys.argv = ["attest", "scan", "--sbom", {str(sbom)!r}, "--db", {str(db)!r},
            "--cache-dir", {str(cache)!r}, "--now", "2026-07-12T00:00:00Z", "--json"]
code = 0
try:
    main()
except SystemExit as e:
    code = e.code
print(code, sorted(m for m in sys.modules if "yaml" in m))
print(sorted(m for m in ("difflib", "packaging.markers", "multiprocessing") if m in sys.modules))
"""
    runs = [subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)]
    runs.append(subprocess.run([sys.executable, "-c", program], capture_output=True, text=True))
    (cold, cold_rest), (warm, warm_rest) = (run.stdout.strip().splitlines()[-2:] for run in runs)
    assert cold.startswith("1 ") and "plain_yaml" in cold  # a finding, from a parsed record
    assert warm == "1 []", runs[1].stderr
    assert cold_rest == warm_rest == "[]", runs[0].stderr


def test_a_forked_parse_builds_the_same_index_byte_for_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cold parse shared among forked processes (`build_index(..., processes)`): the index
    file is the same bytes as one process makes, on the whole PyPA database, every package
    asked about, and on a few packages (under the fork threshold: not forked)."""
    db = shared_db()
    blob = database.read_database(db)
    digest = database.content_digest(db, blob)
    names = sorted(database.Index(database.build_index(db, digest, blob), digest, db)._offsets)
    calls: list[int] = []  # the item counts of the forked runs
    real = database.forked.run

    def spy(task: Any, count: int, processes: int, threads: int) -> Any:
        calls.append(count)
        return real(task, count, processes, threads)

    monkeypatch.setattr(database.forked, "run", spy)
    for wanted, forks in ((set(names), [2]), (set(names[:40]), [])):  # forked only when it pays
        calls.clear()
        one = database.build_index(db, digest, blob, wanted, None, 1)
        assert calls == []
        assert database.build_index(db, digest, blob, wanted, None, 2) == one
        assert calls == forks


def test_a_forked_parse_raises_the_first_bad_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad records in both halves of a forked parse: the error is the first one's, as a
    single process raises it, with its type (exit 2) and the record named."""
    monkeypatch.setattr(database, "FORK_FROM", 2)
    good = [record(f"PYSEC-2026-{i}", f"p{i:02}", versions=["1.0"]) for i in range(8)]
    db = write_pypa(tmp_path / "db", good)
    for package in ("p01", "p06"):
        (db / "vulns" / package / "PYSEC-2026-99.yaml").write_text(
            f"id: PYSEC-2026-99\naffected:\n- package:\n    name: {package}\n"
            "    ecosystem: PyPI\n  ranges: 5\n"
        )
    wanted = {f"p{i:02}" for i in range(8)}
    errors = []
    for processes in (1, 2):
        with pytest.raises(database.DatabaseError) as caught:
            database.build_index(db, database.content_digest(db), None, wanted, None, processes)
        errors.append((type(caught.value), caught.value.where, caught.value.problem))
    assert errors[0] == errors[1]
    assert (
        errors[1][2]
        == "vulns/p01/PYSEC-2026-99.yaml: bad OSV record: affected[0].ranges: expected a list"
    )


def test_the_index_is_the_same_bytes_whatever_the_hash_seed(tmp_path: Path) -> None:
    """A record a glance files under several packages not asked about: the index lists them in
    one order, not in the order of a set of strings (which PYTHONHASHSEED decides), so two
    processes build the same bytes of one database."""
    data = record("PYSEC-2026-1", "p00", versions=["1.0"])
    data["affected"] += [
        {"package": {"name": f"q{i}", "ecosystem": "PyPI"}, "versions": ["1.0"]} for i in range(12)
    ]
    db = write_pypa(tmp_path / "db", [data, record("PYSEC-2026-2", "asked", versions=["1.0"])])
    program = (
        "import hashlib, sys; from pathlib import Path; from verify.osv import database as d\n"
        f"db = Path({str(db)!r}); raw = d.build_index(db, d.content_digest(db), None, {{'asked'}})\n"
        "assert b'\"q0\"' in raw.partition(b'\\n')[0], 'not kept as text'\n"
        "print(hashlib.sha256(raw).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=False
        )
        assert run.returncode == 0, run.stderr
        digests.add(run.stdout)
    assert len(digests) == 1, digests


def test_references_only_checked_leave_the_index_of_the_pypa_database_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The index's parse only checks `references` (osv.UNREAD): the index of the whole database
    is the same bytes as when every key was read."""
    db = shared_db()
    blob = database.read_database(db)
    digest = database.content_digest(db, blob)
    checked = database.build_index(db, digest, blob)
    monkeypatch.setattr(osv, "UNREAD", frozenset())
    assert database.build_index(db, digest, blob) == checked


@pytest.mark.parametrize(
    "references",
    [
        "- type: WEB\n  url: https://x\n",  # only checked
        "- type: WEB\n  url: https://x\n  url: https://y\n",  # a key given twice: refused
    ],
)
def test_a_bad_record_with_references_only_checked_is_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, references: str
) -> None:
    """The first bad record raises the same error whether its references were only checked or
    read: a malformed `affected` after them, or a key given twice inside them."""
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1.0"])])
    (db / "vulns" / "alpha" / "PYSEC-2026-9.yaml").write_text(
        f"id: PYSEC-2026-9\nreferences:\n{references}"
        "affected:\n- package:\n    name: alpha\n    ecosystem: PyPI\n  ranges: 5\n"
    )
    errors = []
    for unread in (osv.UNREAD, frozenset()):
        monkeypatch.setattr(osv, "UNREAD", unread)
        with pytest.raises(database.DatabaseError) as caught:
            database.load(db)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert "vulns/alpha/PYSEC-2026-9.yaml: " in errors[0]
    assert ("given twice" if "url: https://y" in references else "expected a list") in errors[0]
