"""The built-in gate checks (registered in the `verify.checks` entry-point group) and what
they share: whether a signer satisfies an identity rule, and the attestations to believe."""

from __future__ import annotations

from verify.certificate import Signer
from verify.evidence import Attestation, Evidence
from verify.interface import Context
from verify.policy import IdentityRule


def rule_failures(rule: IdentityRule, who: Signer) -> list[str]:
    """Why `who` does not satisfy `rule` (empty: it does). Patterns match the WHOLE identity."""
    failures = []
    if who.issuer != rule.issuer:
        failures.append(f"issuer {who.issuer!r} is not {rule.issuer!r}")
    if rule.subject is not None and who.identity != rule.subject:
        failures.append(f"identity {who.identity!r} is not {rule.subject!r}")
    elif rule.subject_pattern is not None and not rule.matches_subject(who.identity):
        partial = rule.subject_pattern.search(who.identity) is not None
        failures.append(
            f"identity {who.identity!r} does not match the pattern {rule.subject_pattern.pattern!r}"
            + (" (it matches only part of it; patterns are anchored)" if partial else "")
        )
    failures += _extension_failures(rule, who)
    return failures


def _extension_failures(rule: IdentityRule, who: Signer) -> list[str]:
    ext, got = rule.extensions, who.extensions
    failures = []
    if ext.source_repository is not None and got.get("source_repository") != ext.source_repository:
        failures.append(
            f"certificate source repository {got.get('source_repository')!r} "
            f"is not {ext.source_repository!r}"
        )
    ref = got.get("source_ref")
    if ext.source_ref_pattern is not None and (
        ref is None or not ext.source_ref_pattern.fullmatch(ref)
    ):
        failures.append(
            f"certificate source ref {ref!r} does not match {ext.source_ref_pattern.pattern!r}"
        )
    for name, allowed in (("trigger", ext.trigger), ("runner_environment", ext.runner_environment)):
        if allowed and got.get(name) not in allowed:
            failures.append(
                f"certificate {name.replace('_', ' ')} {got.get(name)!r} is not one of "
                f"{', '.join(allowed)}"
            )
    return failures


def allowed(who: Signer, context: Context) -> bool:
    return any(not rule_failures(rule, who) for rule in context.policy.identities)


def trusted(evidence: Evidence, context: Context, predicate_type: str) -> list[Attestation]:
    """The attestations of this type whose signer the policy allows: the only ones believed."""
    return [a for a in evidence.of_type(predicate_type) if allowed(a.signer, context)]


def names(attestations: list[Attestation]) -> str:
    return ", ".join(a.path.name for a in attestations) or "none"
