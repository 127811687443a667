"""Bytes that are a DSSE pre-authentication encoding are never signed as a message: on a Rekor
v2 log such a signature is also a DSSE signature, which an attacker turned into a VSA and a
provenance the gate allowed (attest/sign/message.py)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.release import artifacts
from attest.sign import images
from attest.sign.message import PAE, refuse_pae
from tests.conftest import LocalInstance
from verify.errors import ExitCode, InputError

REASON = "would also be a DSSE signature (an attestation in your name) on a Rekor v2 log"
TYPE = b"application/vnd.in-toto+json"
STATEMENT = b'{"_type":"https://in-toto.io/Statement/v1","subject":[]}'
FORGED = b"DSSEv1 %d %s %d %s" % (len(TYPE), TYPE, len(STATEMENT), STATEMENT)


@settings(max_examples=50)
@given(st.binary(max_size=16))
def test_only_bytes_starting_a_pae_are_refused(head: bytes) -> None:
    if head.startswith(PAE):
        with pytest.raises(InputError, match=re.escape(REASON)):
            refuse_pae(head, "x")
    else:
        refuse_pae(head, "x")


def test_attest_sign_refuses_a_pae_before_anything_is_logged(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, tmp_path: Path
) -> None:
    forged, plain = tmp_path / "blob.pae", tmp_path / "plain.txt"
    forged.write_bytes(FORGED)
    plain.write_bytes(b"DSSEv1\n")  # a near miss: alone, it would be signed
    before = rekor2_instance.entries()
    result = invoke(
        "sign", "--trust-config", str(rekor2_instance.trust_config),
        "--identity-token", rekor2_instance.token(), str(plain), str(forged),
    )  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{forged}: starts with 'DSSEv1 '" in result.stderr and REASON in result.stderr
    assert rekor2_instance.entries() == before  # the other artifact was not signed either
    assert not list(tmp_path.glob("*.sigstore.json"))


def test_release_refuses_a_pae_artifact_at_the_checks(tmp_path: Path) -> None:
    artifact = tmp_path / "app-1.0.tar.gz"
    artifact.write_bytes(FORGED)
    with pytest.raises(InputError, match=re.escape(REASON)):
        artifacts.check((artifact,))


def test_an_image_whose_manifest_is_a_pae_is_refused(tmp_path: Path) -> None:
    """Neither a registry nor a layout need serve JSON as a manifest: its digest is signed."""
    digest = hashlib.sha256(FORGED).hexdigest()
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    (tmp_path / "blobs" / "sha256" / digest).write_bytes(FORGED)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    listed = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{digest}",
        "size": len(FORGED),
    }
    (tmp_path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [listed]}))
    with pytest.raises(InputError, match=re.escape(REASON)):
        images.target(str(tmp_path))
