"""The instance's Rekor v2 log and RFC 3161 timestamp authority: announced in its signing
config, listed in its trust root, and used by unmodified sigstore-python, whose bundles carry a
signed timestamp (a TSA failure is only a warning there, so the bundles are read here)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests
from cryptography import x509
from pyasn1.type import univ
from rfc3161_client import TimestampRequestBuilder, decode_timestamp_response
from rfc3161_client.base import HashAlgorithm
from rfc3161_client.verify import VerifierBuilder
from sigstore.models import ClientTrustConfig

from attest.instance import tsa
from attest.instance.state import State, create_state
from attest.instance.trust import client_trust_config, signing_config, trusted_root
from tests import signed_release as g
from tests.clients import verify_dsse_py, verify_js, verify_py
from tests.conftest import LocalInstance
from verify.formats.predicates import KINDS


@pytest.fixture
def state(tmp_path: Path) -> State:
    return create_state(tmp_path / "state", 1)


def test_signing_config_announces_the_chosen_log_and_the_tsa(tmp_path: Path) -> None:
    """v2 comes with v1 beside it (PEP 740 needs an inclusion promise), and sigstore-python
    still signs with v2 and timestamps; `--rekor-version 1` announces v1 alone."""
    for version, announced in ((1, [1]), (2, [2, 1])):
        state = create_state(tmp_path / str(version), 1, rekor_version=version)
        config = signing_config(state)
        assert [s["majorApiVersion"] for s in config["rekorTlogUrls"]] == announced
        assert [s["url"] for s in config["tsaUrls"]] == ["http://127.0.0.1:1/api/v1/timestamp"]
        parsed = ClientTrustConfig.from_json(json.dumps(client_trust_config(state))).signing_config
        [log] = parsed.get_tlogs()
        assert type(log).__name__ == ("RekorV2Client" if version == 2 else "RekorClient")
        assert [t.url for t in parsed.get_tsas()] == ["http://127.0.0.1:1/api/v1/timestamp"]


def test_trusted_root_lists_both_logs_and_the_tsa(state: State) -> None:
    root = trusted_root(state)
    assert len({log["logId"]["keyId"] for log in root["tlogs"]}) == 2
    [authority] = root["timestampAuthorities"]
    leaf, issuer = (
        x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
        for c in authority["certChain"]["certificates"]
    )
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [x509.ExtendedKeyUsageOID.TIME_STAMPING]
    assert issuer == state.root and leaf.issuer == state.root.subject


def test_timestamps_verify_with_rfc3161_client(state: State) -> None:
    request = (
        TimestampRequestBuilder()
        .hash_algorithm(HashAlgorithm.SHA256)
        .data(b"sig")
        .nonce(nonce=True)
    ).build()
    now = state.now().replace(microsecond=0)
    assert state.tsa is not None
    answer = decode_timestamp_response(
        tsa.respond(request.as_bytes(), state.keys["tsa"], state.tsa, now)
    )
    assert answer.tst_info.gen_time == now and answer.tst_info.nonce == request.nonce
    verifier = VerifierBuilder().tsa_certificate(state.tsa).add_root_certificate(state.root)
    assert verifier.build().verify_message(answer, b"sig")
    with pytest.raises(tsa.TimestampRequestError, match="not a DER TimeStampReq"):
        tsa.respond(b"\x30\x03\x02\x01\x01", state.keys["tsa"], state.tsa, now)


def _request(parameters: bytes) -> bytes:
    """A TimeStampReq for a SHA-256 digest whose algorithm carries `parameters` (encoded)."""
    algorithm = tsa._constructed([tsa._oid(tsa._SHA256), *([parameters] if parameters else [])])
    imprint = tsa._constructed([algorithm, tsa._der(univ.OctetString(b"a" * 32))])
    return tsa._constructed([tsa._der(univ.Integer(1)), imprint])


def test_digest_parameters_other_than_null_are_refused_not_signed(state: State) -> None:
    """The request's algorithm identifier is echoed into the token the TSA signs: junk there
    (nested 900 deep by an attacker) would be signed too."""
    assert state.tsa is not None
    for accepted in (b"", b"\x05\x00"):  # absent or NULL (RFC 5754)
        tsa.respond(_request(accepted), state.keys["tsa"], state.tsa, state.now())
    nested = b"\x05\x00"
    for _ in range(50):
        nested = tsa._constructed([nested])
    for junk in (nested, tsa._der(univ.Integer(7)), b"\x05\x01\x00"):
        with pytest.raises(tsa.TimestampRequestError, match="parameters must be absent or NULL"):
            tsa.respond(_request(junk), state.keys["tsa"], state.tsa, state.now())


def test_bad_requests_are_refused_with_a_reason(rekor2_instance: LocalInstance) -> None:
    url = rekor2_instance.url
    garbage = requests.post(f"{url}/api/v1/timestamp", data=b"not DER", timeout=30)
    assert garbage.status_code == 400 and "TimeStampReq" in garbage.json()["message"]
    dsse = requests.post(f"{url}/api/v2/log/entries", json={"dsseRequestV002": {}}, timeout=30)
    assert dsse.status_code == 400
    assert "this log takes hashedRekordRequestV002" in dsse.json()["message"]


def _material(bundle: Path) -> dict[str, object]:
    material: dict[str, object] = json.loads(bundle.read_text())["verificationMaterial"]
    return material


@pytest.mark.interop
def test_sigstore_python_signs_against_rekor2(
    rekor2_instance: LocalInstance, tmp_path: Path
) -> None:
    """Signatures and DSSE via `attest sign` and sigstore-python's signer; verified by
    sigstore-python, and by sigstore-js (@sigstore/verify 3.1.1) for the message signature
    only: it reads a hashedrekord 0.0.2 entry of a DSSE envelope as a digest of the payload,
    not of its pre-authentication encoding, and refuses sigstore-python's."""
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"the wheel\n")
    token = g.github_token(rekor2_instance)
    g.sign_files(rekor2_instance, token, artifact)
    signature = tmp_path / "app.whl.sigstore.json"
    statement = g.write_statement(
        g.session(rekor2_instance, token), tmp_path / "app.sbom.sigstore.json", [artifact],
        KINDS["sbom"], {"components": []},
    )  # fmt: skip
    for bundle in (signature, statement):
        material = _material(bundle)
        [entry] = material["tlogEntries"]  # type: ignore[misc]
        assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
        stamps = material["timestampVerificationData"]["rfc3161Timestamps"]  # type: ignore[index]
        assert len(stamps) == 1
    assert verify_py(rekor2_instance, signature, artifact, g.WORKFLOW) is None
    assert verify_dsse_py(rekor2_instance, statement, g.WORKFLOW)["predicateType"] == KINDS["sbom"]
    root, issuer = rekor2_instance.trusted_root, rekor2_instance.issuer
    assert verify_js(root, signature, artifact, g.WORKFLOW, issuer) is None
    refused = verify_js(root, statement, None, g.WORKFLOW, issuer)
    assert refused is not None and "TLOG_BODY_ERROR digest mismatch" in refused
