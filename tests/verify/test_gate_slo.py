"""The gate's vulnerability SLO check: the DEPLOYER's SLO rules decide, at the judging instant,
over every signed SLO status attestation that covers the artifact. The producer's windows and
waivers are evidence; what is dated after the judging instant does not exist for the gate."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import signed_release as g
from tests.attest.scan.helpers import record, write_pypa
from tests.conftest import LocalInstance
from verify import slo
from verify.certificate import Signer
from verify.checks.vulnerabilities import VulnerabilitiesCheck
from verify.errors import ExitCode
from verify.evidence import Attestation, Evidence
from verify.formats.predicates import KINDS
from verify.formats.statement import Statement
from verify.interface import Context
from verify.policy import PolicyError, parse_policy

Invoke = Callable[..., Result]
CHECK = "vulnerability SLOs"
SLO_FILE = "acme_web-1.4.0.slo.sigstore.json"


def _sign_slo(local: LocalInstance, release: g.Release, name: str, predicate: Any) -> None:
    signer = g.session(local, g.github_token(local))
    subjects = [release.wheel, release.sdist]
    g.write_statement(signer, release.dist / name, subjects, KINDS["slo"], predicate)


def _verify(
    invoke: Invoke, tmp_path: Path, policy: dict[str, Any], release: g.Release, *args: str
) -> Result:
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", str(release.wheel), *args)


def _failures(result: Result) -> list[str]:
    [decision] = json.loads(result.stdout)["decisions"]
    [check] = [c for c in decision["checks"] if c["check"] == CHECK]
    return cast("list[str]", check["failures"])


def _denied_for(result: Result, *reasons: str) -> None:
    assert result.exit_code == ExitCode.DENIED, result.stderr
    failures = _failures(result)
    for reason in reasons:
        assert any(reason in f for f in failures), (reason, failures)


def _critical(release: g.Release, age_days: int, waiver: dict[str, Any] | None = None) -> Any:
    """One scan, yesterday, with one critical finding published `age_days` ago."""
    finding = g.finding("PYSEC-9", "critical", release.now - age_days * g.DAY, waiver)
    return g.slo_predicate(release.now - g.DAY, [finding])


def _date(moment: datetime.datetime) -> str:
    return moment.date().isoformat()


def test_the_deployers_window_decides_not_the_producers(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The producer signed a 10-year window for criticals: under the deployer's default 7 days,
    a critical published 40 days ago is 33 days late."""
    predicate = _critical(release, 40)
    predicate["policy"]["windows"]["critical"] = 3650
    predicate["policy"]["unknown_severity"] = "low"
    _sign_slo(instance, release, SLO_FILE, predicate)
    policy = g.strict_policy(instance)
    result = _verify(invoke, tmp_path, policy, release)
    _denied_for(result, "PYSEC-9 in requests 2.31.0 (critical) was due", "33 days ago")
    policy["require"]["vulnerabilities"]["windows"] = {"critical": "60d"}  # the deployer's say
    assert _verify(invoke, tmp_path, policy, release).exit_code == 0


def test_a_future_dated_slo_attestation_cannot_hide_a_real_one(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    _sign_slo(instance, release, SLO_FILE, _critical(release, 40))
    later = "acme_web-1.4.0.later.slo.sigstore.json"
    _sign_slo(instance, release, later, g.slo_predicate(release.now + 30 * g.DAY, []))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release)
    _denied_for(
        result,
        "PYSEC-9 in requests 2.31.0 (critical) was due",
        f"{later}: scanned {(release.now + 30 * g.DAY).isoformat()}, dated after the judging "
        "instant",
    )


def test_an_slo_attestation_scanned_after_the_judging_instant_is_refused(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    scanned = release.now + 2 * g.DAY
    _sign_slo(instance, release, SLO_FILE, g.slo_predicate(scanned, []))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release)
    _denied_for(
        result,
        f"{SLO_FILE}: scanned {scanned.isoformat()}, dated after the judging instant",
        "it does not exist for the gate",
    )


def test_a_finding_first_seen_after_the_judging_instant_is_refused(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    finding = g.finding("PYSEC-9", "critical", release.now + 300 * g.DAY)
    _sign_slo(instance, release, SLO_FILE, g.slo_predicate(release.now - g.DAY, [finding]))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release)
    _denied_for(
        result,
        f"{SLO_FILE}: PYSEC-9 in requests 2.31.0: clock start "
        f"{(release.now + 300 * g.DAY).isoformat()} is dated after the judging instant",
    )


def test_a_waiver_longer_than_the_deployers_max_span_is_not_honoured(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Without `granted`, the span runs from the first scan that carried the waiver."""
    expires = _date(release.now + 3650 * g.DAY)
    waiver = {"id": "PYSEC-9", "reason": "later", "expires": expires}
    _sign_slo(instance, release, SLO_FILE, _critical(release, 40, waiver))
    policy = g.strict_policy(instance)
    result = _verify(invoke, tmp_path, policy, release)
    scanned = _date(release.now - g.DAY)
    _denied_for(
        result,
        "PYSEC-9 in requests 2.31.0 (critical) was due",
        f"its waiver (from {SLO_FILE}) is not honoured: it expires {expires}, 3651 days after "
        f"the first scan that recorded it ({scanned}); the policy allows at most 90 days "
        "(max_waiver_span)",
    )
    policy["require"]["vulnerabilities"]["max_waiver_span"] = 4000
    assert _verify(invoke, tmp_path, policy, release).exit_code == 0


def test_a_waiver_span_runs_from_its_granted_date(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    granted = _date(release.now - 200 * g.DAY)
    expires = _date(release.now + 5 * g.DAY)
    waiver = {"id": "PYSEC-9", "reason": "r", "expires": expires, "granted": granted}
    _sign_slo(instance, release, SLO_FILE, _critical(release, 40, waiver))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release)
    _denied_for(result, f"it expires {expires}, 205 days after it was granted; the policy allows")


def test_a_waiver_granted_after_the_judging_instant_is_refused(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    granted = release.now + 2 * g.DAY
    waiver = {
        "id": "PYSEC-9",
        "reason": "r",
        "expires": _date(release.now + 10 * g.DAY),
        "granted": _date(granted),
    }
    _sign_slo(instance, release, SLO_FILE, _critical(release, 40, waiver))
    now = g.stamp(release.now + g.DAY)
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release, "--now", now)
    _denied_for(
        result,
        f"it was granted {_date(granted)}, after the judging instant "
        f"{_date(release.now + g.DAY)}: it does not exist yet",
    )


def test_only_the_deployers_waiver_approvers_may_waive(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The release's waiver of its overdue critical names no approver; one by someone the
    deployer does not list does not apply either."""
    policy = g.strict_policy(instance)
    policy["require"]["vulnerabilities"]["waiver_approvers"] = ["security@acme.example"]
    result = _verify(invoke, tmp_path, policy, release)
    _denied_for(
        result,
        "PYSEC-2 in requests 2.31.0 (critical) was due",
        "it names no approver; the policy's waiver_approvers are security@acme.example",
    )
    waiver = {
        "id": "PYSEC-9",
        "reason": "r",
        "expires": _date(release.now + 5 * g.DAY),
        "approver": "mallory@evil.example",
    }
    _sign_slo(instance, release, SLO_FILE, _critical(release, 40, waiver))
    _denied_for(
        _verify(invoke, tmp_path, policy, release),
        "it is approved by 'mallory@evil.example'; the policy's waiver_approvers are",
    )
    waiver["approver"] = "security@acme.example"
    _sign_slo(instance, release, SLO_FILE, _critical(release, 40, waiver))
    assert _verify(invoke, tmp_path, policy, release).exit_code == 0


def test_explain_policy_shows_the_deployers_rules(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["require"]["vulnerabilities"].update(
        {"windows": {"critical": 3}, "max_waiver_span": "30d", "waiver_approvers": []}
    )
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    result = invoke("verify", "--explain-policy", "--policy", str(path))
    assert result.exit_code == 0, result.stderr
    assert (
        "vulnerability SLOs: a signed SLO status, no finding overdue now under this policy's "
        "windows (critical 3d, high 30d, medium 90d, low 180d), waivers of at most 30d approved "
        "by nobody, scanned within 7d" in result.stdout
    )


# --- --db: advisories newer than the scan -----------------------------------------------------

CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def _db(
    tmp_path: Path, release: g.Release, published_days_ago: int, modified_days_ago: int
) -> Path:
    """The deployer's database: a critical advisory for requests 2.31.0."""
    advisory = record(
        "PYSEC-2099-1",
        "requests",
        versions=["2.31.0"],
        aliases=["CVE-2099-0001"],
        published=g.stamp(release.now - published_days_ago * g.DAY),
        modified=g.stamp(release.now - modified_days_ago * g.DAY),
        severity=CRITICAL,
        events=[{"introduced": "0"}, {"fixed": "2.32.4"}],
    )
    return write_pypa(tmp_path / "advisories", [advisory])


def test_db_judges_advisories_published_since_the_scan(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Scanned clean: allowed on the signed scan alone; with the deployer's database, the
    critical published 10 days ago is 3 days overdue under the 7-day window."""
    _sign_slo(instance, release, SLO_FILE, g.slo_predicate(release.now - 20 * g.DAY, []))
    policy = g.strict_policy(instance)
    del policy["require"]["vulnerabilities"]["max_scan_age"]
    assert _verify(invoke, tmp_path, policy, release).exit_code == 0
    db = _db(tmp_path, release, 10, 1)
    result = _verify(invoke, tmp_path, policy, release, "--db", str(db))
    _denied_for(
        result,
        "PYSEC-2099-1 in requests 2.31.0 (critical) was due "
        f"{_date(release.now - 3 * g.DAY)}, 3 days ago (advisory database, --db); fixed in "
        "2.32.4",
    )
    assert "judged against" in result.stderr and str(db) in result.stderr


def test_db_severity_and_waivers(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The producer's scan calls it low (180 days): the database's CVSS says critical. A
    waiver the deployer honours still covers it, by id or alias."""
    low = g.finding("CVE-2099-0001", "low", release.now - 10 * g.DAY)
    _sign_slo(instance, release, SLO_FILE, g.slo_predicate(release.now - g.DAY, [low]))
    db = _db(tmp_path, release, 10, 1)
    policy = g.strict_policy(instance)
    assert _verify(invoke, tmp_path, policy, release).exit_code == 0
    _denied_for(
        _verify(invoke, tmp_path, policy, release, "--db", str(db)),
        "PYSEC-2099-1 in requests 2.31.0 (critical) was due",
    )
    waiver = {"id": "CVE-2099-0001", "reason": "r", "expires": _date(release.now + 5 * g.DAY)}
    waived = dict(low, waiver=waiver, status="waived")
    _sign_slo(instance, release, SLO_FILE, g.slo_predicate(release.now - g.DAY, [waived]))
    assert _verify(invoke, tmp_path, policy, release, "--db", str(db)).exit_code == 0


def test_db_without_a_signed_sbom_denies(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    (release.dist / "acme_web-1.4.0.sbom.sigstore.json").unlink()
    policy = g.strict_policy(instance)
    del policy["require"]["sbom"]
    db = _db(tmp_path, release, 100, 1)
    _denied_for(
        _verify(invoke, tmp_path, policy, release, "--db", str(db)),
        "--db: no CycloneDX SBOM attestation from an allowed signer covers it",
    )


def test_a_stale_db_denies(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    db = _db(tmp_path, release, 100, 30)
    policy = g.strict_policy(instance)
    _denied_for(
        _verify(invoke, tmp_path, policy, release, "--db", str(db)),
        f"the advisory database {db} is 30 days old; the policy's max_db_age is 7 days",
    )
    policy["require"]["vulnerabilities"]["max_db_age"] = 45
    assert "max_db_age" not in " ".join(_failures(_verify(invoke, tmp_path, policy, release,
                                                            "--db", str(db))))  # fmt: skip


def test_db_usage_errors(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    missing = _verify(invoke, tmp_path, policy, release, "--db", str(tmp_path / "nowhere"))
    assert missing.exit_code == ExitCode.USAGE
    assert f"{tmp_path / 'nowhere'}: no such file or directory" in missing.stderr
    del policy["require"]["vulnerabilities"]
    db = _db(tmp_path, release, 10, 1)
    without = _verify(invoke, tmp_path, policy, release, "--db", str(db))
    assert without.exit_code == ExitCode.USAGE
    assert "--db judges advisories under require.vulnerabilities" in without.stderr


# --- the policy's rules -----------------------------------------------------------------------


def _rules(vulnerabilities: dict[str, Any]) -> slo.Policy:
    local = {"issuer": "https://issuer.example", "subject": "me"}
    doc = {
        "version": 1,
        "trust": "production",
        "identities": [local],
        "require": {"vulnerabilities": vulnerabilities},
    }
    policy = parse_policy(yaml.safe_dump(doc).encode(), "policy.yaml", Path())
    assert policy.require.vulnerabilities is not None
    return policy.require.vulnerabilities.rules


def test_without_rules_the_documented_defaults_apply_never_the_producers() -> None:
    rules = _rules({"slo": True})
    assert dict(rules.windows) == dict(slo.policy.DEFAULT_WINDOWS)
    assert (rules.unknown_severity, rules.clock, rules.no_fix_pauses_clock) == (
        "high",
        "published",
        False,
    )
    assert (rules.max_waiver_span, rules.waiver_approvers) == (90, None)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"windows": {"critical": -1}}, "require/vulnerabilities/windows/critical"),
        ({"windows": {"urgent": 1}}, "windows: unknown key 'urgent'"),
        ({"windows": {"critical": 10**9}}, "windows/critical: 1000000000 days is over 1000 years"),
        ({"clock": "whenever"}, "require/vulnerabilities/clock: must be 'published' or"),
        ({"waiver_approvers": [""]}, "require/vulnerabilities/waiver_approvers/0"),
        ({"waivers": []}, "require/vulnerabilities: unknown key 'waivers'"),
    ],
)
def test_bad_rules_are_policy_errors(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as error:
        _rules(rules)
    assert str(error.value).startswith("policy.yaml: ")
    assert message in str(error.value)


# --- the property: the gate's verdict is verify.slo.evaluate under the deployer's rules --------

NOW = datetime.datetime(2026, 11, 10, tzinfo=datetime.timezone.utc)
SIGNER = Signer("https://ci.example/release", "https://issuer.example", {})
SEVERITIES = st.sampled_from(["critical", "high", "medium", "low", "unknown"])
LEVEL = st.sampled_from(slo.LEVELS)
DAYS = st.integers(min_value=0, max_value=400)


def _windows(days: st.SearchStrategy[int]) -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries({level: days for level in slo.LEVELS})


FINDINGS = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["PYSEC-1", "PYSEC-2", "GHSA-3"]),
            "severity": SEVERITIES,
            "clock_age": DAYS,
            "published_age": st.none() | DAYS,
            "fixed": st.booleans(),
            "waiver_expires_in": st.none() | st.integers(min_value=-10, max_value=200),
        }
    ),
    max_size=5,
)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _item(spec: dict[str, Any]) -> dict[str, Any]:
    published = spec["published_age"]
    waiver = spec["waiver_expires_in"]
    return {
        "package": "requests",
        "version": "2.31.0",
        "id": spec["id"],
        "aliases": [],
        "severity": spec["severity"],
        "countsAs": "high" if spec["severity"] == "unknown" else spec["severity"],
        "clockStart": _stamp(NOW - spec["clock_age"] * g.DAY),
        "published": None if published is None else _stamp(NOW - published * g.DAY),
        "fixVersions": ["2.32.0"] if spec["fixed"] else [],
        "due": None,
        "status": "ok",
        "waiver": None
        if waiver is None
        else {"id": spec["id"], "reason": "r", "expires": _date(NOW + waiver * g.DAY)},
    }


def _expected(
    specs: list[dict[str, Any]], rules: slo.Policy, scanned: datetime.datetime
) -> slo.Evaluation:
    """verify.slo.evaluate itself, on the findings as signed, under the deployer's rules, with
    the producer's waivers the deployer's span allows (counted from the scan)."""
    findings = [
        slo.SloFinding(
            package="requests",
            version="2.31.0",
            id=s["id"],
            aliases=(),
            severity=s["severity"],
            published=None if s["published_age"] is None else NOW - s["published_age"] * g.DAY,
            first_seen=NOW - s["clock_age"] * g.DAY,
            fix_versions=("2.32.0",) if s["fixed"] else (),
        )
        for s in specs
    ]
    signed = {
        slo.Waiver(s["id"], "r", (NOW + s["waiver_expires_in"] * g.DAY).date())
        for s in specs
        if s["waiver_expires_in"] is not None
    }
    waivers = {w for w in signed if (w.expires - scanned.date()).days <= rules.max_waiver_span}
    policy = dataclasses.replace(rules, waivers=tuple(sorted(waivers, key=str)))
    return slo.evaluate(findings, policy, NOW)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=FINDINGS,
    producer=_windows(st.integers(min_value=0, max_value=5000)),
    producer_unknown=LEVEL,
    deployer=_windows(DAYS),
    unknown=LEVEL,
    clock=st.sampled_from(["published", "first-seen"]),
    pauses=st.booleans(),
    span=st.integers(min_value=0, max_value=200),
    scan_age=st.integers(min_value=0, max_value=30),
)
def test_the_verdict_is_the_slo_evaluation_under_the_deployers_rules(
    specs: list[dict[str, Any]],
    producer: dict[str, int],
    producer_unknown: str,
    deployer: dict[str, int],
    unknown: str,
    clock: str,
    pauses: bool,
    span: int,
    scan_age: int,
) -> None:
    scanned = NOW - scan_age * g.DAY
    predicate = g.slo_predicate(scanned, [_item(s) for s in specs])
    predicate["policy"].update({"windows": producer, "unknown_severity": producer_unknown})
    statement = Statement.from_dict(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": g.WHEEL, "digest": {"sha256": "ab" * 32}}],
            "predicateType": KINDS["slo"],
            "predicate": predicate,
        }
    )
    vulnerabilities = {
        "windows": deployer,
        "unknown_severity": unknown,
        "clock": clock,
        "no_fix_pauses_clock": pauses,
        "max_waiver_span": span,
    }
    doc = {
        "version": 1,
        "trust": "production",
        "identities": [{"issuer": SIGNER.issuer, "subject": SIGNER.identity}],
        "require": {"vulnerabilities": vulnerabilities},
    }
    policy = parse_policy(yaml.safe_dump(doc).encode(), "policy.yaml", Path())
    assert policy.require.vulnerabilities is not None
    rules = policy.require.vulnerabilities.rules
    attestation = Attestation(Path(SLO_FILE), SIGNER, scanned, statement)
    evidence = Evidence(Path(g.WHEEL), "ab" * 32, (), (attestation,), ())
    outcome = VulnerabilitiesCheck().run(evidence, Context(policy, cast("Any", None), NOW))
    expected = _expected(specs, rules, scanned)
    assert outcome.passed == expected.passed, outcome.failures
    overdue = {r.finding.id for r in expected.results if r.status == "overdue"}
    assert {f.split(" ", 1)[0] for f in outcome.failures} == overdue


def test_db_judges_unreadable_advisory_data_on_the_safe_side(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A fix the deployer's database names as `2.32.4-NA` cannot be compared: requests 2.33.0
    is not known to be fixed, so it is judged affected (as the scan does), and the refusal says
    why. The OSV walk would leave the range open quietly, or pip-audit crash."""
    _sign_slo(instance, release, SLO_FILE, g.slo_predicate(release.now - 20 * g.DAY, []))
    advisory = record(
        "PYSEC-2099-2",
        "requests",
        published=g.stamp(release.now - 10 * g.DAY),
        modified=g.stamp(release.now - g.DAY),
        severity=CRITICAL,
        events=[{"introduced": "2.0"}, {"last_affected": "2.30.0-NA"}],
    )
    db = write_pypa(tmp_path / "advisories", [advisory])
    policy = g.strict_policy(instance)
    del policy["require"]["vulnerabilities"]["max_scan_age"]
    _denied_for(
        _verify(invoke, tmp_path, policy, release, "--db", str(db)),
        "PYSEC-2099-2 in requests 2.31.0 (critical) was due",
        "(advisory database, --db); judged affected on the safe side: "
        "affected[0].ranges[0].events[1].last_affected '2.30.0-NA' left out: the version may "
        "not be fixed",
    )
