"""Judging images by digest with the gate's checks (`DigestJudge`), on bundles signed against the
local instance: a signature over the manifest digest (as cosign's bundle format signs an image),
read from an evidence directory (`DirectorySource`; the registry source is tested end to end in
test_registry_source.py). Allowed, unsigned, wrong signer, by tag, a signature after the judging
instant (judged afresh when the verification is cached), the cache keyed by the trust root, and
the referrer rule `attest verify oci://` judges by: any signature by an allowed identity counts,
each distinct signer once, a bad referrer beside a good one neither allows nor denies."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import gate
from verify.policy import load_policy
from verify.webhook.judging import DigestJudge, DirectorySource, NoEvidenceSource, VerificationCache

MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'
)


def _image(
    tmp_path: Path, local: LocalInstance, token: str | None, manifest: bytes = MANIFEST
) -> str:
    """An image reference by the digest of `manifest`, its signature (by `token`'s identity;
    none without) in the evidence directory under sha256-<hex>/."""
    digest = hashlib.sha256(manifest).hexdigest()
    where = tmp_path / "evidence" / f"sha256-{digest}"
    where.mkdir(parents=True, exist_ok=True)
    if token is not None:
        signed = tmp_path / "manifest.json"
        signed.write_bytes(manifest)
        g.sign_files(local, token, signed)
        shutil.move(tmp_path / "manifest.json.sigstore.json", where / "signature.sigstore.json")
    return f"127.0.0.1:5000/acme/web@sha256:{digest}"


@pytest.fixture
def policy(tmp_path: Path, instance: LocalInstance) -> Path:
    rules = {
        "version": 1,
        "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
        "identities": [g.identity_rule(instance)],
        "require": {"signature": True},
    }
    return g.write_policy(tmp_path / "policy.yaml", rules)


def _judge(
    tmp_path: Path,
    policy: Path,
    image: str,
    now: datetime.datetime | None = None,
    judge: DigestJudge | None = None,
):  # type: ignore[no-untyped-def]
    loaded = load_policy(policy)
    judge = judge or DigestJudge(DirectorySource(tmp_path / "evidence"))
    return judge(
        image, loaded, gate.trust_for(loaded), now or g.utc_now() + datetime.timedelta(seconds=5)
    )


def test_an_image_signed_by_an_allowed_identity_is_allowed(
    tmp_path: Path, instance: LocalInstance, policy: Path
) -> None:
    image = _image(tmp_path, instance, g.github_token(instance))
    verdict = _judge(tmp_path, policy, image)
    assert (verdict.allowed, verdict.reason) == (True, "")
    assert verdict.digest == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def test_an_unsigned_twin_is_refused(tmp_path: Path, instance: LocalInstance, policy: Path) -> None:
    _image(tmp_path, instance, g.github_token(instance))
    twin = _image(tmp_path, instance, None, MANIFEST + b" ")
    verdict = _judge(tmp_path, policy, twin)
    assert verdict.allowed is False
    assert verdict.reason.startswith(
        f"signature: no verified signature of {verdict.digest} among its referrers (by an "
        "identity the policy allows)"
    ), verdict.reason


def test_a_wrong_signer_is_refused_naming_it(
    tmp_path: Path, instance: LocalInstance, policy: Path
) -> None:
    image = _image(tmp_path, instance, g.github_token(instance, "evil/web"))
    verdict = _judge(tmp_path, policy, image)
    assert verdict.allowed is False
    assert "evil/web" in verdict.reason, verdict.reason


def test_an_image_by_tag_is_refused_unless_the_policy_resolves_tags(
    tmp_path: Path, instance: LocalInstance, policy: Path
) -> None:
    verdict = _judge(tmp_path, policy, "127.0.0.1:5000/acme/web:1.4")
    assert verdict.allowed is False
    assert verdict.reason.startswith("named by tag '1.4', not by digest: a tag can be moved")
    policy.write_text(policy.read_text() + "images:\n  resolve_tags: true\n")
    with pytest.raises(NoEvidenceSource, match="resolves no tag"):  # the registry does
        _judge(tmp_path, policy, "127.0.0.1:5000/acme/web:1.4")


@pytest.mark.parametrize(
    "image", ["web/UPPER@sha256:" + "a" * 64, "web@md5:abc", "web@sha256:ABC", "x" * 600]
)
def test_a_reference_that_is_none_is_refused(
    tmp_path: Path, instance: LocalInstance, policy: Path, image: str
) -> None:
    verdict = _judge(tmp_path, policy, image)
    assert verdict.allowed is False
    assert verdict.reason.startswith(
        ("not an image reference", "a digest that is not sha256", "an image reference over")
    )


def test_the_cache_keeps_the_cryptography_not_the_time_or_the_signer(
    tmp_path: Path, instance: LocalInstance, policy: Path
) -> None:
    before = g.utc_now() - datetime.timedelta(minutes=5)
    image = _image(tmp_path, instance, g.github_token(instance))
    judge = DigestJudge(DirectorySource(tmp_path / "evidence"), VerificationCache())
    assert _judge(tmp_path, policy, image, judge=judge).allowed is True
    assert judge.cache.hits == 0
    late = _judge(tmp_path, policy, image, now=before, judge=judge)  # cached, judged afresh
    assert judge.cache.hits == 1
    assert late.allowed is False and "after the judging instant" in late.reason, late.reason
    policy.write_text(policy.read_text().replace("acme/web", "acme/other"))
    assert _judge(tmp_path, policy, image, judge=judge).allowed is False  # the signer, afresh
    assert judge.cache.hits == 2


def test_a_result_cached_under_one_trust_root_is_not_used_under_another(
    tmp_path: Path, instance: LocalInstance, other_instance: LocalInstance, policy: Path
) -> None:
    image = _image(tmp_path, instance, g.github_token(instance))
    judge = DigestJudge(DirectorySource(tmp_path / "evidence"), VerificationCache())
    assert _judge(tmp_path, policy, image, judge=judge).allowed is True
    policy.write_text(
        policy.read_text().replace(str(instance.trusted_root), str(other_instance.trusted_root))
    )
    verdict = _judge(tmp_path, policy, image, judge=judge)
    assert verdict.allowed is False
    assert judge.cache.hits == 0


def test_a_verdict_is_data(tmp_path: Path) -> None:
    from verify.webhook.judging import Verdict

    assert dataclasses.asdict(Verdict("i", False, "why")) == {
        "image": "i",
        "allowed": False,
        "reason": "why",
        "digest": None,
    }


def test_a_review_is_judged_from_memory_writing_no_file(
    tmp_path: Path, instance: LocalInstance, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review's bundles are judged where they are held (a temporary directory per review cost
    more than the judging, ~2.5 ms of a cached review's wall time here), and what judging says
    is the same: allowed by the signature, refused without one."""
    image = _image(tmp_path, instance, g.github_token(instance))
    unsigned = _image(tmp_path, instance, None, MANIFEST + b" ")

    def no_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("a review wrote a file")

    monkeypatch.setattr("tempfile.mkdtemp", no_files)
    monkeypatch.setattr(Path, "write_bytes", no_files)
    assert _judge(tmp_path, policy, image).allowed is True
    verdict = _judge(tmp_path, policy, unsigned)
    assert verdict.allowed is False and "signature: no verified signature" in verdict.reason


def _tampered(bundle: Path) -> None:
    """The bundle's signature changed (other bytes, the rest as it was)."""
    document = json.loads(bundle.read_bytes())
    signature = base64.b64decode(document["messageSignature"]["signature"])
    changed = signature[:-8] + bytes(b ^ 0x01 for b in signature[-8:])
    document["messageSignature"]["signature"] = base64.b64encode(changed).decode()
    bundle.write_text(json.dumps(document))


def test_a_tampered_bundle_is_parsed_and_verified_afresh_and_refused_naming_why(
    tmp_path: Path, instance: LocalInstance, policy: Path
) -> None:
    """The parse and the verification kept for a bundle's exact bytes are never those of a
    bundle that shares all but its signature with it."""
    image = _image(tmp_path, instance, g.github_token(instance))
    judge = DigestJudge(DirectorySource(tmp_path / "evidence"), VerificationCache())
    assert _judge(tmp_path, policy, image, judge=judge).allowed is True
    assert _judge(tmp_path, policy, image, judge=judge).allowed is True  # parse, crypto kept
    assert judge.cache.hits == 1
    [bundle] = (tmp_path / "evidence").glob("*/signature.sigstore.json")
    _tampered(bundle)
    verdict = _judge(tmp_path, policy, image, judge=judge)
    assert verdict.allowed is False
    assert "signature does not verify for this artifact" in verdict.reason, verdict.reason
    assert judge.cache.hits == 1


def test_a_thread_keeps_its_verifier_per_trust_root_and_threads_never_share_one(
    tmp_path: Path, instance: LocalInstance, other_instance: LocalInstance, policy: Path
) -> None:
    cache = VerificationCache()
    trust = gate.trust_for(load_policy(policy))
    policy.write_text(
        policy.read_text().replace(str(instance.trusted_root), str(other_instance.trusted_root))
    )
    other = gate.trust_for(load_policy(policy))
    assert other.sha256 != trust.sha256
    mine = cache.verifier(trust)
    assert cache.verifier(trust) is mine  # made once for this thread and root
    assert cache.verifier(other) is not mine  # another root: made afresh
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(cache.verifier(other)))
    thread.start()
    thread.join()
    assert theirs[0] is not cache.verifier(other)  # one thread at a time uses a verifier
