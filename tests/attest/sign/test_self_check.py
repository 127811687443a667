"""The signer's self-check is the gate's verifier: the run's one certificate is verified once
(chain, SCT, profile), and every bundle's own parts (signature, timestamps, log entry) each
time, so a wrong answer from the log after the certificate was kept is still refused."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from sigstore.models import Bundle

from attest.sign.session import SigningSession
from tests.conftest import LocalInstance
from tests.signed_release import github_token, session
from verify.errors import OperationalError
from verify.once import VERIFIED
from verify.sigstore_adapter import hashed_digest

pytestmark = pytest.mark.network


def _flipped_signature(bundle: Bundle) -> Bundle:
    document = json.loads(bundle.to_json())
    raw = bytearray(base64.b64decode(document["messageSignature"]["signature"]))
    raw[len(raw) // 2] ^= 1
    document["messageSignature"]["signature"] = base64.b64encode(bytes(raw)).decode()
    return Bundle.from_json(json.dumps(document))


def _digest(i: int) -> str:
    return hashlib.sha256(f"artifact {i}".encode()).hexdigest()


def test_the_certificate_is_verified_once_and_a_wrong_signature_still_refused(
    instance: LocalInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer: SigningSession = session(instance, github_token(instance))
    signer.sign_file(hashed_digest(_digest(0)), tmp_path / "a0")
    hits = VERIFIED.hits
    signer.sign_file(hashed_digest(_digest(1)), tmp_path / "a1")
    assert VERIFIED.hits > hits, "the second bundle's certificate was verified again"

    real = signer.signer.sign_artifact
    monkeypatch.setattr(signer.signer, "sign_artifact", lambda h: _flipped_signature(real(h)))
    with pytest.raises(OperationalError, match=r"the new bundle for .*a2 does not verify"):
        signer.sign_file(hashed_digest(_digest(2)), tmp_path / "a2")
