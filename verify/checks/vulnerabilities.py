"""Check: every signed SLO status attestation that covers the artifact, re-evaluated at the
judging instant under the DEPLOYER's SLO rules (`require.vulnerabilities`). The producer's
windows and waivers are evidence, never the rule: a finding is judged by the deployer's window
for its severity, and a waiver applies only when the deployer's waiver rules allow it (span,
approver) and it has not expired. Evidence dated after the judging instant does not exist for
the gate: such an attestation, or finding, is refused; such a waiver is not honoured.

With the deployer's advisory database (`attest verify --db`), the components of the signed
SBOM are matched against it too, so an advisory published since the scan is judged as well."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from verify import slo
from verify.checks import trusted
from verify.evidence import Attestation, Evidence
from verify.formats import cyclonedx
from verify.formats.predicates import CYCLONEDX_BOM, SLO_STATUS_V1, short
from verify.formats.slo_status import SloStatus, slo_finding
from verify.interface import Check, Context, Outcome
from verify.policy import Vulnerabilities, human
from verify.text import excerpt

if TYPE_CHECKING:  # the OSV machinery is imported only with --db (the gate's start-up)
    from verify.osv.database import Database
    from verify.osv.records import Advisory

_LATER = "dated after the judging instant"
_FROM_DB = " (advisory database, --db)"


@dataclasses.dataclass(frozen=True)
class Scan:
    """One SLO status attestation, read: what the producer's scan found, and its waivers."""

    name: str  # the bundle's file name, for messages
    scanned: datetime.datetime
    findings: tuple[slo.SloFinding, ...]
    waivers: tuple[slo.Waiver, ...]
    copies: tuple[str, ...] = ()  # other bundles of the same statement, judged with this one


def read_scan(name: str, predicate: dict[str, Any]) -> Scan:
    """The scan in an SLO status predicate (schema-valid); ValueError for an impossible date."""
    status = SloStatus.from_json(predicate)
    findings = tuple(f.slo_finding() for f in status.findings)
    return Scan(name, status.scanned_at, findings, status.waivers(name))


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
    scans: Sequence[Scan],
    rules: slo.Policy,
    now: datetime.datetime,
    extra: Sequence[slo.SloFinding] = (),
) -> tuple[slo.Evaluation, dict[slo.Waiver, str]]:
    """The findings of every scan (then the `extra` ones) judged at `now` under the deployer's
    `rules`, with the waivers of all the scans that the rules allow (a renewal in a later scan
    counts for an earlier one's finding); also the waivers not honoured, with the reason."""
    first = recorded(scans)
    kept, refused = honoured(_distinct(w for s in scans for w in s.waivers), rules, now, first)
    policy = dataclasses.replace(rules, waivers=kept)
    findings = [*dict.fromkeys(f for s in scans for f in s.findings), *extra]
    return slo.evaluate(findings, policy, now, first), refused


def _distinct(waivers: Iterable[slo.Waiver]) -> list[slo.Waiver]:
    """Each waiver once, the first scan's that carries it: the same waiver in every scan of a
    history is one waiver, not one per scan to try on every finding."""
    found: dict[slo.Waiver, slo.Waiver] = {}
    for waiver in waivers:
        found.setdefault(dataclasses.replace(waiver, origin=""), waiver)
    return list(found.values())


def _overdue(
    evaluation: slo.Evaluation,
    refused: dict[slo.Waiver, str],
    now: datetime.datetime,
    from_db: int,
    marked: dict[tuple[str, str], str],
    named: set[slo.Waiver],
) -> list[str]:
    """A failure per overdue finding; the last `from_db` results came from the database, and
    `marked` says which of those were judged on the safe side (unreadable advisory data). The
    waivers not honoured that a failure names are added to `named`."""
    failures = []
    first_db = len(evaluation.results) - from_db
    expired = slo.WaiverIndex(evaluation.expired_waivers)
    not_honoured = slo.WaiverIndex(refused, loose=True)  # a malformed one is named too
    for number, result in enumerate(evaluation.results):
        if result.status != "overdue" or result.due is None:
            continue
        f = result.finding
        days = (now - result.due).days
        not_covering = not_honoured.matching(f)
        named.update(not_covering)
        failures.append(
            f"{_cut(f.id)} in {_cut(f.package)} {_cut(f.version)} ({result.counts_as}) was due "
            f"{result.due.date().isoformat()}, {days} days ago"
            + (_FROM_DB if number >= first_db else "")
            + (marked.get((f.package, f.id), "") if number >= first_db else "")
            + _fixes(f.fix_versions)
            + "".join(
                f"; its waiver expired {w.expires.isoformat()}" for w in expired.matching(f)[:1]
            )
            + "".join(
                f"; its waiver (from {w.origin}) is not honoured: it {refused[w]}"
                for w in not_covering
            )
        )
    return failures


_CUT = 40  # characters of an id, package or version in a message: ids are shorter than 40
_FIXES_SHOWN = 5


def _cut(text: str, limit: int = _CUT) -> str:
    """A finding's text as a refusal shows it (an advisory database or a signer may write an id
    of 3,000 characters)."""
    return excerpt(text, limit)


def _fixes(versions: Sequence[str]) -> str:
    """The versions that fix it; one that is not a PEP 440 version is unreadable, and is never
    shown as if it were a version to upgrade to."""
    from packaging.version import InvalidVersion, Version

    readable, unreadable = [], []
    for text in versions:
        try:
            Version(text)
            readable.append(text)
        except InvalidVersion:
            unreadable.append(text)
    said = ""
    if readable:
        more = len(readable) - _FIXES_SHOWN
        said += "; fixed in " + ", ".join(_cut(v) for v in readable[:_FIXES_SHOWN])
        said += f" and {more} more" if more > 0 else ""
    if unreadable:
        said += f"; a fix is named but unreadable ('{_cut(unreadable[0], 20)}'"
        said += f" and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ")"
    return said


def _future(scan: Scan, now: datetime.datetime) -> list[str]:
    """The scan's dates after the judging instant: each a refusal."""
    if scan.scanned > now:
        return [
            f"{scan.name}: scanned {scan.scanned.isoformat()}, {_LATER} {now.isoformat()}: "
            "it does not exist for the gate"
        ]
    return [
        f"{scan.name}: {_cut(f.id)} in {_cut(f.package)} {_cut(f.version)}: {what} "
        f"{moment.isoformat()} is {_LATER} {now.isoformat()}: refused"
        for f in scan.findings
        for what, moment in (("clock start", f.first_seen), ("publication", f.published))
        if moment is not None and moment > now
    ]


def _read(found: list[Attestation]) -> tuple[list[Scan], list[str]]:
    """The scans, each statement once (by its digest): copies of one signed statement under
    other names are the same evidence, judged once, not once more per copy."""
    same: dict[bytes, list[Attestation]] = {}
    for attestation in sorted(found, key=lambda a: a.path.name):
        digest = hashlib.sha256(attestation.statement.to_json()).digest()
        same.setdefault(digest, []).append(attestation)
    scans, failures = [], []
    for first, *copies in same.values():
        try:
            scan = read_scan(first.path.name, first.statement.predicate)
        except (ValueError, OverflowError) as e:  # 2026-13-45T..., its text quoting the time
            failures.append(
                f"{first.path.name}: cannot be evaluated: {type(e).__name__}: {_cut(str(e), 120)}"
            )
            continue
        scans.append(dataclasses.replace(scan, copies=tuple(c.path.name for c in copies)))
    return scans, failures


def _named(scan: Scan) -> str:
    """The scan's bundle, and how many others hold the same statement (a few named)."""
    if not scan.copies:
        return scan.name
    some = ", ".join(scan.copies[:3]) + (", …" if len(scan.copies) > 3 else "")
    return f"{scan.name} (and {len(scan.copies)} bundle(s) of the same statement: {some})"


def _sbom_components(sboms: list[Attestation]) -> tuple[set[tuple[str, str]], list[str]]:
    """(PEP 503 name, version) of every PyPI component of the signed SBOMs, and why any
    component or SBOM cannot be matched (each a refusal: what cannot be checked is not clean)."""
    from verify.osv.records import normalize

    found: set[tuple[str, str]] = set()
    failures: list[str] = []
    for sbom in sboms:
        predicate = sbom.statement.predicate
        if "attestByReference" in predicate:
            failures.append(f"{sbom.path.name}: the SBOM is attested by reference: --db needs it")
            continue
        try:
            components = cyclonedx.components(predicate)
        except cyclonedx.MalformedBom as e:
            failures.append(f"{sbom.path.name}: malformed SBOM: {e}")
            continue
        for component in components:
            purl, name, version = component.purl, component.name, component.version
            if purl is not None and cyclonedx.purl_type(purl) != "pypi":
                continue  # not a PyPI package (told as the scan tells it): nothing to match
            if not (name and version):
                failures.append(
                    f"{sbom.path.name}: component {short(name or '')} has no name or version: "
                    "it cannot be matched against the advisory database"
                )
                continue
            found.add((normalize(name), version))
    return found, failures


_Starts = dict[tuple[str, str], datetime.datetime]


def _clock_starts(scans: Sequence[Scan]) -> _Starts:
    """The earliest clock start the signed scans give each (package, id or alias), read once
    for all the database's findings."""
    from verify.osv.records import normalize

    starts: _Starts = {}
    for f in (f for s in scans for f in s.findings):
        if (start := f.first_seen) is not None:
            for name in (f.id, *f.aliases):
                key = (normalize(f.package), name.upper())
                starts[key] = min(starts.get(key, start), start)
    return starts


def _first_seen(advisory: Advisory, package: str, starts: _Starts) -> datetime.datetime | None:
    """The earliest clock start a signed scan gives the same vulnerability in the same
    package; else its publication (it could be seen from then on)."""
    names = {n.upper() for n in (advisory.id, *advisory.aliases)}
    found = [starts[(package, n)] for n in names if (package, n) in starts]
    return min(found, default=advisory.published or advisory.modified)


def database_findings(
    database: Database,
    evidence: Evidence,
    context: Context,
    scans: Sequence[Scan],
) -> tuple[list[slo.SloFinding], list[str], dict[tuple[str, str], str]]:
    """The findings the deployer's database gives for the components of the artifact's signed
    SBOM, severity scored from the database; the refusals (no SBOM, a stale database, a
    component that cannot be matched); and a note for each finding whose advisory holds data
    that cannot be read (matched on the safe side, as the scan does: `verify.osv.records`)."""
    from verify.osv.database import matches
    from verify.osv.severity import severity_of

    rules = context.policy.require.vulnerabilities
    assert rules is not None
    failures = _staleness(database, rules.rules, context.now)
    sboms = trusted(evidence, context, CYCLONEDX_BOM)
    if not sboms:
        failures.append(
            "--db: no CycloneDX SBOM attestation from an allowed signer covers it, so the "
            "advisory database cannot be matched against its components"
        )
    components, problems = _sbom_components(sboms)
    failures += problems
    findings = []
    marked: dict[tuple[str, str], str] = {}
    starts = _clock_starts(scans)
    for package, version in sorted(components):
        try:
            advisories = matches(database.index, package, version)
        except ValueError:  # InvalidVersion, or a number past Python's 4,300 digits
            failures.append(
                f"component {short(package)} {short(version)}: not a PEP 440 version: it cannot "
                "be matched against the advisory database"
            )
            continue
        for advisory in advisories:
            if advisory.unreadable:
                marked[(package, advisory.id)] = "; judged affected on the safe side: " + "; ".join(
                    f"{u.field} {u.excerpt} {u.judged}" for u in advisory.unreadable
                )
            first_seen = _first_seen(advisory, package, starts)
            level = severity_of(advisory).level
            findings.append(slo_finding(package, version, advisory, level, first_seen))
    return findings, failures, marked


def _staleness(database: Database, rules: slo.Policy, now: datetime.datetime) -> list[str]:
    """A database whose newest record (misdated ones after now apart) is older than the
    policy's max_db_age would make new advisories look absent."""
    newest = database.newest(now)
    if newest is not None and now - newest <= datetime.timedelta(days=rules.max_db_age):
        return []
    age = "has no dated record" if newest is None else f"is {(now - newest).days} days old"
    return [
        f"the advisory database {database.location} {age}; the policy's max_db_age is "
        f"{rules.max_db_age} days: update it"
    ]


def _windows(rules: slo.Policy) -> str:
    return ", ".join(f"{level} {rules.windows[level]}d" for level in slo.LEVELS)


def _judge(
    rule: Vulnerabilities,
    scans: list[Scan],
    now: datetime.datetime,
    extra: Sequence[slo.SloFinding] = (),
    marked: dict[tuple[str, str], str] | None = None,
) -> tuple[list[str], str]:
    """Failures of the scans dated at or before `now` (and of the `extra` findings, from the
    database), and a summary of the judgement."""
    newest = max(scans, key=lambda s: s.scanned)
    failures = []
    if rule.max_scan_age is not None and now - newest.scanned > rule.max_scan_age:
        failures.append(
            f"the newest scan ({newest.name}) is from {newest.scanned.isoformat()}, older than "
            f"{human(rule.max_scan_age)}"
        )
    if not rule.slo:
        return failures, ""
    evaluation, refused = reevaluate(scans, rule.rules, now, extra)
    named: set[slo.Waiver] = set()
    failures += _overdue(evaluation, refused, now, len(extra), marked or {}, named)
    summary = f"{evaluation.count('overdue')} overdue at {now.isoformat()}"
    if refused:
        summary += f", {len(refused)} waiver(s) not honoured" + _unnamed(refused, named)
    return failures, summary


def _unnamed(refused: dict[slo.Waiver, str], named: set[slo.Waiver]) -> str:
    """The waivers not honoured that no failure names (they would have covered no overdue
    finding, or one whose names they only resemble): each is named somewhere, with why."""
    left = [w for w in refused if w not in named]
    notes = [f"{_cut(w.id)} (from {w.origin}): it {refused[w]}" for w in left[:_FIXES_SHOWN]]
    more = f"; and {len(left) - _FIXES_SHOWN} more" if len(left) > _FIXES_SHOWN else ""
    return (": " + "; ".join(notes) + more) if notes else ""


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
        if context.advisories is not None and rule.slo:
            expected += (
                f"; and the signed SBOM's components judged against {context.advisories.location}"
                f" (updated within {rule.rules.max_db_age}d)"
            )
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
        extra: list[slo.SloFinding] = []
        marked: dict[tuple[str, str], str] = {}
        if context.advisories is not None and rule.slo:
            extra, refused, marked = database_findings(
                context.advisories, evidence, context, current
            )
            failures += refused
        summary = ""
        if current:
            try:
                judged, summary = _judge(rule, current, now, extra, marked)
                failures += judged
            except (ValueError, OverflowError) as e:  # a due date past the calendar's end
                failures.append(f"cannot be evaluated: {type(e).__name__}: {e}")
        scanned = [f"{_named(s)}, scanned {s.scanned.isoformat()}" for s in scans]
        actual = "; ".join([*scanned, summary] if summary else scanned)
        return Outcome(self.name, expected, actual or "none readable", tuple(failures))
