"""Who may sign: whether a verified certificate's signer satisfies an identity rule of the
policy, with the reasons when it does not. Used while a bundle is verified (the sigstore
verification policy below), so no signature is ever verified without being judged, and by the
checks that explain and count signers."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from sigstore.errors import VerificationError

from verify.certificate import Signer, signer
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
    return failures + _github_failures(rule, who)


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
    for name, pattern in (
        ("build_signer_uri", ext.build_signer_pattern),
        ("build_config_uri", ext.build_config_pattern),
    ):
        value = got.get(name)
        if pattern is not None and (value is None or not pattern.fullmatch(value)):
            failures.append(
                f"certificate {_SHOWN_AS[name]} {value!r} does not match {pattern.pattern!r}"
            )
    for name, allowed in (("trigger", ext.trigger), ("runner_environment", ext.runner_environment)):
        if allowed and got.get(name) not in allowed:
            failures.append(
                f"certificate {name.replace('_', ' ')} {got.get(name)!r} is not one of "
                f"{', '.join(allowed)}"
            )
    return failures


def _github_failures(rule: IdentityRule, who: Signer) -> list[str]:
    """A `github` rule's workflow ran in its repository and, without `signer_workflow`, ran
    itself: a workflow of another repository calling ours as a reusable one signs with our
    workflow's identity, and only these extensions tell. A certificate without them proves
    neither, so it satisfies no `github` rule."""
    ext, got, failures = rule.extensions, who.extensions, []
    repository, config = got.get("source_repository"), got.get("build_config_uri")
    if ext.repository is not None and repository != ext.repository:
        failures.append(
            f"certificate source repository {repository!r} is not {ext.repository!r}: "
            "the workflow ran in another repository"
            if repository is not None
            else f"the certificate names no source repository ({_OID}12), which a github rule "
            "requires"
        )
    if ext.ran_itself and config != who.identity:
        failures.append(
            f"certificate build config URI (the calling workflow) {config!r} is not its "
            "identity: another workflow called it as a reusable workflow (name that caller in "
            "`github` and this one as `signer_workflow`)"
            if config is not None
            else f"the certificate names no build config URI ({_OID}18), which a github rule "
            "requires: nothing shows that no other workflow called it"
        )
    return failures


_OID = "1.3.6.1.4.1.57264.1."
_SHOWN_AS = {
    "build_signer_uri": "build signer URI (the workflow that signed)",
    "build_config_uri": "build config URI (the calling workflow)",
}


def allowed(who: Signer, rules: Sequence[IdentityRule]) -> bool:
    return any(not rule_failures(rule, who) for rule in rules)


def closest(rules: Sequence[IdentityRule], who: Signer) -> list[str]:
    """The reasons of the rule that came closest (fewest failures): the useful explanation."""
    reasons = [rule_failures(r, who) for r in rules]
    return min(reasons, key=len) if reasons else ["the policy names no identity"]


class NotAllowed(VerificationError):
    """The bundle verifies, but its signer is not one the policy allows."""

    def __init__(self, who: Signer, reasons: list[str]) -> None:
        super().__init__(
            f"signed by {who.identity!r} (issuer {who.issuer!r}), who the policy does not "
            f"allow: {'; '.join(reasons)}"
        )
        self.signer = who


class IdentityPolicy:
    """A sigstore verification policy that accepts a certificate only when its signer satisfies
    at least one of `rules`: an empty rule list accepts nobody."""

    def __init__(self, rules: Sequence[IdentityRule]) -> None:
        self.rules = tuple(rules)

    def verify(self, cert: x509.Certificate) -> None:
        who = signer(cert)
        if not allowed(who, self.rules):
            raise NotAllowed(who, closest(self.rules, who))
