"""Rendering a scan result: the JSON report (its model and schema: verify/formats/scan_report.py),
Markdown for people and step summaries, SARIF 2.1.0 for code scanning, CycloneDX 1.6 VEX, and
GitHub Actions annotations."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Literal

from attest import __version__
from attest.scan.stage import Finding, ScanResult, uncollected
from verify.formats import scan_report
from verify.formats.scan_report import ScanReport, WaiverRecord
from verify.formats.scan_report import iso as _iso
from verify.slo import STATUSES, SloResult
from verify.text import markdown_text as md

Format = Literal["json", "markdown", "sarif", "vex"]
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_VEX_SEVERITIES = {"critical", "high", "medium", "low"}


def _finding(finding: Finding, judged: SloResult) -> scan_report.Finding:
    sev, advisory = finding.severity, finding.advisory
    return scan_report.Finding(
        package=finding.component.name,
        version=finding.component.version,
        purl=finding.component.purl,
        id=advisory.id,
        aliases=advisory.aliases,
        summary=advisory.summary,
        severity=scan_report.Severity(
            sev.level, judged.counts_as, sev.score, sev.vector, sev.method
        ),
        published=advisory.published,
        first_seen=finding.first_seen,
        clock_start=judged.clock_start,
        fix_versions=advisory.fix_versions,
        due=judged.due,
        days_left=judged.days_left,
        status=judged.status,
        waiver=None if judged.waiver is None else WaiverRecord.of(judged.waiver),
        judged_on_safe_side=bool(advisory.unreadable),
    )


def _pairs(result: ScanResult) -> list[tuple[Finding, SloResult]]:
    return list(zip(result.findings, result.evaluation.results, strict=True))


def scan_report_of(result: ScanResult) -> ScanReport:
    """The scan as its documented, versioned report (`verify.formats.scan_report`)."""
    request, db, evaluation = result.request, result.answer.database, result.evaluation
    return ScanReport(
        generated_at=request.now,
        tool_version=__version__,
        input_kind=request.kind,
        input_path=str(request.target),
        input_description=result.input_description,
        source=request.source,
        service=result.answer.service,
        database=None
        if db is None
        else scan_report.Database(db.location, db.digest, db.records, db.newest(request.now)),
        policy=request.policy.to_json(),
        passed=evaluation.passed,
        components=len(result.components),
        findings=tuple(_finding(f, j) for f, j in _pairs(result)),
        skipped=tuple(
            scan_report.Skipped(s.component.name, s.component.version, s.reason)
            for s in result.skips
        ),
        expired_waivers=tuple(WaiverRecord.of(w) for w in evaluation.expired_waivers),
        unused_waivers=tuple(WaiverRecord.of(w) for w in evaluation.unused_waivers),
        warnings=result.warnings,
        unreadable=tuple(
            scan_report.Unreadable(u.id, u.package, u.field, u.excerpt, u.judged)
            for u in result.answer.unreadable
        ),
    )


def report(result: ScanResult) -> dict[str, Any]:
    """The JSON report: a documented, versioned format (`report_type`)."""
    return scan_report_of(result).to_json()


def _severity_text(finding: Finding, judged: SloResult) -> str:
    sev = finding.severity
    text = sev.level if sev.score is None else f"{sev.level} {sev.score:.1f}"
    return text if sev.level != "unknown" else f"unknown (as {judged.counts_as})"


def _days(judged: SloResult) -> str:
    if judged.days_left is None:
        return "paused"
    return f"{-judged.days_left} late" if judged.days_left < 0 else str(judged.days_left)


def markdown(result: ScanResult) -> str:
    evaluation = result.evaluation
    verdict = "passed" if evaluation.passed else f"FAILED: {evaluation.count('overdue')} overdue"
    counts = ", ".join(f"{evaluation.count(s)} {s}" for s in STATUSES if evaluation.count(s))
    lines = [
        f"## attest scan: {verdict}",
        "",
        f"{len(result.components)} components from {md(result.input_description)}, checked "
        f"against {md(result.request.source)} at {_iso(result.request.now)}: "
        f"{len(result.findings)} findings{f' ({counts})' if counts else ''}.",
        "",
    ]
    order = {s: i for i, s in enumerate(STATUSES)}
    rows = sorted(_pairs(result), key=lambda p: (order[p[1].status], p[1].days_left or 0))
    if rows:
        lines += [
            "| status | package | version | advisory | severity | due | days left | fixed in |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for finding, judged in rows:
            due = (_iso(judged.due) or "")[:10]
            lines.append(
                f"| {judged.status} | {md(finding.component.name)} | "
                f"{md(finding.component.version or '')} | "
                f"{md(finding.advisory.id)}{_marked(finding)} | "
                f"{md(_severity_text(finding, judged))} | {due} | {_days(judged)} | "
                f"{md(', '.join(finding.advisory.fix_versions) or 'none')} |"
            )
    for waiver in evaluation.expired_waivers:
        lines.append(
            f"\n- expired waiver (no longer applies): {md(waiver.id)}, expired {md(waiver.expires)}"
        )
    for skip in result.skips:
        lines.append(
            f"\n- not checked: {md(skip.component.name)} {md(skip.component.version)}: "
            f"{md(skip.reason)}"
        )
    if result.answer.unreadable:
        lines.append("\nAdvisory data that cannot be read, judged on the safe side (affected):\n")
        lines += [f"- {md(u.describe())}" for u in result.answer.unreadable]
    return "\n".join(lines) + "\n"


def _marked(finding: Finding) -> str:
    return " (unreadable data: judged affected)" if finding.advisory.unreadable else ""


def _message(finding: Finding, judged: SloResult) -> str:
    fix = ", ".join(finding.advisory.fix_versions) or "no fixed version"
    return (
        f"{finding.component.name} {finding.component.version} is affected by "
        f"{finding.advisory.id} ({_severity_text(finding, judged)}): {judged.status}, due "
        f"{(_iso(judged.due) or 'never (clock paused)')[:10]}; fixed in {fix}. "
        f"{finding.advisory.summary}"
        + (
            " Its advisory data cannot all be read, so it was judged on the safe side: "
            + "; ".join(f"{u.field} {u.excerpt}: {u.judged}" for u in finding.advisory.unreadable)
            if finding.advisory.unreadable
            else ""
        )
    ).strip()


def sarif(result: ScanResult) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per advisory, one result per finding, located in the input file;
    waived findings carry an external suppression with the waiver's reason."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    where = str(result.request.target)
    for finding, judged in _pairs(result):
        rules.setdefault(finding.advisory.id, _sarif_rule(finding))
        results.append(_sarif_result(finding, judged, where))
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "attest",
                        "version": __version__,
                        "informationUri": "https://osv.dev",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }


def _sarif_rule(finding: Finding) -> dict[str, Any]:
    """The rule of a finding's advisory, with its CVSS score as GitHub's security-severity."""
    adv = finding.advisory
    score = finding.severity.score
    return {
        "id": adv.id,
        "name": adv.id.replace("-", ""),
        "shortDescription": {"text": adv.summary or adv.id},
        "helpUri": f"https://osv.dev/vulnerability/{adv.id}",
        "properties": {
            "tags": ["security", "vulnerability", *adv.aliases],
            **({"security-severity": f"{score:.1f}"} if score is not None else {}),
        },
    }


_SARIF_LEVELS = {"overdue": "error", "due-soon": "warning"}


def _sarif_result(finding: Finding, judged: SloResult, where: str) -> dict[str, Any]:
    """One finding located in the input file `where`; a waiver is an external suppression."""
    adv = finding.advisory
    entry: dict[str, Any] = {
        "ruleId": adv.id,
        "level": _SARIF_LEVELS.get(judged.status, "note"),
        "message": {"text": _message(finding, judged)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": where},
                    "region": {"startLine": 1},
                }
            }
        ],
        "partialFingerprints": {"attest/v1": f"{finding.component.name}:{adv.id}"},
        "properties": {
            "status": judged.status,
            "due": _iso(judged.due),
            "days_left": judged.days_left,
            "judged_on_safe_side": bool(adv.unreadable),
        },
    }
    if judged.waiver is not None:
        entry["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": judged.waiver.reason}
        ]
    return entry


def _ratings(finding: Finding) -> list[dict[str, Any]]:
    sev = finding.severity
    if sev.level == "unknown":
        return [{"severity": "unknown"}]
    rating: dict[str, Any] = {"severity": sev.level, "method": sev.method or "other"}
    if sev.method == "database":
        rating["method"] = "other"
    if sev.score is not None:
        rating["score"] = sev.score
    if sev.vector is not None:
        rating["vector"] = sev.vector
    return [rating]


def _analysis(finding: Finding, judged: SloResult) -> dict[str, Any]:
    """Every finding is affected as far as the advisory says (`exploitable`); a waiver is
    recorded as the analysis detail, with its expiry and approver."""
    analysis: dict[str, Any] = {
        "state": "exploitable",
        "response": ["update"] if finding.advisory.fix_versions else ["can_not_fix"],
    }
    waiver = judged.waiver
    if waiver is not None:
        by = f", approved by {waiver.approver}" if waiver.approver else ""
        analysis["detail"] = (
            f"Risk accepted until {waiver.expires.isoformat()}{by}: {waiver.reason}"
        )
    return analysis


def vex(result: ScanResult) -> dict[str, Any]:
    """CycloneDX 1.6 VEX: the affected components and a vulnerability entry per finding."""
    components: dict[str, dict[str, Any]] = {}
    vulns = []
    for finding, judged in _pairs(result):
        comp = finding.component
        ref = comp.purl or f"pkg:pypi/{comp.name}@{comp.version}"
        components.setdefault(
            ref,
            {
                "type": "library",
                "bom-ref": ref,
                "name": comp.name,
                "version": comp.version or "",
                "purl": ref,
            },
        )
        adv = finding.advisory
        vuln: dict[str, Any] = {
            "bom-ref": f"{adv.id}:{ref}",
            "id": adv.id,
            "source": {"name": "OSV", "url": f"https://osv.dev/vulnerability/{adv.id}"},
            "references": [{"id": a, "source": {"name": "OSV"}} for a in adv.aliases],
            "ratings": _ratings(finding),
            "description": adv.summary,
            "recommendation": (
                f"Upgrade to {', '.join(adv.fix_versions)}"
                if adv.fix_versions
                else "No fixed version"
            ),
            "affects": [{"ref": ref}],
            "analysis": _analysis(finding, judged),
            "properties": [
                {"name": "attest:slo:status", "value": judged.status},
                {"name": "attest:slo:due", "value": _iso(judged.due) or "paused"},
            ],
        }
        if adv.published is not None:
            vuln["published"] = _iso(adv.published)
        if adv.modified is not None:
            vuln["updated"] = _iso(adv.modified)
        vulns.append(vuln)
    body = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": _iso(result.request.now),
            "tools": {
                "components": [{"type": "application", "name": "attest", "version": __version__}]
            },
        },
        "components": list(components.values()),
        "vulnerabilities": vulns,
    }
    # A serial number derived from the content: the same scan gives the same document.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {"serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, digest)}", **body}


def workflow_commands(result: ScanResult) -> list[str]:
    """GitHub Actions workflow commands: overdue findings as errors, due-soon findings and
    expired waivers as warnings."""
    lines = []
    for finding, judged in _pairs(result):
        kind = {"overdue": "error", "due-soon": "warning"}.get(judged.status)
        if kind is not None:
            title = f"attest scan: {judged.status} {finding.advisory.id}"
            lines.append(
                f"::{kind} title={_escape(title, True)}::{_escape(_message(finding, judged))}"
            )
    for waiver in result.evaluation.expired_waivers:
        text = f"waiver for {waiver.id} in {waiver.origin} expired {waiver.expires}: not applied"
        lines.append(f"::warning title=attest scan%3A expired waiver::{_escape(text)}")
    return lines


def _escape(text: str, prop: bool = False) -> str:
    """The workflow-command escaping GitHub's toolkit applies."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


@uncollected()
def render(result: ScanResult, fmt: Format) -> bytes:
    if fmt == "markdown":
        return markdown(result).encode()
    data = {"json": report, "sarif": sarif, "vex": vex}[fmt](result)
    text = json.dumps(data, indent=2, sort_keys=fmt != "json") + "\n"
    if fmt == "vex":
        # Imported here: the CycloneDX library costs a tenth of a second at startup.
        from attest.sbom.validate import validate

        validate(text, "json")  # the CycloneDX 1.6 schema, as for every SBOM attest writes
    return text.encode()
