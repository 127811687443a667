"""Check: every signed SLO status attestation that covers the artifact, re-evaluated at the
judging instant under the DEPLOYER's SLO rules (`require.vulnerabilities`). The producer's
windows and waivers are evidence, never the rule: a finding is judged by the deployer's window
for its severity, and a waiver applies only when the deployer's waiver rules allow it (span,
approver) and it has not expired. Evidence dated after the judging instant does not exist for
the gate: such an attestation, or finding, is refused; such a waiver is not honoured."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

from verify import slo
from verify.attestations.predicates import SLO_STATUS_V1
from verify.checks import trusted
from verify.evidence import Attestation, Evidence
from verify.interface import Check, Context, Outcome
from verify.policy import Vulnerabilities, human

_LATER = "dated after the judging instant"


def _time(text: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclasses.dataclass(frozen=True)
class Scan:
    """One SLO status attestation, read: what the producer's scan found, and its waivers."""

    name: str  # the bundle's file name, for messages
    scanned: datetime.datetime
    findings: tuple[slo.SloFinding, ...]
    waivers: tuple[slo.Waiver, ...]


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


def _waivers(findings: list[dict[str, Any]], origin: str) -> tuple[slo.Waiver, ...]:
    found: dict[tuple[str, str | None, str], slo.Waiver] = {}
    for item in findings:
        waiver = item.get("waiver")
        if waiver:
            found[(waiver["id"], waiver.get("package"), waiver["expires"])] = slo.Waiver(
                id=waiver["id"],
                reason=waiver["reason"],
                expires=datetime.date.fromisoformat(waiver["expires"]),
                package=waiver.get("package"),
                approver=waiver.get("approver"),
                granted=(
                    datetime.date.fromisoformat(waiver["granted"])
                    if waiver.get("granted")
                    else None
                ),
                origin=origin,
            )
    return tuple(found.values())


def read_scan(name: str, predicate: dict[str, Any]) -> Scan:
    """The scan in an SLO status predicate (schema-valid); ValueError for an impossible date."""
    scanned = _time(predicate["scannedAt"])
    assert scanned is not None  # required by the predicate's schema
    findings = predicate["findings"]
    return Scan(name, scanned, tuple(_finding(f) for f in findings), _waivers(findings, name))


def recorded(scans: Sequence[Scan]) -> dict[slo.WaiverKey, datetime.date]:
    """When each waiver was first recorded: the earliest scan that carries it."""
    first: dict[slo.WaiverKey, datetime.date] = {}
    for scan in scans:
        for waiver in scan.waivers:
            key = slo.waiver_key(waiver)
            first[key] = min(first.get(key, scan.scanned.date()), scan.scanned.date())
    return first


def honoured(
    waivers: Sequence[slo.Waiver],
    rules: slo.Policy,
    now: datetime.datetime,
    first: dict[slo.WaiverKey, datetime.date],
) -> tuple[tuple[slo.Waiver, ...], dict[slo.Waiver, str]]:
    """The producer's waivers the deployer's rules allow, and why each other one is not."""
    kept: list[slo.Waiver] = []
    refused: dict[slo.Waiver, str] = {}
    for waiver in waivers:
        why = slo.waiver_refusal(waiver, rules, now, first.get(slo.waiver_key(waiver)))
        if why is None:
            kept.append(waiver)
        else:
            refused[waiver] = why
    return tuple(kept), refused


def reevaluate(
    scans: Sequence[Scan], rules: slo.Policy, now: datetime.datetime
) -> tuple[slo.Evaluation, dict[slo.Waiver, str]]:
    """The findings of every scan judged at `now` under the deployer's `rules`, with the waivers
    of all of them that the rules allow (a renewal in a later scan counts for an earlier one's
    finding); also the waivers not honoured, with the reason."""
    first = recorded(scans)
    kept, refused = honoured([w for s in scans for w in s.waivers], rules, now, first)
    policy = dataclasses.replace(rules, waivers=kept)
    findings = [f for s in scans for f in s.findings]
    return slo.evaluate(findings, policy, now, first), refused


def _overdue(
    evaluation: slo.Evaluation, refused: dict[slo.Waiver, str], now: datetime.datetime
) -> list[str]:
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
            + _waiver_notes(evaluation, refused, f)
        )
    return failures


def _waiver_notes(
    evaluation: slo.Evaluation, refused: dict[slo.Waiver, str], finding: slo.SloFinding
) -> str:
    notes = [
        f"; its waiver expired {w.expires.isoformat()}"
        for w in evaluation.expired_waivers
        if slo.waiver_matches(w, finding)
    ][:1]
    notes += [
        f"; its waiver (from {w.origin}) is not honoured: it {why}"
        for w, why in refused.items()
        if slo.waiver_matches(w, finding)
    ]
    return "".join(notes)


def _future(scan: Scan, now: datetime.datetime) -> list[str]:
    """The scan's dates after the judging instant: each a refusal."""
    if scan.scanned > now:
        return [
            f"{scan.name}: scanned {scan.scanned.isoformat()}, {_LATER} {now.isoformat()}: "
            "it does not exist for the gate"
        ]
    return [
        f"{scan.name}: {f.id} in {f.package} {f.version}: {what} {moment.isoformat()} is {_LATER} "
        f"{now.isoformat()}: refused"
        for f in scan.findings
        for what, moment in (("clock start", f.first_seen), ("publication", f.published))
        if moment is not None and moment > now
    ]


def _read(found: list[Attestation]) -> tuple[list[Scan], list[str]]:
    scans, failures = [], []
    for attestation in sorted(found, key=lambda a: a.path.name):
        try:
            scans.append(read_scan(attestation.path.name, attestation.statement.predicate))
        except (ValueError, OverflowError) as e:  # 2026-13-45T...
            failures.append(
                f"{attestation.path.name}: cannot be evaluated: {type(e).__name__}: {e}"
            )
    return scans, failures


def _windows(rules: slo.Policy) -> str:
    return ", ".join(f"{level} {rules.windows[level]}d" for level in slo.LEVELS)


def _judge(
    rule: Vulnerabilities, scans: list[Scan], now: datetime.datetime
) -> tuple[list[str], str]:
    """Failures of the scans dated at or before `now`, and a summary of the judgement."""
    newest = max(scans, key=lambda s: s.scanned)
    failures = []
    if rule.max_scan_age is not None and now - newest.scanned > rule.max_scan_age:
        failures.append(
            f"the newest scan ({newest.name}) is from {newest.scanned.isoformat()}, older than "
            f"{human(rule.max_scan_age)}"
        )
    if not rule.slo:
        return failures, ""
    evaluation, refused = reevaluate(scans, rule.rules, now)
    failures += _overdue(evaluation, refused, now)
    summary = f"{evaluation.count('overdue')} overdue at {now.isoformat()}"
    if refused:
        summary += f", {len(refused)} waiver(s) not honoured"
    return failures, summary


class VulnerabilitiesCheck(Check):
    name = "vulnerability SLOs"
    order = 60

    def applies(self, context: Context) -> bool:
        return context.policy.require.vulnerabilities is not None

    def expect(self, context: Context) -> str:
        rule = context.policy.require.vulnerabilities
        assert rule is not None
        expected = "a signed SLO status"
        if rule.slo:
            rules = rule.rules
            expected += (
                f", no finding overdue now under this policy's windows ({_windows(rules)}), "
                f"waivers of at most {rules.max_waiver_span}d"
            )
            if rules.waiver_approvers is not None:
                expected += f" approved by {', '.join(rules.waiver_approvers) or 'nobody'}"
        if rule.max_scan_age is not None:
            expected += f", scanned within {human(rule.max_scan_age)}"
        return expected

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        rule = context.policy.require.vulnerabilities
        assert rule is not None
        expected, now = self.expect(context), context.now
        found = trusted(evidence, context, SLO_STATUS_V1)
        if not found:
            missing = ("no SLO status attestation from an allowed signer",)
            return Outcome(self.name, expected, "none", missing)
        scans, failures = _read(found)
        for scan in scans:
            failures += _future(scan, now)
        current = [s for s in scans if s.scanned <= now]
        summary = ""
        if current:
            try:
                judged, summary = _judge(rule, current, now)
                failures += judged
            except (ValueError, OverflowError) as e:  # a due date past the calendar's end
                failures.append(f"cannot be evaluated: {type(e).__name__}: {e}")
        scanned = [f"{s.name}, scanned {s.scanned.isoformat()}" for s in scans]
        actual = "; ".join([*scanned, summary] if summary else scanned)
        return Outcome(self.name, expected, actual or "none readable", tuple(failures))
