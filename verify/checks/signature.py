"""Checks on the bundles themselves: every bundle that concerns the artifact verifies; the
artifact carries a signature; its signers are ones the policy allows, k of n."""

from __future__ import annotations

from verify.certificate import Signer
from verify.checks import allowed, rule_failures
from verify.evidence import Evidence
from verify.interface import Check, Context, Outcome
from verify.policy import IdentityRule


class BundlesCheck(Check):
    """An unparsable, tampered or unknown bundle is a refusal, never silently skipped."""

    name = "bundles verify"
    order = 15

    def expect(self, context: Context) -> str:
        return "every bundle concerning the artifact parses and verifies against the trust root"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        total = len(evidence.signatures) + len(evidence.attestations)
        return Outcome(
            self.name,
            self.expect(context),
            f"{total} verified, {len(evidence.problems)} refused",
            tuple(f"{p.path.name}: {p.reason}" for p in evidence.problems),
        )


class SignatureCheck(Check):
    name = "signature"
    order = 20

    def applies(self, context: Context) -> bool:
        return context.policy.require.signature

    def expect(self, context: Context) -> str:
        return (
            "a verified <artifact>.sigstore.json (co-signatures: <artifact>.<name>.sigstore.json)"
        )

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        found = ", ".join(s.path.name for s in evidence.signatures)
        failures = () if found else (f"no verified signature bundle for {evidence.artifact.name}",)
        expected = f"a verified {evidence.artifact.name}.sigstore.json"
        return Outcome(self.name, expected, found or "none", failures)


class IdentityCheck(Check):
    """Signatures: at least k distinct identity rules satisfied. Attestations: every one that
    covers the artifact is signed by an allowed identity (others are not believed)."""

    name = "signer identity"
    order = 30

    def expect(self, context: Context) -> str:
        policy = context.policy
        if not policy.identities:
            return "an identity in the policy (it names none: every artifact is denied)"
        rules = "; ".join(r.label for r in policy.identities)
        signatures = f"signatures by {policy.k_of_n} of: " if policy.require.signature else ""
        return f"{signatures}{rules}; every attestation by one of them"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        policy = context.policy
        rules = policy.identities
        signers = [s.signer for s in evidence.signatures]
        actual = "; ".join(f"{s.identity} (issuer {s.issuer})" for s in signers) or "no signer"
        if not rules:
            failures = ("the policy names no identity: nothing can be allowed",)
            return Outcome(self.name, self.expect(context), actual, failures)
        return Outcome(
            self.name,
            self.expect(context),
            actual,
            (
                *self._signature_failures(signers, context),
                *self._attestation_failures(evidence, context),
            ),
        )

    def _signature_failures(self, signers: list[Signer], context: Context) -> list[str]:
        policy = context.policy
        if not policy.require.signature:
            return []
        rules = policy.identities
        satisfied = [r for r in rules if any(not rule_failures(r, s) for s in signers)]
        if len(satisfied) >= policy.k_of_n:
            return []
        failures = [
            f"{len(satisfied)} of the {len(rules)} identities signed, "
            f"the policy needs {policy.k_of_n}"
        ]
        return failures + [f"{s.identity}: {why}" for s in signers for why in _closest(rules, s)]

    def _attestation_failures(self, evidence: Evidence, context: Context) -> list[str]:
        return [
            f"{a.path.name} is signed by {a.signer.identity} (issuer {a.signer.issuer}), "
            "who the policy does not allow: "
            + "; ".join(_closest(context.policy.identities, a.signer))
            for a in evidence.attestations
            if not allowed(a.signer, context)
        ]


def _closest(rules: tuple[IdentityRule, ...], who: Signer) -> list[str]:
    """The reasons of the rule that came closest (fewest failures): the useful explanation."""
    reasons = [rule_failures(r, who) for r in rules]
    return min(reasons, key=len) if reasons else []
