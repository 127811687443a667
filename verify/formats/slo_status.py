"""attest's SLO status predicate (`https://attest-pipeline.github.io/attestation/slo-status/v1`):
built from the scan report by `attest attest`, read by the gate to re-judge every finding under
the deployer's rules. Schema: `schemas/slo-status-v1.schema.json`. Every mapping of a finding
into the SLO rules' `SloFinding` lives here too."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from verify.formats.scan_report import Finding as ReportFinding
from verify.formats.scan_report import ScanReport, WaiverRecord, iso, moment
from verify.slo import SloFinding, Waiver

if TYPE_CHECKING:
    from verify.osv.records import Advisory
    from verify.osv.severity import SeverityLevel

SCHEMA = "slo-status-v1.schema.json"
# The policy's parts the predicate carries: what the gate needs to see how it was judged.
POLICY_KEYS = ("windows", "unknown_severity", "clock", "due_soon", "no_fix_pauses_clock")


def slo_finding(
    package: str,
    version: str,
    advisory: Advisory,
    severity: SeverityLevel,
    first_seen: datetime.datetime | None,
) -> SloFinding:
    """An advisory that affects a package, as the SLO rules judge it (the scan's findings and
    the gate's `--db` findings alike)."""
    return SloFinding(
        package=package,
        version=version,
        id=advisory.id,
        aliases=advisory.aliases,
        severity=severity,
        published=advisory.published,
        first_seen=first_seen,
        fix_versions=advisory.fix_versions,
    )


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding of the predicate: the producer's judgement, evidence for the gate's own."""

    package: str
    version: str | None
    id: str
    aliases: tuple[str, ...]
    severity: str  # critical, high, medium, low, unknown
    score: float | None
    counts_as: str
    clock_start: datetime.datetime
    published: datetime.datetime | None
    fix_versions: tuple[str, ...]
    due: datetime.datetime | None
    status: str
    waiver: WaiverRecord | None

    @classmethod
    def of(cls, finding: ReportFinding) -> Finding:
        return cls(
            package=finding.package,
            version=finding.version,
            id=finding.id,
            aliases=finding.aliases,
            severity=finding.severity.level,
            score=finding.severity.score,
            counts_as=finding.severity.counts_as,
            clock_start=finding.clock_start,
            published=finding.published,
            fix_versions=finding.fix_versions,
            due=finding.due,
            status=finding.status,
            waiver=None
            if finding.waiver is None
            else dataclasses.replace(finding.waiver, origin=""),
        )

    def slo_finding(self) -> SloFinding:
        """As the gate re-judges it: the producer's clock start is when it was first seen."""
        return SloFinding(
            package=self.package,
            version=self.version or "",
            id=self.id,
            aliases=self.aliases,
            severity=cast("SeverityLevel", self.severity),  # the schema's enum
            published=self.published,
            first_seen=self.clock_start,
            fix_versions=self.fix_versions,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "id": self.id,
            "aliases": list(self.aliases),
            "severity": self.severity,
            "score": self.score,
            "countsAs": self.counts_as,
            "clockStart": iso(self.clock_start),
            "published": iso(self.published),
            "fixVersions": list(self.fix_versions),
            "due": iso(self.due),
            "status": self.status,
            "waiver": None if self.waiver is None else self.waiver.to_json(origin=False),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        clock_start = moment(data["clockStart"])
        assert clock_start is not None  # required by the schema
        waiver = data["waiver"]
        return cls(
            package=data["package"],
            version=data["version"],
            id=data["id"],
            aliases=tuple(data["aliases"]),
            severity=data["severity"],
            score=data.get("score"),
            counts_as=data["countsAs"],
            clock_start=clock_start,
            published=moment(data["published"]),
            fix_versions=tuple(data["fixVersions"]),
            due=moment(data["due"]),
            status=data["status"],
            waiver=None if waiver is None else WaiverRecord.from_json(waiver),
        )


@dataclasses.dataclass(frozen=True)
class Database:
    sha256: str
    records: int
    newest: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class SloStatus:
    """The predicate: the scan's findings, its time, and the policy it was judged by."""

    scanner_version: str
    source: str
    scanned_at: datetime.datetime
    policy: Mapping[str, Any]
    policy_sha256: str
    database: Database | None
    findings: tuple[Finding, ...]

    @classmethod
    def of(cls, report: ScanReport) -> SloStatus:
        policy = {key: report.policy[key] for key in POLICY_KEYS}
        canonical = json.dumps(policy, sort_keys=True, separators=(",", ":")).encode()
        db = report.database
        return cls(
            scanner_version=report.tool_version,
            source=report.source,
            scanned_at=report.generated_at,
            policy=policy,
            policy_sha256=hashlib.sha256(canonical).hexdigest(),
            database=None if db is None else Database(db.sha256, db.records, db.newest),
            findings=tuple(Finding.of(f) for f in report.findings),
        )

    def waivers(self, origin: str) -> tuple[Waiver, ...]:
        """The waivers its findings carry, each once, said to come from `origin`."""
        found: dict[tuple[str, str | None, datetime.date], Waiver] = {}
        for record in (f.waiver for f in self.findings if f.waiver is not None):
            found[(record.id, record.package, record.expires)] = record.waiver(origin)
        return tuple(found.values())

    def to_json(self) -> dict[str, Any]:
        db = self.database
        return {
            "scanner": {"name": "attest", "version": self.scanner_version, "source": self.source},
            "scannedAt": iso(self.scanned_at),
            "policy": dict(self.policy),
            "policySha256": self.policy_sha256,
            "database": None
            if db is None
            else {"sha256": db.sha256, "records": db.records, "newest": iso(db.newest)},
            "findings": [f.to_json() for f in self.findings],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SloStatus:
        """The predicate in `data` (schema-valid); ValueError for an impossible date."""
        scanned_at = moment(data["scannedAt"])
        assert scanned_at is not None  # required by the schema
        db = data["database"]
        return cls(
            scanner_version=data["scanner"]["version"],
            source=data["scanner"]["source"],
            scanned_at=scanned_at,
            policy=dict(data["policy"]),
            policy_sha256=data["policySha256"],
            database=None
            if db is None
            else Database(db["sha256"], db["records"], moment(db.get("newest"))),
            findings=tuple(Finding.from_json(f) for f in data["findings"]),
        )
