"""Checks on the bundles themselves: every bundle that concerns the artifact verifies; the
artifact carries a signature; k distinct signers the policy allows signed it; a publish
attestation when the policy asks for one."""

from __future__ import annotations

from collections.abc import Iterable

from verify.certificate import Signer
from verify.checks import allowed, names
from verify.evidence import Evidence, Signed
from verify.formats import bundles
from verify.formats.predicates import PYPI_PUBLISH_V1
from verify.identity import rule_failures
from verify.interface import Check, Context, Outcome


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
        if context.images:
            return "a verified signature over the image's manifest digest among its referrers"
        return (
            "a verified <artifact>.sigstore.json (co-signatures: <artifact>.<name>.sigstore.json)"
        )

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        own = bundles.signature_name(evidence.artifact.name)
        found = ", ".join(s.path.name for s in evidence.signatures)
        actual = (found or "none") + _unread(evidence)
        if context.images:  # referrers are all alike: any verified one by an allowed signer
            failures: tuple[str, ...] = (
                ()
                if evidence.signatures
                else (
                    f"no verified signature of {evidence.artifact.name} among its referrers "
                    "(by an identity the policy allows)",
                )
            )
            return Outcome(self.name, self.expect(context), actual, failures)
        # the artifact's own bundle: a co-signature alone is no signature (k_of_n counts those)
        failures = (
            ()
            if any(s.path.name == own for s in evidence.signatures)
            else (
                f"no verified signature bundle for {evidence.artifact.name}: {own} is missing "
                "or refused (a co-signature alone is no signature)",
            )
        )
        return Outcome(self.name, f"a verified {own}", actual, failures)


def _unread(evidence: Evidence) -> str:
    """The co-signatures that could not be read, named (their reasons are the identity check's
    when the count falls short): a note, never a denial."""
    names = [p.path.name for p in evidence.unread]
    if not names:
        return ""
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"; not counted: {', '.join(names[:5])}{more}"


class IdentityCheck(Check):
    """At least k DISTINCT signers (issuer and identity of verified certificates, a workflow's
    ref aside) that the policy allows: two rules one signer satisfies, one signer's two
    bundles, or one workflow run on two refs, are one.
    Every signature was judged by the identity policy while it was verified; judged again
    here, so the count holds whatever evidence a caller builds."""

    name = "signer identity"
    order = 30

    def applies(self, context: Context) -> bool:
        return context.policy.require.signature

    def expect(self, context: Context) -> str:
        policy = context.policy
        if not policy.identities:
            return "an identity in the policy (it names none: every artifact is denied)"
        rules = "; ".join(r.label for r in policy.identities)
        return f"signatures by {policy.k_of_n} distinct signer(s) of: {rules}"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        policy = context.policy
        signers = distinct_signers(s for s in evidence.signatures if allowed(s.signer, context))
        actual = "; ".join(f"{s.identity} (issuer {s.issuer})" for s in signers) or "no signer"
        if not policy.identities:
            failures: tuple[str, ...] = ("the policy names no identity: nothing can be allowed",)
        elif len(signers) >= policy.k_of_n:
            failures = ()
        else:
            failures = (
                f"{len(signers)} distinct allowed signer(s), the policy needs {policy.k_of_n}",
                *(f"{p.path.name}: {p.reason}" for p in (*evidence.uncounted, *evidence.unread)),
            )
        return Outcome(self.name, self.expect(context), actual, failures)


def signer_key(who: Signer) -> tuple[str, str]:
    """Who a signer is, for counting: the issuer and the identity up to a workflow's ref. A CI
    workflow's identity ends with the ref it ran on (`…/release.yml@refs/tags/v1`), and a ref
    may itself hold `@refs/` (tag `v1@refs/x` is valid): everything from the FIRST `@refs/` is
    cut, so one workflow on any refs is one signer (a name that merely contains `@refs/` can
    only be counted as fewer signers, never more)."""
    return who.issuer, who.identity.split("@refs/", 1)[0]


def distinct_signers(signatures: Iterable[Signed]) -> list[Signer]:
    """One signer per `signer_key`, in the order first seen."""
    found: dict[tuple[str, str], Signer] = {}
    for signature in signatures:
        found.setdefault(signer_key(signature.signer), signature.signer)
    return list(found.values())


class PublishCheck(Check):
    """A PEP 740 publish attestation for the artifact, signed by the publishing workflow that
    `require.publish` names (pypi-attestations' `<dist>.publish.attestation`, or a bundle)."""

    name = "publish attestation"
    order = 35

    def applies(self, context: Context) -> bool:
        return context.policy.require.publish is not None

    def expect(self, context: Context) -> str:
        rule = context.policy.require.publish
        assert rule is not None
        return f"a PEP 740 publish attestation signed by {rule.label}"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        rule = context.policy.require.publish
        assert rule is not None
        found = [a for a in evidence.of_type(PYPI_PUBLISH_V1) if not rule_failures(rule, a.signer)]
        failures = () if found else ("no publish attestation by the publishing workflow",)
        return Outcome(self.name, self.expect(context), names(found), failures)
