"""The built-in gate checks (registered in the `verify.checks` entry-point group) and what
they share: the attestations to believe. Every attestation in the evidence was verified with
the identity policy already (verify/evidence.py); `trusted` re-checks the signer against the
identities, so a publish workflow allowed for PEP 740 attestations only is believed for
nothing else."""

from __future__ import annotations

from verify import identity
from verify.certificate import Signer
from verify.evidence import Attestation, Evidence
from verify.interface import Context


def allowed(who: Signer, context: Context) -> bool:
    return identity.allowed(who, context.policy.identities)


def trusted(evidence: Evidence, context: Context, predicate_type: str) -> list[Attestation]:
    """The attestations of this type whose signer the policy allows: the only ones believed."""
    return [a for a in evidence.of_type(predicate_type) if allowed(a.signer, context)]


def names(attestations: list[Attestation]) -> str:
    return ", ".join(a.path.name for a in attestations) or "none"
