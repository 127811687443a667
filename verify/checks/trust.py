"""Check: the trust root is one the policy accepts (a development root only with consent, and
not older than `max_trust_root_age`)."""

from __future__ import annotations

import datetime

from verify.evidence import Evidence
from verify.interface import Check, Context, Outcome
from verify.policy import TrustSpec, human
from verify.trust import Trust


def _too_old(
    trust: Trust, fresh: datetime.datetime | None, now: datetime.datetime, limit: datetime.timedelta
) -> str:
    """What an old root is, and what to do: the gate is offline, so only a person can fix it."""
    if fresh is None:
        age = "of no known age (it names no validFor.start and was never updated)"
    else:
        age = f"{(now - fresh).days} days old (current as of {fresh.isoformat()})"
    return (
        f"the trust root is {age}, older than the policy's max_trust_root_age "
        f"({human(limit)}); {trust.update_hint()}"
    )


def _where(spec: TrustSpec, trust: Trust | None) -> str:
    """The root the policy names, as it will be read (`trust` is None for --explain-policy)."""
    if spec.trusted_root:
        return str(spec.trusted_root)
    if trust is None:
        return (
            f"the {spec.name} root (as `attest trust update` refreshed it, else the embedded one)"
        )
    if trust.refreshed is None:
        return f"the embedded {spec.name} root"
    when = trust.updated.isoformat() if trust.updated else "by another TUF client"
    return f"the {spec.name} root refreshed through TUF ({trust.refreshed}, updated {when})"


class TrustRootCheck(Check):
    name = "trust root"
    order = 10

    def expect(self, context: Context) -> str:
        spec = context.policy.trust
        where = _where(spec, context.trust)
        consent = "development root allowed" if spec.allow_development_root else "not development"
        age = f", updated within {human(spec.max_age)}" if spec.max_age is not None else ""
        return f"{where} ({consent}){age}"

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        trust = context.trust
        failures = trust_failures(trust, context.policy.trust, context.now)
        kind = "development" if trust.development else "not development"
        actual = f"{trust.origin or trust.name} ({kind}, sha256 {trust.sha256[:12]}…)"
        if trust.note:
            actual += f"; note: {trust.note}"
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
        fresh = trust.fresh_at(now)
        if fresh is None or now - fresh > spec.max_age:
            failures.append(_too_old(trust, fresh, now, spec.max_age))
    return failures
