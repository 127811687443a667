"""Each certificate and checkpoint verified once (verify/once.py, the TimedVerifier's steps):
what one bundle's certificate earned never lets a tampered bundle of the same certificate
through, nor a bundle under another trust root; a cached run decides as sigstore does afresh."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import UnsafeNoOp

from tests.conftest import LocalInstance
from tests.signed_release import github_token, session
from verify.once import VERIFIED
from verify.sigstore_adapter import hashed_digest
from verify.trust import timed_verifier

pytestmark = pytest.mark.network

FILES = 4


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _signature(d: dict[str, Any]) -> None:
    d["messageSignature"]["signature"] = _flip(d["messageSignature"]["signature"])


def _log_entry(d: dict[str, Any]) -> None:
    entry = d["verificationMaterial"]["tlogEntries"][0]
    entry["logIndex"] = str(int(entry["logIndex"]) + 1)


def _inclusion_proof(d: dict[str, Any]) -> None:
    proof = d["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    if proof["hashes"]:
        proof["hashes"][0] = _flip(proof["hashes"][0])
    else:
        proof["rootHash"] = _flip(proof["rootHash"])


def _payload(d: dict[str, Any]) -> None:
    statement = json.loads(base64.b64decode(d["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"tampered": True}
    d["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()


TAMPER: dict[str, Callable[[dict[str, Any]], None]] = {
    "signature": _signature,
    "log entry": _log_entry,
    "inclusion proof": _inclusion_proof,
}


def _tampered(bundle: Bundle, how: Callable[[dict[str, Any]], None]) -> Bundle:
    document = json.loads(bundle.to_json())
    how(document)
    return Bundle.from_json(json.dumps(document))


@pytest.fixture(scope="module")
def one_certificate(
    instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[str], list[Bundle], Bundle]:
    """FILES artifacts' digests and bundles, and a DSSE bundle, all of one signing session:
    one certificate."""
    signer = session(instance, github_token(instance))
    where = tmp_path_factory.mktemp("once")
    digests, bundles = [], []
    for i in range(FILES):
        digest = hashlib.sha256(f"artifact {i}".encode()).hexdigest()
        digests.append(digest)
        bundles.append(signer.sign_file(hashed_digest(digest), where / f"a{i}"))
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a0", "digest": {"sha256": digests[0]}}],
        "predicateType": "https://example.com/p/v1",
        "predicate": {},
    }
    dsse = signer.sign_statement(json.dumps(statement).encode(), "a0.intoto")
    assert len({b.signing_certificate for b in [*bundles, dsse]}) == 1
    return digests, bundles, dsse


def _root(local: LocalInstance) -> TrustedRoot:
    return TrustedRoot.from_file(str(local.trusted_root))


@pytest.mark.parametrize("part", sorted(TAMPER))
def test_a_tampered_bundle_sharing_a_verified_certificate_is_refused(
    instance: LocalInstance, one_certificate: tuple[list[str], list[Bundle], Bundle], part: str
) -> None:
    digests, bundles, _ = one_certificate
    verifier = timed_verifier(_root(instance))
    verifier.verify_artifact(hashed_digest(digests[0]), bundles[0], UnsafeNoOp())
    hits = VERIFIED.hits
    verifier.verify_artifact(hashed_digest(digests[1]), bundles[1], UnsafeNoOp())
    assert VERIFIED.hits > hits  # the certificate was not verified again
    bad = _tampered(bundles[2], TAMPER[part])
    with pytest.raises(Exception, match=r"(?i)signature|invalid|inclusion|log entry|hash"):
        verifier.verify_artifact(hashed_digest(digests[2]), bad, UnsafeNoOp())


def test_a_tampered_dsse_payload_sharing_a_verified_certificate_is_refused(
    instance: LocalInstance, one_certificate: tuple[list[str], list[Bundle], Bundle]
) -> None:
    digests, bundles, dsse = one_certificate
    verifier = timed_verifier(_root(instance))
    verifier.verify_artifact(hashed_digest(digests[0]), bundles[0], UnsafeNoOp())
    verifier.verify_dsse(dsse, UnsafeNoOp())
    with pytest.raises(Exception, match=r"(?i)signature"):
        verifier.verify_dsse(_tampered(dsse, _payload), UnsafeNoOp())


def test_a_certificate_verified_under_one_root_is_not_believed_under_another(
    instance: LocalInstance,
    other_instance: LocalInstance,
    one_certificate: tuple[list[str], list[Bundle], Bundle],
) -> None:
    digests, bundles, _ = one_certificate
    good = timed_verifier(_root(instance))
    good.verify_artifact(hashed_digest(digests[0]), bundles[0], UnsafeNoOp())
    other = timed_verifier(_root(other_instance))
    assert other.root_digest != good.root_digest
    with pytest.raises(Exception, match="does not match the trust root"):
        other.verify_artifact(hashed_digest(digests[0]), bundles[0], UnsafeNoOp())
    # past the root's index and log key periods too: the chain is verified under the other root
    other._mismatches = lambda bundle: []
    other._log_time_valid = lambda key, when: True
    with pytest.raises(Exception, match="certificate chain"):
        other.verify_artifact(hashed_digest(digests[0]), bundles[0], UnsafeNoOp())


def _decision(verify: Callable[..., object], hashed: object, bundle: Bundle) -> bool:
    try:
        verify(hashed, bundle, UnsafeNoOp())
    except Exception:
        return False
    return True


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, FILES - 1), st.sampled_from([None, *sorted(TAMPER)])),
        min_size=1,
        max_size=8,
    )
)
def test_a_cached_run_decides_as_sigstore_afresh(
    instance: LocalInstance,
    one_certificate: tuple[list[str], list[Bundle], Bundle],
    batch: list[tuple[int, str | None]],
) -> None:
    """For random batches with random bundles tampered, the cached verifier's decisions equal
    sigstore's own uncached Verifier's, decision for decision."""
    digests, bundles, _ = one_certificate
    root = _root(instance)
    cached, fresh = timed_verifier(root), Verifier(trusted_root=root)
    for i, part in batch:
        bundle = bundles[i] if part is None else _tampered(bundles[i], TAMPER[part])
        hashed = hashed_digest(digests[i])
        ours = _decision(cached.verify_artifact, hashed, bundle)
        theirs = _decision(fresh.verify_artifact, hashed, bundle)
        assert ours == theirs == (part is None), (i, part)


def test_only_successes_are_kept(tmp_path: Path) -> None:
    calls = []

    def failing() -> str:
        calls.append(1)
        raise ValueError("refused")

    for _ in range(2):
        with pytest.raises(ValueError, match="refused"):
            VERIFIED.once(("test", str(tmp_path)), failing)
    assert len(calls) == 2  # a refusal is found again, never remembered as anything
