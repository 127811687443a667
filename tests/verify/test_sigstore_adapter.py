"""TimedVerifier's own steps (7) and (8) for a Rekor v2 entry (verify/sigstore_adapter.py):
the signature verified with the certificate's key and the entry's body compared with what the
digest, signature and certificate make. Each bundle altered so that exactly one of them fails
(the rest, the certificate's chain kept from the good bundle included, passing) is refused,
saying which."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sigstore.errors import VerificationError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify.policy import UnsafeNoOp

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import bundle_form
from verify.sigstore_adapter import hashed_digest
from verify.trust import timed_verifier


@pytest.fixture(scope="module")
def release2(rekor2_instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return g.make_release(rekor2_instance, tmp_path_factory.mktemp("release2") / "dist")


def _data(artifact: Path) -> dict[str, Any]:
    return dict(json.loads(Path(f"{artifact}.sigstore.json").read_text()))


def _bundle(data: dict[str, Any]) -> Bundle:
    return bundle_form.parse(json.dumps(data).encode())


def _digest(artifact: Path) -> Any:
    return hashed_digest(hashlib.sha256(artifact.read_bytes()).hexdigest())


def test_each_of_the_last_steps_refuses_what_it_must(
    rekor2_instance: LocalInstance, release2: g.Release
) -> None:
    verifier = timed_verifier(TrustedRoot.from_file(str(rekor2_instance.trusted_root)))
    wheel, sdist = _data(release2.wheel), _data(release2.sdist)
    verifier.verify_artifact(_digest(release2.wheel), _bundle(wheel), UnsafeNoOp())
    assert verifier.last_times, "the good bundle verifies, its certificate now kept"
    undigested = json.loads(json.dumps(wheel))
    del undigested["messageSignature"]["messageDigest"]
    spliced = json.loads(json.dumps(sdist))  # the sdist's bundle with the wheel's log entry
    spliced["verificationMaterial"]["tlogEntries"] = wheel["verificationMaterial"]["tlogEntries"]
    cases = [
        (wheel, "Bundle message digest mismatch"),
        (undigested, "Signature is invalid for input"),
        (spliced, "transparency log entry is inconsistent with other materials"),
    ]
    for data, reason in cases:
        with pytest.raises(VerificationError, match=reason):
            verifier.verify_artifact(_digest(release2.sdist), _bundle(data), UnsafeNoOp())


def test_the_signed_times_keep_sigstores_rules(
    rekor2_instance: LocalInstance, release2: g.Release, tmp_path: Path
) -> None:
    """TimedVerifier reads the timestamps once, by sigstore's rules: one given twice, more than
    sigstore allows, or any in a bundle whose root names no timestamp authority, is refused."""
    verifier = timed_verifier(TrustedRoot.from_file(str(rekor2_instance.trusted_root)))
    wheel = _data(release2.wheel)
    stamps = wheel["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    twice, many = json.loads(json.dumps(wheel)), json.loads(json.dumps(wheel))
    twice["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] = stamps * 2
    other = _data(release2.sdist)["verificationMaterial"]["timestampVerificationData"]
    many["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] = [
        *stamps,
        *other["rfc3161Timestamps"],
    ] * 17  # 34 > 32, sigstore's MAX_ALLOWED_TIMESTAMP
    for data, reason in ((twice, "duplicate timestamp found"), (many, "too many signed timestamp")):
        with pytest.raises(VerificationError, match=reason):
            verifier.verify_artifact(_digest(release2.wheel), _bundle(data), UnsafeNoOp())
    root = json.loads(rekor2_instance.trusted_root.read_text())
    del root["timestampAuthorities"]
    (tmp_path / "root.json").write_text(json.dumps(root))
    bare = timed_verifier(TrustedRoot.from_file(str(tmp_path / "root.json")))
    with pytest.raises(VerificationError, match="no Timestamp Authorities have been provided"):
        bare.verify_artifact(_digest(release2.wheel), _bundle(wheel), UnsafeNoOp())
