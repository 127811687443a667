"""Check: the trust root is one the policy accepts (a development root only with consent, and
not older than `max_trust_root_age`)."""

from __future__ import annotations

import datetime

from verify.evidence import Evidence
from verify.interface import Check, Context, Outcome
from verify.policy import TrustSpec, human
from verify.trust import Trust


class TrustRootCheck(Check):
    name = "trust root"
    order = 10

    def expect(self, context: Context) -> str:
        spec = context.policy.trust
        where = str(spec.trusted_root) if spec.trusted_root else f"the embedded {spec.name} root"
        consent = "development root allowed" if spec.allow_development_root else "not development"
        age = f", updated within {human(spec.max_age)}" if spec.max_age is not None else ""
        return f"{where} ({consent}){age}"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        trust = context.trust
        failures = trust_failures(trust, context.policy.trust, context.now)
        kind = "development" if trust.development else "not development"
        actual = f"{trust.name} ({kind}, sha256 {trust.sha256[:12]}…)"
        return Outcome(self.name, self.expect(context), actual, tuple(failures))


def trust_failures(trust: Trust, spec: TrustSpec, now: datetime.datetime) -> list[str]:
    """Why the policy does not accept `trust` at `now` (empty: it does); `attest release`
    asks before it signs."""
    failures = []
    if trust.development and not spec.allow_development_root:
        failures.append(
            "the trust root is the local development instance's; the policy does not allow "
            "it (trust.allow_development_root: true)"
        )
    if spec.max_age is not None:
        start = trust.newest_start
        if start is None or now - start > spec.max_age:
            failures.append(
                f"the trust root was last updated {start.isoformat() if start else 'never'}; "
                f"older than the policy's max_trust_root_age ({human(spec.max_age)})"
            )
    return failures
