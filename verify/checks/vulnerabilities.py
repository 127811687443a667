"""Check: the signed SLO attestation, re-evaluated NOW (deploy time) with the same pure rules
the scan used: a finding that was within its window at scan time may be overdue today, and a
waiver that has expired since no longer applies."""

from __future__ import annotations

import datetime
from typing import Any

from verify import slo
from verify.attestations.predicates import SLO_STATUS_V1
from verify.checks import trusted
from verify.evidence import Attestation, Evidence
from verify.interface import Check, Context, Outcome
from verify.policy import human

# The scan already judged the waivers' spans; the gate only re-checks their expiry.
_NO_SPAN_LIMIT = 10**6


def _time(text: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _finding(item: dict[str, Any]) -> slo.SloFinding:
    return slo.SloFinding(
        package=item["package"],
        version=item["version"] or "",
        id=item["id"],
        aliases=tuple(item["aliases"]),
        severity=item["severity"],
        published=_time(item["published"]),
        first_seen=_time(item["clockStart"]),
        fix_versions=tuple(item["fixVersions"]),
    )


def _waivers(findings: list[dict[str, Any]]) -> tuple[slo.Waiver, ...]:
    found: dict[tuple[str, str | None], slo.Waiver] = {}
    for item in findings:
        waiver = item.get("waiver")
        if waiver:
            found[(waiver["id"], waiver.get("package"))] = slo.Waiver(
                id=waiver["id"],
                reason=waiver["reason"],
                expires=datetime.date.fromisoformat(waiver["expires"]),
                package=waiver.get("package"),
                approver=waiver.get("approver"),
                origin="the SLO attestation",
            )
    return tuple(found.values())


def _policy(predicate: dict[str, Any]) -> slo.Policy:
    policy = predicate["policy"]
    return slo.Policy(
        windows=dict(policy["windows"]),
        unknown_severity=policy["unknown_severity"],
        clock=policy["clock"],
        due_soon=policy["due_soon"],
        no_fix_pauses_clock=policy["no_fix_pauses_clock"],
        max_waiver_span=_NO_SPAN_LIMIT,
        waivers=_waivers(predicate["findings"]),
        origin="the SLO attestation",
    )


def reevaluate(predicate: dict[str, Any], now: datetime.datetime) -> slo.Evaluation:
    findings = [_finding(f) for f in predicate["findings"]]
    return slo.evaluate(findings, _policy(predicate), now)


def _overdue(evaluation: slo.Evaluation, now: datetime.datetime) -> list[str]:
    expired = {w.id.upper(): w for w in evaluation.expired_waivers}
    failures = []
    for result in evaluation.results:
        if result.status != "overdue" or result.due is None:
            continue
        f = result.finding
        days = (now - result.due).days
        failures.append(
            f"{f.id} in {f.package} {f.version} ({result.counts_as}) was due "
            f"{result.due.date().isoformat()}, {days} days ago"
            + (f"; fixed in {', '.join(f.fix_versions)}" if f.fix_versions else "")
            + _lapsed(expired, f)
        )
    return failures


def _lapsed(expired: dict[str, slo.Waiver], finding: slo.SloFinding) -> str:
    for key in (finding.id, *finding.aliases):
        waiver = expired.get(key.upper())
        if waiver is not None:
            return f"; its waiver expired {waiver.expires.isoformat()}"
    return ""


class VulnerabilitiesCheck(Check):
    name = "vulnerability SLOs"
    order = 60

    def applies(self, context: Context) -> bool:
        return context.policy.require.vulnerabilities is not None

    def _judge(self, newest: Attestation, context: Context) -> tuple[list[str], str]:
        rule = context.policy.require.vulnerabilities
        assert rule is not None
        predicate = newest.statement.predicate
        scanned = _time(predicate["scannedAt"])
        assert scanned is not None
        failures = []
        if rule.max_scan_age is not None and context.now - scanned > rule.max_scan_age:
            failures.append(
                f"the scan is from {predicate['scannedAt']}, older than {human(rule.max_scan_age)}"
            )
        actual = f"{newest.path.name}, scanned {predicate['scannedAt']}"
        if rule.slo:
            evaluation = reevaluate(predicate, context.now)
            failures += _overdue(evaluation, context.now)
            actual += f", {evaluation.count('overdue')} overdue at {context.now.isoformat()}"
        return failures, actual

    def expect(self, context: Context) -> str:
        rule = context.policy.require.vulnerabilities
        assert rule is not None
        expected = "a signed SLO status" + (", no finding overdue now" if rule.slo else "")
        if rule.max_scan_age is not None:
            expected += f", scanned within {human(rule.max_scan_age)}"
        return expected

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        expected = self.expect(context)
        found = trusted(evidence, context, SLO_STATUS_V1)
        if not found:
            missing = ("no SLO status attestation from an allowed signer",)
            return Outcome(self.name, expected, "none", missing)
        newest = max(found, key=lambda a: str(a.statement.predicate["scannedAt"]))
        try:
            failures, actual = self._judge(newest, context)
        except (ValueError, OverflowError) as e:  # 2026-13-45T..., a 10**30-day window
            failures = [f"{newest.path.name}: cannot be evaluated: {type(e).__name__}: {e}"]
            actual = newest.path.name
        return Outcome(self.name, expected, actual, tuple(failures))
