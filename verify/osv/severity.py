"""Severity of an advisory: the highest CVSS score among its vectors (v2, v3.x, v4.0, scored by
the `cvss` library), else the database's own label, else unknown (the policy decides what that
counts as)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

from cvss import CVSS2, CVSS3, CVSS4, CVSSError  # type: ignore[import-untyped]

from verify.osv.records import Advisory, SeverityVector
from verify.text import excerpt

SeverityLevel = Literal["critical", "high", "medium", "low", "unknown"]

# database_specific.severity labels (GHSA uses MODERATE) to our levels.
_LABELS: dict[str, SeverityLevel] = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MODERATE": "medium",
    "MEDIUM": "medium",
    "LOW": "low",
}


@dataclasses.dataclass(frozen=True)
class Severity:
    level: SeverityLevel
    score: float | None = None
    vector: str | None = None
    method: str | None = None  # CVSSv2, CVSSv3, CVSSv31, CVSSv4, or "database"


def _level(score: float) -> SeverityLevel:
    """The CVSS v3/v4 qualitative scale (also applied to v2 scores, which lack "critical");
    a 0.0 score ("none") counts as low: the advisory still names the version as affected."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


@functools.lru_cache(maxsize=4096)
def score_vector(entry: SeverityVector) -> Severity:
    """Score one OSV severity entry; ValueError when the vector is malformed or of an unknown
    kind. Remembered: advisories of one scan share vectors, and the CVSS library is slow."""
    try:
        if entry.kind == "CVSS_V4":
            v4 = CVSS4(entry.vector)
            return Severity(
                _level(float(v4.base_score)), float(v4.base_score), entry.vector, "CVSSv4"
            )
        if entry.kind == "CVSS_V3":
            v3 = CVSS3(entry.vector)
            score = float(v3.scores()[0])
            method = "CVSSv31" if entry.vector.startswith("CVSS:3.1/") else "CVSSv3"
            return Severity(_level(score), score, entry.vector, method)
        if entry.kind == "CVSS_V2":
            score = float(CVSS2(entry.vector).scores()[0])
            return Severity(_level(score), score, entry.vector, "CVSSv2")
    except (CVSSError, ValueError, KeyError, IndexError) as e:
        kind, vector, why = excerpt(entry.kind), excerpt(entry.vector, 80), excerpt(e, 80)
        raise ValueError(f"malformed {kind} vector '{vector}': {why}") from e
    raise ValueError(f"unknown severity type '{excerpt(entry.kind)}'")


def severity_of(advisory: Advisory, notes: list[str] | None = None) -> Severity:
    """The advisory's severity; a vector that cannot be scored is noted and passed over."""
    scored: list[Severity] = []
    for entry in advisory.severity:
        try:
            scored.append(score_vector(entry))
        except ValueError as e:
            if notes is not None:
                notes.append(f"{advisory.id}: {e}; ignored")
    if scored:
        return max(scored, key=lambda s: s.score or 0.0)
    label = _LABELS.get((advisory.database_severity or "").strip().upper())
    if label is not None:
        return Severity(label, None, None, "database")
    return Severity("unknown")
