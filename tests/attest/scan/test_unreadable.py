"""Advisory data the scanner cannot read (an unparsable `introduced`, `fixed` or
`last_affected`, an unknown range type, a range of no events) is judged on the safe side: the
version counts as affected, the finding is marked, and the report lists every such advisory of
the scanned packages with the field and a short escaped excerpt. Real-shaped records in
tests/fixtures/scan/odd-ranges (the PyPA database has 29 like PYSEC-2026-101: `last_affected:
2.9.0-NA`); the OSV walk leaves such a range open without a word, and pip-audit 2.10 stops with
a traceback on an unparsable fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from click.testing import Result

from tests.attest.scan.helpers import SCAN_FIXTURES, sbom
from tests.conftest import REPO

ODD = SCAN_FIXTURES / "odd-ranges"
NOW = "2026-07-05T00:00:00Z"
SCHEMA = json.loads(
    (REPO / "verify" / "formats" / "schemas" / "scan-report.schema.json").read_text()
)
EVERY = "judged affected at every version: "
LEFT_OUT = "left out: the version may not be fixed"


@pytest.fixture
def scan(invoke: Callable[..., Result], tmp_path: Path) -> Callable[..., Result]:
    bom = sbom(tmp_path / "bom.json", {"toyflow": "2.9.5"})

    def run(*args: str) -> Result:
        return invoke(
            "scan", "--sbom", str(bom), "--db", str(ODD), "--cache-dir", str(tmp_path / "c"),
            "--now", NOW, *args, env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""},
        )  # fmt: skip

    return run


def test_findings_are_kept_marked_and_every_unreadable_advisory_is_listed(
    scan: Callable[..., Result],
) -> None:
    result = scan()
    assert result.exit_code == 1, result.stderr  # unknown severity counts as high: overdue
    report = json.loads(result.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    marked = {f["id"]: f["judged_on_safe_side"] for f in report["findings"]}
    # 105 (introduced unreadable, read as 0, fixed 1.0) does not affect 2.9.5, even so.
    assert marked == {
        "PYSEC-2026-101": True, "PYSEC-2026-102": True, "PYSEC-2026-103": True,
        "PYSEC-2026-104": True,
    }  # fmt: skip
    assert [f["fix_versions"] for f in report["findings"] if f["id"] == "PYSEC-2026-102"] == [
        ["2.4.0-n653"]
    ]  # a fix is named: the SLO clock runs, it is not paused as "no fix"
    listed = [
        (u["id"], u["field"], u["excerpt"], u["judged"]) for u in report["unreadable_advisories"]
    ]
    assert listed == [
        ("PYSEC-2026-101", "affected[0].ranges[0].events[1].last_affected", "'2.9.0-NA'", LEFT_OUT),
        ("PYSEC-2026-102", "affected[0].ranges[0].events[1].fixed", "'2.4.0-n653'", LEFT_OUT),
        (
            "PYSEC-2026-103", "affected[0].ranges[0].events[0].introduced", "'dev-branch'",
            "read as 0: affected from the first version",
        ),
        ("PYSEC-2026-104", "affected[0].ranges[0].type", "'CALVER'", EVERY + "an unknown range type"),
        ("PYSEC-2026-104", "affected[0].ranges[1].events", "'[]'", EVERY + "the range has no events"),
        (
            "PYSEC-2026-105", "affected[0].ranges[0].events[0].introduced", "'not-a-version'",
            "read as 0: affected from the first version",
        ),
    ]  # fmt: skip
    assert {u["package"] for u in report["unreadable_advisories"]} == {"toyflow"}
    assert "5 advisories of the scanned packages hold data that cannot be read" in result.stderr


def test_markdown_and_sarif_mark_them(scan: Callable[..., Result]) -> None:
    text = scan("--format", "markdown").stdout
    assert "| PYSEC-2026-101 (unreadable data: judged affected) |" in text
    assert "Advisory data that cannot be read, judged on the safe side (affected):" in text
    assert (
        "- PYSEC-2026-101 (toyflow): affected\\[0\\].ranges\\[0\\].events\\[1\\].last\\_affected "
        "'2.9.0-NA': left out: the version may not be fixed"
    ) in text
    sarif = json.loads(scan("--format", "sarif").stdout)
    results = {r["ruleId"]: r for r in sarif["runs"][0]["results"]}
    assert results["PYSEC-2026-103"]["properties"]["judged_on_safe_side"] is True
    assert results["PYSEC-2026-103"]["message"]["text"].endswith(
        "Its advisory data cannot all be read, so it was judged on the safe side: "
        "affected[0].ranges[0].events[0].introduced 'dev-branch': read as 0: affected from the "
        "first version"
    )


def test_unreadable_data_of_packages_not_scanned_is_not_listed(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    bom = sbom(tmp_path / "bom.json", {"toyother": "1.0"})
    result = invoke(
        "scan", "--sbom", str(bom), "--db", str(ODD), "--cache-dir", str(tmp_path / "c"),
        "--now", NOW, env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["unreadable_advisories"] == []
