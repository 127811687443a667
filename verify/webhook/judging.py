"""Judging one container image for the webhook: `Judge` is the one function the review handling
calls (`judge(image, policy, trust, now) -> Verdict`).

`DigestJudge` judges an image named by its manifest digest by the gate's own checks: the
Sigstore bundles whose subject is that digest (a signature over the manifest digest, DSSE
attestations naming it) come from an `EvidenceSource` (the image's registry,
verify/webhook/registry.py, or a directory), and are judged as `attest verify oci://` judges an
image's referrers. An image named by tag is refused unless the policy sets
`images.resolve_tags`; then the source resolves it and the decision names the digest.

`VerificationCache` keeps what does not depend on the judging instant, for the life of the
process: that a bundle verified cryptographically (chain, SCT, log inclusion, signature over the
digest) and the times it verified at, keyed by the trust root's digest, the digest signed and the
bundle's bytes as parsed. Who signed is judged against the policy, and every time against the
judging instant, afresh on every review. It also keeps, as time- and policy-independent as its
bytes, a bundle's parse (keyed by the exact bytes parsed: other bytes are parsed afresh, and a
refused parse is not kept), and each thread's verifier for a trust root (what it indexes of
the root, made once per thread and root digest: a verifier is used by one thread at a time)."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import re
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from cryptography.x509 import Certificate
from sigstore.models import Bundle

from verify import bundle_form, gate
from verify.errors import OperationalError
from verify.evidence import MAX_BUNDLE, Collector, Evidence
from verify.files import MIB, read_limited
from verify.interface import Check
from verify.oci.cache import Cache
from verify.oci.deadline import Deadline
from verify.once import Kept
from verify.policy import Policy
from verify.sigstore_adapter import TimedVerifier
from verify.text import quoted
from verify.trust import Trust, log_periods, log_valid_at, mismatches, root_index

MAX_REFERENCE = 512  # characters of an image reference; longer is refused unread
MAX_BUNDLES = 64  # bundles judged for one image: more is a flood, refused
MAX_REASON = 400  # characters of one image's reason
MAX_PARSED = 8 * MIB  # bytes of bundles whose parse is kept (their models take a few times that)
# where the checks' messages place an image's bundles: they are judged from memory (a review
# writes no file), under names as `attest verify --attestations` would read them
HELD = Path("/attest-webhook")

# name[:tag][@sha256:hex], the name as the distribution spec's grammar allows (a host, maybe
# with a port, then lower-case path components).
_REFERENCE = re.compile(
    r"(?P<name>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z0-9+._-]+:[A-Za-z0-9=_-]+))?"
)
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


class BadReference(ValueError):
    """Not an image reference the webhook reads; the message says why."""


@dataclasses.dataclass(frozen=True)
class ImageRef:
    name: str  # [host[:port]/]path
    tag: str | None
    digest: str | None  # sha256:<hex>, when named by digest

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        if len(text) > MAX_REFERENCE:
            raise BadReference(f"an image reference over {MAX_REFERENCE} characters")
        found = _REFERENCE.fullmatch(text)
        if found is None:
            raise BadReference("not an image reference (name[:tag][@sha256:digest])")
        digest = found["digest"]
        if digest is not None and not _SHA256.fullmatch(digest):
            raise BadReference("a digest that is not sha256:<64 lower-case hex digits>")
        return cls(found["name"], found["tag"], digest)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The decision on one image: allowed or not, why, and the manifest digest judged."""

    image: str
    allowed: bool
    reason: str
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Judge(Protocol):
    def __call__(
        self,
        image: str,
        policy: Policy,
        trust: Trust,
        now: datetime.datetime,
        deadline: Deadline | None = None,
    ) -> Verdict: ...


class EvidenceSource(Protocol):
    """Where an image's evidence comes from: the registry (the OCI client's referrers), or a
    directory of bundles."""

    def resolve(self, ref: ImageRef, deadline: Deadline | None = None) -> str:
        """The manifest digest (sha256:<hex>) the tag of `ref` names now."""

    def bundles(
        self, ref: ImageRef, digest: str, deadline: Deadline | None = None
    ) -> Sequence[bytes]:
        """The bytes of every Sigstore bundle whose subject is the manifest `digest`; every
        read ends by `deadline`."""


class NoEvidenceSource(OperationalError):
    """The evidence source cannot answer (a registry down, a tag it cannot resolve): the image
    is refused, never allowed."""


class DirectorySource:
    """Bundles kept in a directory, one subdirectory per manifest digest named as the
    referrers tag schema names it (`sha256-<hex>/*.sigstore.json`): offline judging
    (`attest webhook --evidence DIR`). It resolves no tag."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def resolve(self, ref: ImageRef, deadline: Deadline | None = None) -> str:
        raise NoEvidenceSource("an evidence directory resolves no tag: name the image by digest")

    def bundles(self, ref: ImageRef, digest: str, deadline: Deadline | None = None) -> list[bytes]:
        where = self.root / digest.replace(":", "-")
        if not where.is_dir():
            return []
        names = sorted(p for p in where.iterdir() if p.name.endswith(".sigstore.json"))
        if len(names) > MAX_BUNDLES:
            raise NoEvidenceSource(f"over {MAX_BUNDLES} bundles for one image: refused")
        return [read_limited(p, MAX_BUNDLE, "a bundle") for p in names]


class _AnySigner:
    """The identity policy of the cached cryptographic verification: the signer is judged
    against the review's policy afterwards, never from the cache."""

    def verify(self, cert: Certificate) -> None:
        return None


class VerificationCache(Kept):
    """The time-independent results of bundle verification (see the module's docstring),
    bounded and shared by the threads of one process (verify/once.py keeps them)."""

    def __init__(self, limit: int = 4096) -> None:
        super().__init__(limit)
        self._parsed = Cache(MAX_PARSED)  # bundles by the sha256 of the bytes parsed
        self._exact: weakref.WeakKeyDictionary[Bundle, str] = weakref.WeakKeyDictionary()
        self._exact_lock = threading.Lock()
        self._local = threading.local()  # this thread's verifier

    def verifier(self, trust: Trust) -> TimedVerifier:
        """This thread's verifier under `trust`, made again when the root's digest changes."""
        made: CachingVerifier | None = getattr(self._local, "verifier", None)
        if made is None or made.trust_sha256 != trust.sha256:
            root = trust.root
            made = self._local.verifier = CachingVerifier(
                self,
                trust.sha256,
                trusted_root=root,
                log_time_valid=functools.partial(log_valid_at, log_periods(root)),
                mismatches=functools.partial(mismatches, root_index(root)),
            )
        return made

    def parse(self, raw: bytes) -> Bundle:
        """The bundle in `raw` (bundle_form.parse), parsed once per exact bytes: a parse
        depends on nothing else. Bundles are never changed after their parse."""
        key = hashlib.sha256(raw).digest()
        found: Bundle | None = self._parsed.get(key)
        if found is None:
            found = bundle_form.parse(raw)
            self._parsed.put(key, found, len(raw))
        return found

    def exact(self, bundle: Bundle) -> str:
        """The sha256 of `bundle` as parsed (its canonical JSON), once per bundle object."""
        with self._exact_lock:
            found = self._exact.get(bundle)
        if found is None:
            found = hashlib.sha256(bundle.to_json().encode()).hexdigest()
            with self._exact_lock:
                self._exact[bundle] = found
        return found


class CachingVerifier(TimedVerifier):
    """A TimedVerifier that verifies a bundle's cryptography once per process (only successes
    are kept), then judges the signer against the caller's identity policy every time."""

    def __init__(self, cache: VerificationCache, trust_sha256: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache = cache
        self.trust_sha256 = trust_sha256

    def _key(self, what: str, bundle: Bundle) -> tuple[str, str, str]:
        return (self.trust_sha256, what, self._cache.exact(bundle))

    def verify_artifact(self, input_: Any, bundle: Bundle, policy: Any) -> None:
        key = self._key(f"artifact {input_.algorithm} {input_.digest.hex()}", bundle)
        times = self._cache.get(key)
        if times is None:
            super().verify_artifact(input_, bundle, _AnySigner())
            self._cache.put(key, self.last_times)
        else:
            self.last_times = times
        policy.verify(bundle.signing_certificate)

    def verify_dsse(self, bundle: Bundle, policy: Any) -> tuple[str, bytes]:
        key = self._key("dsse", bundle)
        found = self._cache.get(key)
        if found is None:
            result = super().verify_dsse(bundle, _AnySigner())
            found = (self.last_times, result)
            self._cache.put(key, found)
        self.last_times, result = found
        policy.verify(bundle.signing_certificate)
        return result  # type: ignore[no-any-return]


def _reason(decision: gate.Decision, evidence: Evidence) -> str:
    """What failed, check by check, then why each referrer that did not count was refused
    (a signer the policy does not allow, a signature after the judging instant), bounded."""
    said = "; ".join(
        f"{o.name}: {', '.join(o.failures)}" for o in decision.outcomes if not o.passed
    )
    if not decision.allowed and evidence.uncounted:
        said += "; not counted: " + "; ".join(p.reason for p in evidence.uncounted[:3])
    return said if len(said) <= MAX_REASON else said[: MAX_REASON - 1] + "…"


class DigestJudge:
    """Judges an image by its manifest digest with the gate's checks (see the module's
    docstring); `source` gives the bundles, `cache` keeps their verification."""

    def __init__(self, source: EvidenceSource, cache: VerificationCache | None = None) -> None:
        self.source = source
        self.cache = cache or VerificationCache()
        self._checks: list[Check] | None = None

    def checks(self) -> list[Check]:
        """The installed checks, loaded at the first review (the installation of a running
        process does not change); an installation that cannot load them denies every image."""
        if self._checks is None:
            self._checks = gate.checks()
        return self._checks

    def __call__(
        self,
        image: str,
        policy: Policy,
        trust: Trust,
        now: datetime.datetime,
        deadline: Deadline | None = None,
    ) -> Verdict:
        try:
            ref = ImageRef.parse(image)
        except BadReference as e:
            return Verdict(image, False, str(e))
        digest = ref.digest
        if digest is None:
            if not policy.resolve_tags:
                return Verdict(
                    image,
                    False,
                    f"named by tag {quoted(ref.tag or 'latest', 64)}, not by digest: a tag can "
                    "be moved after the decision; name the image @sha256:… (or set "
                    "images.resolve_tags in the policy)",
                )
            digest = self.source.resolve(ref, deadline)
            if not _SHA256.fullmatch(digest):
                raise NoEvidenceSource("the registry resolved the tag to no sha256 digest")
        decision, evidence = self._decide(
            digest, self.source.bundles(ref, digest, deadline), policy, trust, now
        )
        return Verdict(image, decision.allowed, _reason(decision, evidence), digest)

    def _decide(
        self,
        digest: str,
        found: Sequence[bytes],
        policy: Policy,
        trust: Trust,
        now: datetime.datetime,
    ) -> tuple[gate.Decision, Evidence]:
        """The gate's decision on the manifest `digest` with the bundles `found`, named as
        `attest verify --attestations` reads them (held in memory), judged as images are
        (`images=True`: the rule of `attest verify oci://`, verify/checks/signature.py): every
        referrer alike, any signature over the digest by an allowed identity counts, each
        distinct signer once."""
        name = digest  # as the checks' messages name the image
        held = {f"{name}.{i}.sigstore.json": raw for i, raw in enumerate(found)}
        collector = Collector(
            trust.root,
            policy,
            now,
            HELD,
            verifier=self.cache.verifier(trust),
            held=held,
            parse=self.cache.parse,
        )
        evidence = collector.collect(HELD / name, {"sha256": digest.split(":")[1]})
        [decision] = gate.judge([evidence], policy, now, trust, self.checks(), images=True)
        return decision, evidence
