"""in-toto Statement v1: subjects (name and sha256) and one predicate of a known type.

Parsing is strict: an unknown statement type, predicate type or predicate version, a subject
without a sha256 digest, or a predicate its model refuses is an `InvalidAttestation` — the gate
denies on it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from verify.errors import ExitCode, VerifyError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class InvalidAttestation(VerifyError):
    """A statement or predicate that does not follow its format: deny."""

    exit_code = ExitCode.DENIED


@dataclasses.dataclass(frozen=True)
class Subject:
    name: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


def _subject(data: object, where: str) -> Subject:
    if not isinstance(data, Mapping):
        raise InvalidAttestation(f"{where} is not an object")
    name, digest = data.get("name"), data.get("digest")
    if not isinstance(name, str) or not name:
        raise InvalidAttestation(f"{where} has no name")
    if not isinstance(digest, Mapping) or not isinstance(digest.get("sha256"), str):
        raise InvalidAttestation(f"{where} ({name}) has no sha256 digest")
    if not _SHA256.fullmatch(digest["sha256"]):
        raise InvalidAttestation(f"{where} ({name}) has a malformed sha256 digest")
    return Subject(name, digest["sha256"])


@dataclasses.dataclass(frozen=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: dict[str, Any]

    def __post_init__(self) -> None:
        from verify.attestations.predicates import check_predicate

        if not self.subjects:
            raise InvalidAttestation("a statement needs at least one subject")
        check_predicate(self.predicate_type, self.predicate)

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": self.predicate,
        }

    def to_json(self) -> bytes:
        """Canonical-enough bytes: sorted keys, no insignificant white space."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: object) -> Statement:
        if not isinstance(data, Mapping):
            raise InvalidAttestation("a statement must be a JSON object")
        if data.get("_type") != STATEMENT_TYPE:
            raise InvalidAttestation(f"unknown statement type {data.get('_type')!r}")
        unknown = set(data) - {"_type", "subject", "predicateType", "predicate"}
        if unknown:
            raise InvalidAttestation(f"unknown statement fields: {', '.join(sorted(unknown))}")
        subjects = data.get("subject")
        if not isinstance(subjects, list):
            raise InvalidAttestation("the statement's subject must be a list")
        predicate_type, predicate = data.get("predicateType"), data.get("predicate")
        if not isinstance(predicate_type, str):
            raise InvalidAttestation("the statement has no predicateType")
        if not isinstance(predicate, dict):
            raise InvalidAttestation("the statement's predicate must be an object")
        return cls(
            tuple(_subject(s, f"subject #{i}") for i, s in enumerate(subjects, start=1)),
            predicate_type,
            predicate,
        )

    @classmethod
    def from_json(cls, payload: bytes) -> Statement:
        try:
            return cls.from_dict(json.loads(payload))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidAttestation(f"the statement is not JSON: {e}") from e
        except RecursionError as e:  # nesting deeper than any statement needs
            raise InvalidAttestation("the statement is nested too deeply") from e

    def covers(self, sha256: str) -> bool:
        """Whether a subject carries this artifact digest (subject names are informative)."""
        return any(s.sha256 == sha256 for s in self.subjects)
