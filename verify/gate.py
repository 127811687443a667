"""The gate as a library: load the policy's trust root once, collect and verify the evidence of
every artifact, run every applicable check and decide. Refusals are data (a `Decision`); only
configuration and operational problems raise."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verify import __version__, deadline, logs
from verify.certificate import Signer
from verify.digests import Digests, digest_file
from verify.errors import AttestError, OperationalError, PluginError
from verify.evidence import Collector, Evidence, Problem
from verify.files import named_pseudo_root
from verify.formats.vsa import gate_levels
from verify.interface import Check, Context, Outcome
from verify.plugins import GATE_CHECKS, ClassRegistry, failure, gate_checks
from verify.policy import Policy, human
from verify.trust import Trust, load_trust

_log = logs.get(__name__)

if TYPE_CHECKING:
    from verify.osv.database import Database


@dataclasses.dataclass(frozen=True, slots=True)  # slots: a run holds one per artifact
class Decision:
    artifact: Path
    sha256: str
    outcomes: tuple[Outcome, ...]
    signers: tuple[dict[str, object], ...]
    mode: str
    inputs: tuple[tuple[str, str], ...] = ()  # (bundle name, its sha256): what was judged

    @property
    def allowed(self) -> bool:
        """An empty set never allows: no outcome is no allow (`decide` refuses to make one)."""
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def verdict(self) -> str:
        return "ALLOW" if self.allowed else "DENY"

    @property
    def levels(self) -> list[str]:
        """The SLSA levels an allow verified (a VSA's `verifiedLevels`): signed provenance from
        an allowed signer is build level 1 (that a hosted platform built it is not proven)."""
        if not self.allowed:
            return []
        return gate_levels(o.name for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": {
                "name": self.artifact.name,
                "path": str(self.artifact),
                "sha256": self.sha256,
            },
            "decision": self.verdict,
            "mode": self.mode,
            "signers": list(self.signers),
            "checks": [o.to_dict(i) for i, o in enumerate(self.outcomes, start=1)],
            "inputs": [{"name": name, "sha256": sha} for name, sha in self.inputs],
            "levels": self.levels,
        }


@dataclasses.dataclass(frozen=True)
class Run:
    """All the decisions of one invocation, with what they were judged against."""

    policy: Policy
    trust: Trust
    now: datetime.datetime
    decisions: tuple[Decision, ...]
    plugins: tuple[str, ...] = ()  # the check plugins that ran: "name (distribution version)"
    unjudged: tuple[Problem, ...] = ()  # bundles read that concern no artifact judged

    @property
    def allowed(self) -> bool:
        return bool(self.decisions) and all(d.allowed for d in self.decisions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verifier": {"name": "attest verify", "version": __version__},
            "time": self.now.isoformat(),
            "mode": self.policy.mode,
            "policy": {"path": self.policy.origin, "sha256": self.policy.sha256},
            "trust_root": {"name": self.trust.name, "sha256": self.trust.sha256},
            "check_plugins": list(self.plugins),
            "allowed": self.allowed,
            "decisions": [d.to_dict() for d in self.decisions],
            "unjudged": [{"path": str(p.path), "why": p.reason} for p in self.unjudged],
        }


def check_plugins(registry: ClassRegistry[Check] | None = None) -> tuple[str, ...]:
    """Which distribution provided each check, for the record (read without importing), as
    `registry` found them (the scan the checks were loaded by), else as installed now."""
    found = (registry if registry is not None else gate_checks()).describe()
    return tuple(f"{p.name} ({p.distribution} {p.version})" for p in found)


class NoChecks(OperationalError):
    """No check is installed, or none applied to an artifact: nothing was judged, so nothing
    may be allowed (an operational error of the installation, never an allow)."""


class UnloadableCheck(OperationalError):
    """An installed check does not load: the gate runs every installed check or decides
    nothing, since one skipped would judge with less than the installation promises."""


class CheckFailed(OperationalError):
    """A check raised instead of answering (a plugin's `sys.exit()` included): what it would
    have said is unknown, so nothing is judged."""


class _answering:
    """A check that raises anything but an error of the contract ends the run as CheckFailed
    naming it: a plugin's `sys.exit(0)` ended `attest verify` with exit 0 and no verdict. A
    class, not a generator: it wraps every check of every artifact."""

    __slots__ = ("check", "doing")

    def __init__(self, check: str, doing: str) -> None:
        self.check, self.doing = check, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, _: Any) -> None:
        if e is None or isinstance(e, (*deadline.PASSING, AttestError)):
            return  # nothing raised, or raised as it is
        raise CheckFailed(
            f"gate check {self.check!r} failed {self.doing}: {failure(e)}; nothing is judged, "
            "so nothing is allowed: fix or uninstall that plugin"
        ) from e


def checks(registry: ClassRegistry[Check] | None = None) -> list[Check]:
    """Every installed check (built-ins included), in their order; NoChecks when there is none,
    UnloadableCheck naming the first that does not load, CheckFailed one that cannot start.
    `registry`: the scan of the entry points to load them by, else one made now."""
    registry = registry if registry is not None else gate_checks()
    found = []
    for name in registry.names():
        try:
            with _answering(name, "to start"):
                found.append(registry.load(name)())
        except PluginError as e:
            raise UnloadableCheck(
                f"gate check {e}; every installed check must run, so nothing is judged: "
                "fix or uninstall that plugin"
            ) from e
    if not found:
        raise NoChecks(
            f"no gate check is installed (entry-point group {GATE_CHECKS} is empty): "
            "nothing can be judged, so nothing is allowed; reinstall attest"
        )
    return sorted(found, key=lambda c: (c.order, c.name))


def trust_for(policy: Policy) -> Trust:
    spec = policy.trust
    return load_trust(spec.name, spec.trusted_root)


class _Shared:
    """Equal parts of many decisions, held once: a release's decisions repeat the same texts,
    signers and passing outcomes (each kept anew, 10,000 decisions held 30 MiB)."""

    def __init__(self) -> None:
        self._outcomes: dict[Outcome, Outcome] = {}
        self._signers: dict[tuple[object, ...], dict[str, object]] = {}
        self._tuples: dict[tuple[int, ...], tuple[dict[str, object], ...]] = {}

    def outcome(self, outcome: Outcome) -> Outcome:
        try:
            return self._outcomes.setdefault(outcome, outcome)
        except TypeError:  # a plugin's outcome holding a list: kept as it is
            return outcome

    def signer(self, who: Signer) -> dict[str, object]:
        key = (who.identity, who.issuer, *sorted(who.extensions.items()))
        return self._signers.setdefault(key, who.to_dict())

    def signers(self, who: Iterable[Signer]) -> tuple[dict[str, object], ...]:
        """A decision's signers, the tuple too held once (keyed by the identities of the dicts
        in it, which this object holds: a dict is unhashable)."""
        signers = tuple(self.signer(s) for s in who)
        return self._tuples.setdefault(tuple(map(id, signers)), signers)


def _decide(
    evidence: Evidence, context: Context, installed: list[Check], shared: _Shared | None = None
) -> Decision:
    shared = shared or _Shared()
    outcomes = []
    doing = f"judging {evidence.artifact.name!r}"
    for check in installed:
        with _answering(check.name, doing):
            if check.applies(context):
                outcomes.append(shared.outcome(check.run(evidence, context)))
    if not outcomes:
        raise NoChecks(
            f"no installed check applies to {evidence.artifact.name!r} under this policy: "
            "nothing was judged, so nothing is allowed"
        )
    return Decision(
        evidence.artifact,
        evidence.sha256,
        tuple(outcomes),
        shared.signers(s.signer for s in evidence.signatures),
        context.policy.mode,
        evidence.inputs,
    )


def judge(
    evidence: Sequence[Evidence],
    policy: Policy,
    now: datetime.datetime,
    trust: Trust,
    installed: Sequence[Check] | None = None,
    *,
    images: bool = False,
) -> list[Decision]:
    """The decisions on evidence the caller assembled, by the same checks as `decide`, by the
    `trust` root the caller read: `attest release` judges the release it is about to sign,
    before signing it. `installed`: `checks()` as the caller already loaded them (the webhook,
    once per process: reading the entry points cost 3/4 of a review). `images`: as `decide`'s
    (the webhook judges image manifests by the rule `attest verify oci://` does)."""
    context = Context(policy, trust, now, images=images)
    installed = list(installed) if installed is not None else checks()
    shared = _Shared()
    return [_decide(e, context, installed, shared) for e in evidence]


@logs.timed(_log, "gate")
def decide(
    artifacts: Sequence[Path],
    policy: Policy,
    now: datetime.datetime,
    attestations: Path | None = None,
    *,
    decision_limit: float | None = None,
    advisories: Database | None = None,
    trust: Trust | None = None,
    images: bool = False,
) -> Run:
    """One decision per artifact, in the order given, all at the one judging instant `now`;
    the trust root, verifier and the directories' attestations are shared. The bundles are
    read first (they say which digests beside sha256 the artifacts need), then the artifacts
    are hashed in parallel (hashlib lets go of the GIL, so a few large files use every core);
    the verification after that holds the GIL throughout, and threads would only contend for
    it (measured: one thread is about 13% faster). `decision_limit`: seconds per artifact,
    `deadline.DECISION_LIMIT` unless given (read at the call: a library caller may lower it).
    `trust`: the policy's root as the caller already read it (`attest release` reads it once),
    else read here. `images`: the artifacts are image manifests (verify.oci.gate)."""
    if decision_limit is None:
        decision_limit = deadline.DECISION_LIMIT
    trust = trust or trust_for(policy)
    context = Context(policy, trust, now, advisories, images)
    registry = gate_checks()  # one scan of the entry points (4 ms) for the checks and the record
    installed = checks(registry)
    _log.info("gate: %d artifact(s), %d checks, judged at %s", len(artifacts), len(installed), now)
    collector = Collector(trust.root, policy, now, attestations)
    # reading and verifying the directories' bundles, shared by all: the limit per artifact
    with deadline.limit(decision_limit * max(1, len(artifacts)), "the evidence directories"):
        algorithms = collector.algorithms(artifacts)
    digests = _digests(artifacts, algorithms)
    decisions, shared = [], _Shared()
    for artifact, digest in zip(artifacts, digests, strict=True):
        with deadline.limit(decision_limit, artifact.name):  # exit 3 naming it, never a verdict
            evidence = collector.collect(artifact, digest)
            decisions.append(_decide(evidence, context, installed, shared))
        _log.debug("gate: %s: %s", artifact.name, decisions[-1].verdict)
    return Run(
        policy, trust, now, tuple(decisions), check_plugins(registry), tuple(collector.unjudged())
    )


PARALLEL_HASHING = 64 << 20  # bytes in all: below, threads cost more than they save


def _digests(artifacts: Sequence[Path], algorithms: set[str]) -> Iterable[Digests]:
    """Each artifact's digests, hashed in threads when there is enough to hash (hashlib lets go
    of the GIL): 500 small files took 0.2 s more in a pool than one after the other; else each
    as its turn comes (a list of 10,000 held 2 MiB)."""
    workers = min(len(artifacts), os.cpu_count() or 1, 8)
    # each directory walked once: an artifact that is no symlink is then opened by its name
    outside = {d: named_pseudo_root(d) is None for d in {a.parent for a in artifacts}}

    def digests(artifact: Path) -> Digests:
        return digest_file(artifact, algorithms, outside[artifact.parent])

    if workers > 1 and _size(artifacts) >= PARALLEL_HASHING:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(digests, artifacts))
    return (digests(a) for a in artifacts)


def _size(artifacts: Sequence[Path]) -> int:
    """Their bytes in all, as far as stat tells (the read that follows reports a problem)."""
    total = 0
    for artifact in artifacts:
        with contextlib.suppress(OSError):
            total += artifact.stat().st_size
    return total


def explain(policy: Policy) -> list[str]:
    """What the gate will check, in order, for `--explain-policy`."""
    lines = [
        f"policy {policy.origin} (sha256 {policy.sha256}), mode {policy.mode}",
        "trust root: "
        + (str(policy.trust.trusted_root) if policy.trust.trusted_root else policy.trust.name)
        + (" (development root allowed)" if policy.trust.allow_development_root else "")
        + (f", updated within {human(policy.trust.max_age)}" if policy.trust.max_age else ""),
    ]
    if not policy.identities:
        lines.append("identities: NONE — every artifact will be denied")
    for rule in policy.identities:
        lines.append(f"identity: {rule.label} (whole identity must match)")
        ext = rule.extensions
        for name, value in (
            ("source repository", ext.source_repository),
            ("source ref ~", ext.source_ref_pattern.pattern if ext.source_ref_pattern else None),
            ("trigger in", ", ".join(ext.trigger) or None),
            ("runner environment in", ", ".join(ext.runner_environment) or None),
            ("build signer URI ~", ext.build_signer_pattern and ext.build_signer_pattern.pattern),
            ("build config URI ~", ext.build_config_pattern and ext.build_config_pattern.pattern),
        ):
            if value:
                lines.append(f"  certificate {name} {value}")
    lines.append(
        f"signers required: {policy.k_of_n} distinct (issuer and identity), "
        f"each allowed by one of the {len(policy.identities)} rule(s)"
    )
    lines.append(
        f"judging instant: --now, else the wall clock; unknown predicates: "
        f"{policy.unknown_predicates}"
    )
    context = Context(policy, _NO_TRUST, datetime.datetime.now(datetime.timezone.utc))
    number = 0
    for check in checks():
        with _answering(check.name, "explaining the policy"):
            if check.applies(context):
                number += 1
                lines.append(f"check {number}: {check.name}: {check.expect(context)}")
    return lines


# explain() needs no trust root: the checks' `applies` reads only the policy.
_NO_TRUST: Any = None
