"""The vulnerability predicate (`https://in-toto.io/attestation/vulns/v0.2`), built from the scan
report by `attest attest`. Schema: `schemas/vulns-v0.2.schema.json`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from verify.formats.scan_report import ScanReport, iso

SCHEMA = "vulns-v0.2.schema.json"
SCANNER_URI = "pkg:pypi/attest-pipeline"


@dataclasses.dataclass(frozen=True)
class Score:
    method: str
    score: str


@dataclasses.dataclass(frozen=True)
class Result:
    """One vulnerability; attest's annotation names the package, version, aliases and fixes."""

    id: str
    severity: tuple[Score, ...] = ()
    annotations: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id}
        if self.annotations:
            body["annotations"] = [dict(a) for a in self.annotations]
        if self.severity:
            body["severity"] = [dataclasses.asdict(s) for s in self.severity]
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            id=data["id"],
            severity=tuple(Score(**s) for s in data.get("severity", [])),
            annotations=tuple(dict(a) for a in data.get("annotations", [])),
        )


def _db_uri(report: ScanReport) -> str:
    """Where the database came from: the service's URL, or the offline database's own name (the
    file or directory name; its digest is the version), never a path on the machine that
    scanned, which says nothing to a reader and tells a stranger about that machine."""
    if report.database is not None:
        name = PurePath(report.database.location.rstrip("/\\")).name.rpartition("\\")[2]
        return name or "offline"
    return report.service or report.source


@dataclasses.dataclass(frozen=True)
class Vulns:
    scanner_uri: str
    scanner_version: str | None
    db: Mapping[str, str]  # uri, and version and lastUpdate when known
    results: tuple[Result, ...]
    started: str  # RFC 3339, as the schema's date-time
    finished: str

    @classmethod
    def of(cls, report: ScanReport) -> Vulns:
        database = report.database
        db = {"uri": _db_uri(report)}
        if database is not None and database.sha256:
            db["version"] = f"sha256:{database.sha256}"
        if database is not None and database.newest is not None:
            db["lastUpdate"] = iso(database.newest) or ""
        results = tuple(
            Result(
                id=f.id,
                severity=()
                if f.severity.score is None
                else (Score(f.severity.method or "", str(f.severity.score)),),
                annotations=(
                    {
                        "package": f.package,
                        "version": f.version,
                        "aliases": list(f.aliases),
                        "fixVersions": list(f.fix_versions),
                    },
                ),
            )
            for f in report.findings
        )
        scanned = iso(report.generated_at) or ""
        return cls(
            f"{SCANNER_URI}@{report.tool_version}",
            report.tool_version,
            db,
            results,
            scanned,
            scanned,
        )

    def to_json(self) -> dict[str, Any]:
        scanner: dict[str, Any] = {"uri": self.scanner_uri}
        if self.scanner_version is not None:
            scanner["version"] = self.scanner_version
        if self.db:
            scanner["db"] = dict(self.db)
        scanner["result"] = [r.to_json() for r in self.results]
        return {
            "scanner": scanner,
            "metadata": {"scanStartedOn": self.started, "scanFinishedOn": self.finished},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Vulns:
        """The predicate in `data` (schema-valid)."""
        scanner = data["scanner"]
        return cls(
            scanner_uri=scanner["uri"],
            scanner_version=scanner.get("version"),
            db=dict(scanner.get("db", {})),
            results=tuple(Result.from_json(r) for r in scanner["result"]),
            started=data["metadata"]["scanStartedOn"],
            finished=data["metadata"]["scanFinishedOn"],
        )
