"""`require.vsa`: an upstream gate's verdict (a SLSA Verification Summary Attestation) believed
instead of re-checking the evidence it judged. The VSA's own bundle was verified like every
attestation (trust root, log, signer by `require.vsa.signer`, not after the judging instant);
here its content must name this artifact's exact digest, the named verifier, PASSED, the
pinned policy digest, the required levels, and a `timeVerified` neither after its bundle's
verified time (post-dated) nor older than `max_age`."""

from __future__ import annotations

from verify.evidence import Attestation, Evidence
from verify.formats.predicates import VSA_V1, InvalidAttestation
from verify.formats.vsa import PASSED, Vsa, satisfies
from verify.identity import rule_failures
from verify.interface import Check, Context, Outcome
from verify.policy import Vsa as VsaRule
from verify.policy import human
from verify.text import quoted


def problems(rule: VsaRule, attestation: Attestation, sha256: str, context: Context) -> list[str]:
    """Why this VSA does not vouch for the artifact `sha256` under `rule` (empty: it does)."""
    if not any(s.sha256 == sha256 for s in attestation.statement.subjects):
        return [f"no subject has the artifact's sha256 {sha256}"]
    try:
        vsa = Vsa.from_dict(attestation.statement.predicate)
    except InvalidAttestation as e:
        return [str(e)]
    found = []
    if vsa.verifier_id != rule.verifier:
        found.append(f"verifier {quoted(vsa.verifier_id, 100)} is not {rule.verifier!r}")
    if vsa.result != PASSED:
        found.append(f"verification result {quoted(vsa.result, 20)}, not {PASSED}")
    if rule.policy_sha256 and (vsa.policy.digest or {}).get("sha256") != rule.policy_sha256:
        found.append(f"its policy digest is not the pinned sha256 {rule.policy_sha256}")
    found += [
        f"level {level} not verified" for level in rule.levels if not satisfies(vsa.levels, level)
    ]
    return found + _time_problems(rule, vsa, attestation, context)


def _time_problems(
    rule: VsaRule, vsa: Vsa, attestation: Attestation, context: Context
) -> list[str]:
    """A VSA is as old as the earlier of its `timeVerified` and its bundle's verified time (log
    or timestamp, never after the judging instant): a `timeVerified` after the bundle is
    post-dated, and would keep it fresh for any `max_age` long after the verdict."""
    if vsa.time_verified > attestation.time:
        return [
            f"verified {vsa.time_verified.isoformat()}, after its bundle was signed "
            f"{attestation.time.isoformat()}: a post-dated VSA"
        ]
    since = min(vsa.time_verified, attestation.time)
    if rule.max_age is not None and context.now - since > rule.max_age:
        return [f"verified {since.isoformat()}, over {human(rule.max_age)} ago"]
    return []


class VsaCheck(Check):
    name = "verification summary"
    order = 36

    def applies(self, context: Context) -> bool:
        return context.policy.require.vsa is not None

    def expect(self, context: Context) -> str:
        rule = context.policy.require.vsa
        assert rule is not None
        levels = f", levels {', '.join(rule.levels)}" if rule.levels else ""
        return f"a PASSED VSA from verifier {rule.verifier}, signed by {rule.signer.label}{levels}"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        rule = context.policy.require.vsa
        assert rule is not None
        signed = [a for a in evidence.of_type(VSA_V1) if not rule_failures(rule.signer, a.signer)]
        why = {a.path.name: problems(rule, a, evidence.sha256, context) for a in signed}
        good = [name for name, found in why.items() if not found]
        failures: tuple[str, ...] = ()
        if not good:
            failures = tuple(f"{name}: {p}" for name, found in why.items() for p in found) or (
                f"no VSA signed by {rule.signer.label} covers it",
            )
        return Outcome(self.name, self.expect(context), ", ".join(good) or "none", failures)
