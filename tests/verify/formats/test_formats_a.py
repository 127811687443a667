"""The exchange formats of verify/formats (CycloneDX reading, the scan report, the vulnerability
and SLO status predicates) on the demo's real outputs: each validates under its schema, and what
a stage writes the reader reads back to the same model. Also: one CycloneDX walker, linear and
nested-aware, for every reader; one `--now` parser."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from attest.instance.command import _parse_clock
from attest.provenance import predicates as provenance
from attest.scan import stage as scan_stage
from tests.conftest import REPO
from verify import instant, slo
from verify.checks.vulnerabilities import read_scan, reevaluate
from verify.errors import AttestError, ExitCode
from verify.formats import cyclonedx, scan_report, schema
from verify.formats.predicates import KINDS, check_predicate
from verify.formats.scan_report import ScanReport
from verify.formats.slo_status import SloStatus
from verify.formats.vulns import Vulns

Invoke = Callable[..., Result]
NOW = "2026-07-15T00:00:00Z"  # the demo's instant: the example advisories' newest is 07-13
WAIVERS = """waivers:
  - id: PYSEC-2026-2151
    package: flask
    reason: "Upgrade in progress."
    expires: 2026-08-14
    approver: security@acme.example
"""


@dataclasses.dataclass(frozen=True)
class Demo:
    sbom: Path
    report: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo's SBOM and JSON scan report, written by the real stages (one waiver, so every
    part of the formats is filled in)."""
    from click.testing import CliRunner

    from attest.cli import cli

    out = tmp_path_factory.mktemp("demo")
    runner = CliRunner()
    lock = str(REPO / "examples" / "demo-project" / "uv.lock")
    sbom, report, waivers = out / "sbom.cdx.json", out / "scan.json", out / "waivers.yaml"
    waivers.write_text(WAIVERS)
    made = runner.invoke(cli, ["sbom", "--lock", lock, "--reproducible", "-o", str(sbom)])
    assert made.exit_code == 0, made.stderr
    scanned = runner.invoke(
        cli,
        ["scan", "--sbom", str(sbom), "--db", str(REPO / "examples" / "advisories"),
         "--cache-dir", str(out / "cache"), "--now", NOW, "--waivers", str(waivers),
         "--format", "json", "-o", str(report)],
    )  # fmt: skip
    assert scanned.exit_code == 1, scanned.stderr  # requests is still overdue
    return Demo(sbom, report)


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


# --- CycloneDX ------------------------------------------------------------------------------------


def test_the_demo_sbom_is_valid_and_every_reader_sees_the_same_components(demo: Demo) -> None:
    document = _json(demo.sbom)
    assert schema.problem("cyclonedx-bom.schema.json", document) is None
    check_predicate(KINDS["sbom"], provenance.sbom_predicate(demo.sbom))  # the gate's reading
    read = cyclonedx.components(document)
    assert [(c.name, c.version, c.purl) for c in read] == [
        (c.get("name"), c.get("version"), c.get("purl")) for c in document["components"]
    ]
    scanned, _ = scan_stage.read_sbom(demo.sbom)
    assert {(c.name, c.version, c.purl) for c in scanned} == {
        (c.name.lower(), c.version, c.purl) for c in read
    }
    assert [d["uri"] for d in provenance.sbom_dependencies(demo.sbom)] == [c.purl for c in read]


def _nested(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every component after the first nested inside the one before it."""
    chain = [dict(c) for c in document["components"]]
    for outer, inner in itertools.pairwise(chain):
        outer["components"] = [inner]
    return {**document, "components": chain[:1]}


def test_provenance_lists_nested_components_too(demo: Demo, tmp_path: Path) -> None:
    """It used to read the top-level components only: a nested one was no resolved dependency
    (the scan and the gate read them all)."""
    document = _json(demo.sbom)
    nested = tmp_path / "nested.cdx.json"
    nested.write_text(json.dumps(_nested(document)))
    purls = [c["purl"] for c in document["components"]]
    assert len(purls) > 5
    found = provenance.sbom_dependencies(nested)
    assert [d["uri"] for d in found] == purls
    assert all("digest" in d or "annotations" in d for d in found)  # hashes read when nested
    scanned, _ = scan_stage.read_sbom(nested)
    assert len(scanned) == len(purls)


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ({}, "components: expected a list of objects, got dict"),
        ([3], "components: expected a list of objects, got int"),
        ([{"name": "a", "components": [None]}], "components: expected a list of objects, got NoneType"),
        ([{"name": "a", "version": 1.0}], "component 'a': version is not text"),
        ([{"name": "a", "purl": ["x"]}], "component 'a': purl is not text"),
    ],
)  # fmt: skip
def test_every_reader_refuses_a_malformed_sbom_alike(
    tmp_path: Path, components: object, message: str
) -> None:
    path = tmp_path / "bad.cdx.json"
    path.write_text(json.dumps({"bomFormat": "CycloneDX", "components": components}))
    with pytest.raises(cyclonedx.MalformedBom, match=f"^{message}$"):
        cyclonedx.components(_json(path))
    for read in (scan_stage.read_sbom, provenance.sbom_dependencies):
        with pytest.raises(AttestError) as raised:
            read(path)
        assert str(raised.value) == f"{path}: {message}"
        assert raised.value.exit_code == ExitCode.USAGE


class _Counted(dict[str, Any]):
    """A JSON object that counts how often it is read."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        _Counted.reads += 1
        return super().get(key, default)


@pytest.mark.parametrize("shape", ["chain", "flat"])
def test_the_walker_reads_each_object_once(shape: str) -> None:
    """10,000 components, nested 10,000 deep or side by side: each object is read a fixed
    number of times (its children and its three text fields), never once per ancestor or
    sibling, as a walker that rescans would."""
    count = 10_000
    items = [_Counted(name=f"p{i}", version="1") for i in range(count)]
    if shape == "chain":
        for outer, inner in itertools.pairwise(items):
            outer["components"] = [inner]
        document = _Counted(components=items[:1])
    else:
        document = _Counted(components=items)
    _Counted.reads = 0
    found = cyclonedx.components(document)
    assert [c.name for c in found] == [f"p{i}" for i in range(count)]  # document order
    assert _Counted.reads == 4 * count + 1


# --- the scan report ------------------------------------------------------------------------------


def test_the_scan_report_is_valid_and_reads_back_to_the_same_model(demo: Demo) -> None:
    data = _json(demo.report)
    assert schema.problem(scan_report.SCHEMA, data) is None
    report = provenance.read_scan_report(demo.report)  # the reader `attest attest` uses
    assert report.to_json() == data
    assert ScanReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    assert {f.status for f in report.findings} >= {"overdue", "waived"}
    assert any(f.waiver is not None for f in report.findings)


@pytest.mark.parametrize(
    "record",
    [
        scan_report.Severity("high", "high", 7.5, "CVSS:3.1/AV:N", "CVSSv31"),
        scan_report.Severity("unknown", "medium", None, None, None),
        scan_report.Skipped("a", None, "no version given"),
        scan_report.Unreadable("PYSEC-1", "a", "last_affected", "4.1.0-NA", "affected"),
    ],
)
def test_the_report_parts_written_by_hand_hold_every_field_in_order(record: Any) -> None:
    """Their `to_json` replaced `dataclasses.asdict` (which costs the scan's report a tenth of
    its time): a field added later and not written out would vanish from every report."""
    assert list(record.to_json().items()) == list(dataclasses.asdict(record).items())


def test_a_scan_report_that_breaks_its_schema_is_refused_naming_the_rule(
    demo: Demo, tmp_path: Path
) -> None:
    """It used to be read with no schema: a missing field crashed `attest attest` (exit 3)."""
    data = _json(demo.report)
    del data["findings"][0]["clock_start"]
    path = tmp_path / "scan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AttestError) as raised:
        provenance.read_scan_report(path)
    assert str(raised.value) == (
        f"{path}: not a valid attest scan report at findings/0: 'clock_start' is a required property"
    )
    assert raised.value.exit_code == ExitCode.USAGE


# --- the vulnerability and SLO status predicates --------------------------------------------------


def test_the_vulns_predicate_is_valid_and_reads_back(demo: Demo) -> None:
    report = provenance.read_scan_report(demo.report)
    written = Vulns.of(report).to_json()
    assert schema.problem("vulns-v0.2.schema.json", written) is None
    check_predicate(KINDS["vulns"], written)
    assert Vulns.from_json(json.loads(json.dumps(written))) == Vulns.of(report)
    assert [r["id"] for r in written["scanner"]["result"]] == [f.id for f in report.findings]


def test_the_vulns_db_uri_names_the_database_never_a_local_path(demo: Demo) -> None:
    """The scan read examples/advisories by its absolute path; the signed predicate names the
    database (its directory's name, its digest the version), never where it lay."""
    report = provenance.read_scan_report(demo.report)
    assert report.database is not None and report.database.location == str(
        REPO / "examples" / "advisories"
    )  # the local report keeps the path
    db = Vulns.of(report).to_json()["scanner"]["db"]
    assert db["uri"] == "advisories"
    assert db["version"] == f"sha256:{report.database.sha256}"
    text = json.dumps(Vulns.of(report).to_json())
    assert str(REPO) not in text and "/examples/" not in text
    for local in ("/home/me/db/", "C:\\Users\\me\\osv-all.zip", "/"):
        moved = dataclasses.replace(report.database, location=local)
        uri = Vulns.of(dataclasses.replace(report, database=moved)).to_json()["scanner"]["db"][
            "uri"
        ]
        assert uri in ("db", "osv-all.zip", "offline") and "/" not in uri and "\\" not in uri


def test_the_slo_predicate_is_valid_and_the_gate_reads_the_scan_s_judgement(demo: Demo) -> None:
    """The SLO mapping is done once: the gate, re-judging the signed findings at the scan's own
    instant under the scan's policy, reaches the scan's statuses, waivers included."""
    report = provenance.read_scan_report(demo.report)
    written = SloStatus.of(report).to_json()
    assert schema.problem("slo-status-v1.schema.json", written) is None
    check_predicate(KINDS["slo"], written)
    assert SloStatus.from_json(json.loads(json.dumps(written))) == SloStatus.of(report)
    scan = read_scan("demo.slo.sigstore.json", written)
    assert scan.scanned == report.generated_at
    assert [w.origin for w in scan.waivers] == ["demo.slo.sigstore.json"]
    rules = slo.Policy(max_waiver_span=365)  # the demo's waiver carries no `granted` date
    evaluation, refused = reevaluate([scan], rules, report.generated_at)
    assert not refused
    assert [(r.finding.id, r.status) for r in evaluation.results] == [
        (f.id, f.status) for f in report.findings
    ]


# --- one `--now` parser ---------------------------------------------------------------------------


def test_clock_is_read_by_the_one_instant_parser() -> None:
    """`attest instance up --clock` had a parser of its own: no range, its own message."""
    for text, message in (
        ("soon", "--clock 'soon' is not a time (ISO 8601, e.g. 2026-11-23T12:00:00Z)"),
        ("1960-01-01T00:00:00Z", "--clock '1960-01-01T00:00:00Z' is outside the years 1970 to"),
    ):
        with pytest.raises(instant.BadInstant, match=f"^{re.escape(message)}") as raised:
            _parse_clock(text)
        assert raised.value.exit_code == ExitCode.USAGE
    assert _parse_clock("2026-07-15T00:00:00") == instant.parse("2026-07-15T00:00:00Z")


POLICY = str(REPO / "examples" / "policies" / "audit.yaml")


@pytest.mark.parametrize(
    "command", [["scan"], ["release", "--policy", POLICY], ["verify", "--policy", POLICY, "a.whl"]]
)
def test_every_command_refuses_a_bad_now_alike(invoke: Invoke, command: list[str]) -> None:
    result = invoke(*command, "--now", "soon")
    assert (result.exit_code, result.stderr) == (
        ExitCode.USAGE,
        "attest: error: --now 'soon' is not a time (ISO 8601, e.g. 2026-11-23T12:00:00Z)\n",
    )
