"""The gate's verdict on a release before it is signed: the statements `attest release` is about
to sign, as the signer its identity token will get, with the evidence already beside the
artifacts, judged by the gate's own checks at the release's instant. Whatever the gate would
deny for want of evidence or by a rule of the policy is refused here, while the transparency
log holds nothing of the release; the gate step after signing judges the same statements."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from attest.sign import pep740
from verify import gate
from verify.certificate import Signer
from verify.digests import digest_file
from verify.errors import PolicyRefusal
from verify.evidence import Attestation, Collector, Evidence, Signed
from verify.formats import bundles
from verify.formats.statement import Statement
from verify.oci import gate as oci_gate
from verify.oci.evidence import over_limit
from verify.policy import Policy
from verify.trust import Trust

# What the release cannot make itself, said beside the gate's words when that check fails.
_HINTS = {
    "signer identity": "one release is one certificate, one signer: for k_of_n above 1 the "
    "other signers' co-signatures must be beside the artifacts before it",
    "build link": "attest release records no build link (require.build_link): run `attest "
    "build` first, its link beside the artifacts",
}
_IMAGE_HINTS = {
    "publish attestation": "an image has no PEP 740 attestation (a wheel's or sdist's, for "
    "PyPI): a policy for images cannot require one",
}
# The gate step judges at the signing time, after `now`: the rehearsal judges as late as a
# signing session lasts (a Sigstore certificate's ten minutes), so what time makes stricter
# (an age limit, a waiver's expiry, a due date) is refused before signing, not after.
SESSION = datetime.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True)
class Planned:
    """A bundle the release will write: where, of which kind, and the statement it signs
    (None: an artifact's signature)."""

    path: Path
    kind: str = "signature"
    statement: Statement | None = None


def planned(artifacts: tuple[Path, ...], publish: bool, made: list[Planned]) -> list[Planned]:
    """Every bundle of the release: the artifacts' signatures, the PEP 740 attestation of each
    wheel and sdist (of every artifact when `publish`: pep740.distribution refuses a file that
    is neither, before signing), and the attestations in `made`."""
    found = [Planned(bundles.signature_path(a)) for a in artifacts]
    found += [
        Planned(
            bundles.publish_attestation_path(a),
            "publish",
            pep740.statement(pep740.distribution(a, digest_file(a)["sha256"])),
        )
        for a in artifacts
        if publish or pep740.is_distribution(a)
    ]
    return found + made


def _evidence(
    existing: Evidence, plan: list[Planned], who: Signer, now: datetime.datetime
) -> Evidence:
    """The artifact's evidence once the release is signed: what is beside it now, less what the
    release overwrites, and the release's own bundles, made at `now` by `who`."""
    replaced = {p.path for p in plan}
    own = bundles.signature_name(existing.artifact.name)
    signatures = [
        Signed(p.path, who, now) for p in plan if p.statement is None and p.path.name == own
    ]
    attestations = [
        Attestation(p.path, who, now, p.statement)
        for p in plan
        if p.statement is not None
        and any(s.sha256 == existing.sha256 for s in p.statement.subjects)
    ]
    return dataclasses.replace(
        existing,
        signatures=(*(s for s in existing.signatures if s.path not in replaced), *signatures),
        attestations=(
            *(a for a in existing.attestations if a.path not in replaced),
            *attestations,
        ),
        problems=tuple(p for p in existing.problems if p.path not in replaced),
        uncounted=tuple(p for p in existing.uncounted if p.path not in replaced),
    )


def rehearse(
    artifacts: tuple[Path, ...],
    policy: Policy,
    plan: list[Planned],
    who: Signer,
    now: datetime.datetime,
    trust: Trust,
    *,
    names: list[str] | None = None,
    images: bool = False,
) -> str:
    """PolicyRefusal naming each artifact the gate would deny once `plan` is signed, and why,
    by the policy's `trust` root as the checks read it; else what it would allow. `names`:
    the artifacts' names in the message (their file names unless given); `images`: they are
    image manifests staged by verify.oci.gate."""
    collector = Collector(trust.root, policy, _read_at(now))
    algorithms = collector.algorithms(artifacts)
    existing = [collector.collect(a, digest_file(a, algorithms)) for a in artifacts]
    names = names or [a.name for a in artifacts]
    return _verdict(existing, names, policy, plan, who, now, trust, images)


def rehearse_images(
    pinned: list[str],
    policy: Policy,
    plan: list[Planned],
    who: Signer,
    now: datetime.datetime,
    trust: Trust,
) -> str:
    """As `rehearse`, for images by digest: their referrers in the registry now, and the
    release's own bundles, judged as the gate judges an image. RegistryError (exit 3) when
    the referrers there and those the release would push are more than the gate reads: the
    gate step would refuse what the release had logged and pushed."""
    with oci_gate.staged(pinned) as staged:
        for s in staged:
            over_limit(s.name, s.referrers, _planned_for(s.file.name, plan))
        files, names = tuple(s.file for s in staged), [s.name for s in staged]
        return rehearse(files, policy, plan, who, now, trust, names=names, images=True)


def _planned_for(digest: str, plan: list[Planned]) -> int:
    """How many of the planned bundles are pushed as referrers of the image `digest`: its
    signature and each attestation naming it."""
    own = bundles.signature_name(digest)
    return sum(
        p.path.name == own
        if p.statement is None
        else any(s.sha256 == digest.removeprefix("sha256:") for s in p.statement.subjects)
        for p in plan
    )


def _read_at(now: datetime.datetime) -> datetime.datetime:
    """What is beside the artifacts exists before the release is signed: read as of the real
    time (no log's clock is ahead of it: a local instance's may be behind), judged at `now`."""
    return max(now, datetime.datetime.now(datetime.timezone.utc))


def _verdict(
    existing: list[Evidence],
    names: list[str],
    policy: Policy,
    plan: list[Planned],
    who: Signer,
    now: datetime.datetime,
    trust: Trust,
    images: bool,
) -> str:
    evidence = [_evidence(e, plan, who, now) for e in existing]
    judged_at = now + SESSION
    decisions = gate.judge(evidence, policy, judged_at, trust, images=images)
    hints = {**_HINTS, **(_IMAGE_HINTS if images else {})}
    denied = [(n, d) for n, d in zip(names, decisions, strict=True) if not d.allowed]
    if denied:
        reasons = "; ".join(
            f"{name}: "
            + ", ".join(
                f"{o.name} ({'; '.join(o.failures)})"
                + (f" [{hints[o.name]}]" if o.name in hints else "")
                for o in d.outcomes
                if not o.passed
            )
            for name, d in denied
        )
        raise PolicyRefusal(
            f"{policy.origin}: the gate would deny the release once signed: {reasons} "
            f"(judged at {judged_at:%Y-%m-%dT%H:%M:%SZ}, --now and a signing session's 10 "
            "minutes); nothing was signed"
        )
    return f"the gate would allow {len(names)} artifact(s) under {policy.origin}"
