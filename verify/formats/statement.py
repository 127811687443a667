"""in-toto Statement v1 (the DSSE payload of type `application/vnd.in-toto+json`) and its
resource descriptor: the one model attest signs statements from and the gate reads them into.

Parsing is strict: an unknown statement type, predicate type or predicate version, a subject
without a digest the gate can compute, or a predicate its model refuses is an
`InvalidAttestation` — the gate denies on it. Schema: schemas/in-toto-statement-v1.schema.json.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from verify.formats import strict_json
from verify.formats.predicates import PYPI_PUBLISH_V1, InvalidAttestation, check_predicate, short

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
# The digests a subject may name the artifact by, and their hex lengths: sha256 and stronger.
DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")


# A statement's objects and lists, at most: a 10 MiB inline SBOM has a few hundred thousand;
# counted in the bytes before parsing, so `[{},{},...]` never builds millions of objects.
MAX_CONTAINERS = 1_000_000


def too_many_containers(payload: bytes) -> bool:
    return payload.count(b"{") + payload.count(b"[") > MAX_CONTAINERS


@dataclasses.dataclass(frozen=True)
class ResourceDescriptor:
    """in-toto's ResourceDescriptor, as predicates carry them (SLSA's resolved dependencies and
    byproducts, a link's materials): each field present or None."""

    uri: str | None = None
    digest: dict[str, str] | None = None
    name: str | None = None
    download_location: str | None = None
    media_type: str | None = None
    content: str | None = None
    annotations: dict[str, Any] | None = None

    _JSON = (
        ("uri", "uri"),
        ("digest", "digest"),
        ("name", "name"),
        ("downloadLocation", "download_location"),
        ("mediaType", "media_type"),
        ("content", "content"),
        ("annotations", "annotations"),
    )

    def to_dict(self) -> dict[str, Any]:
        fields = ((key, getattr(self, attribute)) for key, attribute in self._JSON)
        return {key: value for key, value in fields if value is not None}

    @classmethod
    def from_dict(cls, data: object, where: str) -> ResourceDescriptor:
        """A descriptor its predicate's schema has accepted; anything else is refused."""
        if not isinstance(data, Mapping) or set(data) - {key for key, _ in cls._JSON}:
            raise InvalidAttestation(f"{where} is not a resource descriptor")
        values = {attribute: data.get(key) for key, attribute in cls._JSON}
        for attribute in ("digest", "annotations"):
            if values[attribute] is not None and not isinstance(values[attribute], dict):
                raise InvalidAttestation(f"{where}: {attribute} is not an object")
        for attribute in ("uri", "name", "download_location", "media_type", "content"):
            if values[attribute] is not None and not isinstance(values[attribute], str):
                raise InvalidAttestation(f"{where}: {attribute} is not text")
        return cls(**values)


def resources(data: object, where: str) -> tuple[ResourceDescriptor, ...] | None:
    """A list of resource descriptors, or None when absent."""
    if data is None:
        return None
    if not isinstance(data, list):
        raise InvalidAttestation(f"{where} is not a list")
    return tuple(ResourceDescriptor.from_dict(d, f"{where} #{i}") for i, d in enumerate(data, 1))


@dataclasses.dataclass(frozen=True)
class Subject:
    """A subject, by name and by every digest of an algorithm in DIGESTS it carries (other
    digests, e.g. gitCommit, are not the artifact's and are left out)."""

    name: str
    sha256: str | None
    others: tuple[tuple[str, str], ...] = ()  # (algorithm, hex) for sha384 and sha512

    @property
    def digests(self) -> frozenset[tuple[str, str]]:
        found = set(self.others)
        if self.sha256 is not None:
            found.add(("sha256", self.sha256))
        return frozenset(found)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": dict(sorted(self.digests))}


def _subject(data: object, where: str) -> Subject:
    if not isinstance(data, Mapping):
        raise InvalidAttestation(f"{where} is not an object")
    name, digest = data.get("name"), data.get("digest")
    if not isinstance(name, str) or not name:
        raise InvalidAttestation(f"{where} has no name")
    if not isinstance(digest, Mapping):
        raise InvalidAttestation(f"{where} ({short(name)}) has no digest")
    found: dict[str, str] = {}
    for algorithm, length in DIGESTS.items():
        if algorithm not in digest:
            continue
        value = digest[algorithm]
        if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
            raise InvalidAttestation(f"{where} ({short(name)}) has a malformed {algorithm} digest")
        found[algorithm] = value
    if not found:
        raise InvalidAttestation(
            f"{where} ({short(name)}) has no digest the gate can match ({', '.join(DIGESTS)})"
        )
    sha256 = found.pop("sha256", None)
    return Subject(name, sha256, tuple(sorted(found.items())))


@dataclasses.dataclass(frozen=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: dict[str, Any]

    def __post_init__(self) -> None:
        if not self.subjects:
            raise InvalidAttestation("a statement needs at least one subject")
        check_predicate(self.predicate_type, self.predicate)

    def to_dict(self) -> dict[str, Any]:
        # PEP 740's publish statement carries no predicate: null, as pypi-attestations writes it
        bare = self.predicate_type == PYPI_PUBLISH_V1 and not self.predicate
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": None if bare else self.predicate,
        }

    def to_json(self) -> bytes:
        """Canonical-enough bytes: sorted keys, no insignificant white space."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: object) -> Statement:
        if not isinstance(data, Mapping):
            raise InvalidAttestation("a statement must be a JSON object")
        if data.get("_type") != STATEMENT_TYPE:
            raise InvalidAttestation(f"unknown statement type {short(data.get('_type'))}")
        unknown = set(data) - {"_type", "subject", "predicateType", "predicate"}
        if unknown:
            names = ", ".join(short(k, 32).strip("'\"") for k in sorted(unknown)[:5])
            raise InvalidAttestation(f"unknown statement fields: {names}")
        subjects = data.get("subject")
        if not isinstance(subjects, list):
            raise InvalidAttestation("the statement's subject must be a list")
        predicate_type, predicate = data.get("predicateType"), data.get("predicate")
        if not isinstance(predicate_type, str):
            raise InvalidAttestation("the statement has no predicateType")
        if predicate is None and predicate_type == PYPI_PUBLISH_V1:
            predicate = {}  # PEP 740's publish statement has none; the model keeps an object
        if not isinstance(predicate, dict):
            raise InvalidAttestation("the statement's predicate must be an object")
        return cls(
            tuple(_subject(s, f"subject #{i}") for i, s in enumerate(subjects, start=1)),
            predicate_type,
            predicate,
        )

    @classmethod
    def from_json(cls, payload: bytes) -> Statement:
        if too_many_containers(payload):
            raise InvalidAttestation(
                f"the statement holds more than {MAX_CONTAINERS:,} JSON objects and lists"
            )
        try:
            data = strict_json.loads(payload)
        except strict_json.TooDeep as e:
            raise InvalidAttestation("the statement is nested too deeply") from e
        except strict_json.NotJson as e:  # a repeated key, a 5,000-digit number too
            raise InvalidAttestation(f"the statement is not JSON: {e}") from e
        try:
            return cls.from_dict(data)
        except RecursionError as e:  # nesting its schema's validator cannot walk
            raise InvalidAttestation("the statement is nested too deeply") from e

    @property
    def digests(self) -> frozenset[tuple[str, str]]:
        """Every (algorithm, hex) digest its subjects name: what it covers (names inform)."""
        return frozenset(d for s in self.subjects for d in s.digests)


def claimed_digests(payload: bytes) -> frozenset[tuple[str, str]]:
    """The digests a statement CLAIMS to cover, read without trusting or judging it: only to
    decide which artifact a refused attestation concerns. Unreadable, it claims nothing."""
    if too_many_containers(payload):
        return frozenset()
    try:  # read leniently (a repeated key, a 5,000-digit number, read as text): a statement
        # refused for either still denies what it names, as every other refused statement does
        statement: Any = json.loads(payload, parse_int=str)
        return frozenset(
            (algorithm, value)
            for subject in statement["subject"]
            for algorithm, value in subject["digest"].items()
            if algorithm in DIGESTS and isinstance(value, str)
        )
    except Exception:  # unreadable: it claims nothing by content
        return frozenset()
