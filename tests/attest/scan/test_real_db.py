"""The real PyPA advisory database (../shared/data/advisory-db; skipped when absent, present in
CI): pins whose advisories were checked by hand against the records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.scan.interface import Component, SourceAnswer, SourceOptions
from attest.scan.sources.offline import OfflineSource
from tests.attest.scan.helpers import sbom, shared_db
from verify.osv.severity import severity_of

NOW = "2026-07-24T00:00:00Z"  # the day after the snapshot


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("advisory-index")


@pytest.fixture(scope="module")
def answer(cache: Path) -> SourceAnswer:
    pins = [
        Component("requests", "2.19.0"),
        Component("django", "3.2.0"),
        Component("pyyaml", "5.3"),
        Component("jinja2", "2.10"),
        Component("jinja2", "3.1.2"),
    ]
    return OfflineSource(SourceOptions(db=shared_db(), cache_dir=cache)).check(pins)


def ids(answer: SourceAnswer, name: str, version: str) -> set[str]:
    return {
        m.advisory.id
        for m in answer.matches
        if (m.component.name, m.component.version) == (name, version)
    }


def test_the_whole_database_is_read(answer: SourceAnswer) -> None:
    assert answer.database is not None
    assert answer.database.records == 7080
    assert answer.skips == ()


def test_requests_2_19_0(answer: SourceAnswer) -> None:
    assert ids(answer, "requests", "2.19.0") == {
        "PYSEC-2018-28",  # CVE-2018-18074, Authorization header on redirect, fixed 2.20.0
        "PYSEC-2023-74",  # CVE-2023-32681, Proxy-Authorization leak, 2.3.0 up to 2.31.0
        "PYSEC-2026-1872",  # CVE-2024-47081, .netrc leak, fixed 2.32.4
        "PYSEC-2026-1873",  # CVE-2024-35195, verify=False sticks to the session, fixed 2.32.0
        "PYSEC-2026-2275",  # CVE-2026-25645, extract_zipped_paths temp file, fixed 2.33.0
    }  # not PYSEC-2014-13/14 or PYSEC-2015-17: fixed long before 2.19


def test_pyyaml_5_3(answer: SourceAnswer) -> None:
    # CVE-2020-1747 (fixed 5.3.1) and CVE-2020-14343 (fixed 5.4); CVE-2019-20477 was 5.1.x only
    assert ids(answer, "pyyaml", "5.3") == {"PYSEC-2020-96", "PYSEC-2021-142"}


def test_jinja2_2_10_and_3_1_2(answer: SourceAnswer) -> None:
    old = ids(answer, "jinja2", "2.10")
    assert old == {
        "PYSEC-2019-217",  # CVE-2019-10906, sandbox escape, fixed 2.10.1
        "PYSEC-2021-66",  # CVE-2020-28493, ReDoS, fixed 2.11.3
        "PYSEC-2026-1471", "PYSEC-2026-1473", "PYSEC-2026-1474", "PYSEC-2026-1475",
    }  # fmt: skip
    # PYSEC-2026-1471 lists only 2.x versions, but its range (0, fixed 3.1.6) covers 3.1.2: the
    # union of list and ranges; PYSEC-2026-1472 (CVE-2024-56201) was introduced in 3.0.0.
    assert ids(answer, "jinja2", "3.1.2") == {
        "PYSEC-2026-1471", "PYSEC-2026-1472", "PYSEC-2026-1473", "PYSEC-2026-1474", "PYSEC-2026-1475",
    }  # fmt: skip


def test_django_3_2_0(answer: SourceAnswer) -> None:
    found = ids(answer, "django", "3.2.0")
    assert len(found) == 26
    assert {"PYSEC-2021-7", "PYSEC-2021-109", "PYSEC-2022-190", "PYSEC-2024-47"} <= found
    by_id = {m.advisory.id: m.advisory for m in answer.matches if m.component.name == "django"}
    assert by_id["PYSEC-2021-7"].fix_versions == ("2.2.21", "3.1.9", "3.2.1")  # CVE-2021-31542


def test_severities_where_vectors_exist(answer: SourceAnswer) -> None:
    by_id = {m.advisory.id: m.advisory for m in answer.matches}
    netrc = severity_of(by_id["PYSEC-2026-1872"])
    assert (netrc.level, netrc.score, netrc.method) == ("medium", 5.3, "CVSSv31")
    sandbox = severity_of(by_id["PYSEC-2026-1472"])
    assert (sandbox.level, sandbox.score) == ("high", 8.8)
    v4 = severity_of(by_id["PYSEC-2026-1471"])
    assert (v4.level, v4.method) == ("medium", "CVSSv4")
    assert severity_of(by_id["PYSEC-2020-96"]).level == "unknown"  # old PyYAML record: no vector


def test_cli_on_the_real_database(
    invoke: Callable[..., Result], cache: Path, tmp_path: Path
) -> None:
    bom = sbom(tmp_path / "bom.json", {"requests": "2.19.0", "PyYAML": "5.3"})
    result = invoke(
        "scan", "--sbom", str(bom), "--db", str(shared_db()), "--cache-dir", str(cache), "--now", NOW,
        env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""},
    )  # fmt: skip
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    status = {f["id"]: f["status"] for f in data["findings"]}
    assert status["PYSEC-2018-28"] == "overdue"
    # published 2026-07-07 (the PYSEC record's creation; the CVE is from 2024), medium: 90 days
    assert status["PYSEC-2026-1872"] == "ok"
    assert data["source"]["database"]["newest"].startswith("2026-07-23")
    assert "after --now" in result.stderr  # two records in the snapshot are dated 2027
