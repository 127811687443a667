"""The predicate types attest writes and the gate reads, each with a JSON Schema in
`verify/formats/schemas/`. A type not listed here is unknown, and unknown means deny."""

from __future__ import annotations

from typing import Any

from verify.errors import PolicyRefusal
from verify.formats import schema
from verify.text import quoted

PYPI_PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"
VULNS_V02 = "https://in-toto.io/attestation/vulns/v0.2"
SLO_STATUS_V1 = "https://attest-pipeline.github.io/attestation/slo-status/v1"
LINK_V03 = "https://in-toto.io/attestation/link/v0.3"
VSA_V1 = "https://slsa.dev/verification_summary/v1"
LOG_HEAD_V1 = "https://attest-pipeline.github.io/attestation/decision-log-head/v1"

SCHEMAS = {
    SLSA_PROVENANCE_V1: "slsa-provenance-v1.schema.json",
    CYCLONEDX_BOM: "cyclonedx-bom.schema.json",
    VULNS_V02: "vulns-v0.2.schema.json",
    SLO_STATUS_V1: "slo-status-v1.schema.json",
    LINK_V03: "link-v0.3.schema.json",
    VSA_V1: "vsa-v1.schema.json",
    LOG_HEAD_V1: "decision-log-head-v1.schema.json",
}

# The short names attest uses on the command line and in file names.
KINDS = {
    "provenance": SLSA_PROVENANCE_V1,
    "sbom": CYCLONEDX_BOM,
    "vulns": VULNS_V02,
    "slo": SLO_STATUS_V1,
    "build": LINK_V03,
}


def short(value: object, limit: int = 80) -> str:
    """A signer's text as a refusal may show it: at most `limit` characters, quoted (the gate
    escapes what it prints; here the size of a message is bounded, whatever was signed)."""
    return quoted(value, limit)


class InvalidAttestation(PolicyRefusal):
    """A statement or predicate that does not follow its format: deny."""


class UnknownPredicate(InvalidAttestation):
    """A statement of a predicate type the gate does not know: denied unless the policy says
    `unknown_predicates: ignore`."""


def check_predicate(predicate_type: str, predicate: dict[str, Any]) -> None:
    """Raise InvalidAttestation unless `predicate` is a valid predicate of a known type."""
    if predicate_type == PYPI_PUBLISH_V1:
        if predicate:
            raise InvalidAttestation(f"a {PYPI_PUBLISH_V1} statement carries no predicate")
        return
    if predicate_type not in SCHEMAS:
        raise UnknownPredicate(f"unknown predicate type {short(predicate_type)}")
    found = schema.problem(SCHEMAS[predicate_type], predicate)
    if found is not None:  # said from the schema's side: a signed value is never quoted
        raise InvalidAttestation(f"invalid {predicate_type} predicate at {found}")
