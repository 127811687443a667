"""The scan report (`attest scan --format json`, `urn:attest:scan-report:v1`): written by the scan
stage, read by `attest attest` for the vulnerability and SLO predicates. Schema:
`schemas/scan-report.schema.json`."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from verify.slo import STATUSES, Waiver

REPORT_TYPE = "urn:attest:scan-report:v1"
SCHEMA = "scan-report.schema.json"


def iso(moment: datetime.datetime | None) -> str | None:
    """A time as the formats write it: UTC, `Z`."""
    if moment is None:
        return None
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def moment(text: str | None) -> datetime.datetime | None:
    """A time the formats wrote (schema-valid: UTC, `Z`); ValueError for an impossible one."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _day(text: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(text) if text else None


@dataclasses.dataclass(frozen=True)
class WaiverRecord:
    """A waiver as a report or predicate carries it."""

    id: str
    reason: str
    expires: datetime.date
    package: str | None = None
    granted: datetime.date | None = None
    approver: str | None = None
    origin: str = ""

    @classmethod
    def of(cls, waiver: Waiver) -> WaiverRecord:
        return cls(
            waiver.id,
            waiver.reason,
            waiver.expires,
            waiver.package,
            waiver.granted,
            waiver.approver,
            waiver.origin,
        )

    def waiver(self, origin: str | None = None) -> Waiver:
        """The waiver, from `origin` (default: the file it came from)."""
        return Waiver(
            id=self.id,
            reason=self.reason,
            expires=self.expires,
            package=self.package,
            approver=self.approver,
            granted=self.granted,
            origin=self.origin if origin is None else origin,
        )

    def to_json(self, origin: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "package": self.package,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
            "granted": self.granted.isoformat() if self.granted else None,
            "approver": self.approver,
        }
        return {**body, "origin": self.origin} if origin else body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WaiverRecord:
        expires = _day(data["expires"])
        assert expires is not None  # required by both schemas
        return cls(
            id=data["id"],
            reason=data["reason"],
            expires=expires,
            package=data.get("package"),
            granted=_day(data.get("granted")),
            approver=data.get("approver"),
            origin=data.get("origin", ""),
        )


def _waiver_json(record: WaiverRecord | None) -> dict[str, Any] | None:
    return None if record is None else record.to_json()


def _waiver_of(data: Mapping[str, Any] | None) -> WaiverRecord | None:
    return None if data is None else WaiverRecord.from_json(data)


@dataclasses.dataclass(frozen=True)
class Severity:
    level: str  # critical, high, medium, low, unknown
    counts_as: str  # the level whose window applies
    score: float | None
    vector: str | None
    method: str | None

    def to_json(self) -> dict[str, Any]:  # by hand: dataclasses.asdict deep-copies, ~10x slower
        return {
            "level": self.level,
            "counts_as": self.counts_as,
            "score": self.score,
            "vector": self.vector,
            "method": self.method,
        }


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding with its SLO judgement."""

    package: str
    version: str | None
    purl: str | None
    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    published: datetime.datetime | None
    first_seen: datetime.datetime | None
    clock_start: datetime.datetime
    fix_versions: tuple[str, ...]
    due: datetime.datetime | None
    days_left: int | None
    status: str
    waiver: WaiverRecord | None
    judged_on_safe_side: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "purl": self.purl,
            "id": self.id,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "severity": self.severity.to_json(),
            "published": iso(self.published),
            "first_seen": iso(self.first_seen),
            "clock_start": iso(self.clock_start),
            "fix_versions": list(self.fix_versions),
            "due": iso(self.due),
            "days_left": self.days_left,
            "status": self.status,
            "waiver": _waiver_json(self.waiver),
            "judged_on_safe_side": self.judged_on_safe_side,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        clock_start = moment(data["clock_start"])
        assert clock_start is not None  # required by the schema
        return cls(
            package=data["package"],
            version=data["version"],
            purl=data["purl"],
            id=data["id"],
            aliases=tuple(data["aliases"]),
            summary=data["summary"],
            severity=Severity(**data["severity"]),
            published=moment(data["published"]),
            first_seen=moment(data["first_seen"]),
            clock_start=clock_start,
            fix_versions=tuple(data["fix_versions"]),
            due=moment(data["due"]),
            days_left=data["days_left"],
            status=data["status"],
            waiver=_waiver_of(data["waiver"]),
            judged_on_safe_side=data.get("judged_on_safe_side", False),
        )


@dataclasses.dataclass(frozen=True)
class Database:
    """The offline database the scan read."""

    location: str
    sha256: str
    records: int
    newest: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Skipped:
    package: str
    version: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"package": self.package, "version": self.version, "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """Advisory data that cannot be read, and how it was judged (on the safe side)."""

    id: str
    package: str
    field: str
    excerpt: str
    judged: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package": self.package,
            "field": self.field,
            "excerpt": self.excerpt,
            "judged": self.judged,
        }


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """The report. `policy` is the effective SLO policy as `verify.slo.Policy.to_json` writes
    it; the summary is computed from the findings and skips, so it cannot disagree with them."""

    generated_at: datetime.datetime
    tool_version: str
    input_kind: str
    input_path: str
    input_description: str
    source: str
    service: str | None
    database: Database | None
    policy: Mapping[str, Any]
    passed: bool
    components: int
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...] = ()
    expired_waivers: tuple[WaiverRecord, ...] = ()
    unused_waivers: tuple[WaiverRecord, ...] = ()
    warnings: tuple[str, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)

    def to_json(self) -> dict[str, Any]:
        db = self.database
        return {
            "report_type": REPORT_TYPE,
            "generated_at": iso(self.generated_at),
            "tool": {"name": "attest", "version": self.tool_version},
            "input": {
                "kind": self.input_kind,
                "path": self.input_path,
                "description": self.input_description,
            },
            "source": {
                "name": self.source,
                "service": self.service,
                "database": None
                if db is None
                else {
                    "location": db.location,
                    "sha256": db.sha256,
                    "records": db.records,
                    "newest": iso(db.newest),
                },
            },
            "policy": dict(self.policy),
            "summary": {
                "passed": self.passed,
                "components": self.components,
                "findings": len(self.findings),
                "skipped": len(self.skipped),
                "by_status": {s: self.count(s) for s in STATUSES},
            },
            "findings": [f.to_json() for f in self.findings],
            "skipped": [s.to_json() for s in self.skipped],
            "waivers": {
                "expired": [w.to_json() for w in self.expired_waivers],
                "unused": [w.to_json() for w in self.unused_waivers],
            },
            "warnings": list(self.warnings),
            "unreadable_advisories": [u.to_json() for u in self.unreadable],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScanReport:
        """The report in `data`, which must be valid under SCHEMA (`schema.problem`)."""
        db = data["source"]["database"]
        return cls(
            generated_at=_required(moment(data["generated_at"])),
            tool_version=data["tool"]["version"],
            input_kind=data["input"]["kind"],
            input_path=data["input"]["path"],
            input_description=data["input"]["description"],
            source=data["source"]["name"],
            service=data["source"]["service"],
            database=None
            if db is None
            else Database(db["location"], db["sha256"], db["records"], moment(db["newest"])),
            policy=dict(data["policy"]),
            passed=data["summary"]["passed"],
            components=data["summary"]["components"],
            findings=tuple(Finding.from_json(f) for f in data["findings"]),
            skipped=tuple(Skipped(**s) for s in data["skipped"]),
            expired_waivers=tuple(WaiverRecord.from_json(w) for w in data["waivers"]["expired"]),
            unused_waivers=tuple(WaiverRecord.from_json(w) for w in data["waivers"]["unused"]),
            warnings=tuple(data["warnings"]),
            unreadable=tuple(Unreadable(**u) for u in data.get("unreadable_advisories", [])),
        )


def _required(value: datetime.datetime | None) -> datetime.datetime:
    assert value is not None  # required by the schema
    return value
