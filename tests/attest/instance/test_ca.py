"""The CA's reading of a certificate request (attest/instance/ca.py `requested_key`): a CSR, or
Fulcio's publicKeyRequest whose proof of possession must be the key's signature over the token's
subject; every refusal says why."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.instance.ca import CertificateRequestError, possession_subject, requested_key

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
ALICE = {"sub": "https://example.com/alice"}


def _pem(key: Any) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return str(public.decode())


def _request(
    key: ec.EllipticCurvePrivateKey, signed: str, signer: ec.EllipticCurvePrivateKey | None = None
) -> dict[str, Any]:
    """sigstore-js's request: the key's PEM and a signature over `signed` (by `signer`)."""
    proof = (signer or key).sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
    return {
        "credentials": {"oidcIdentityToken": "not read here"},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": _pem(key)},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }


def _same(a: ec.EllipticCurvePublicKey, b: ec.EllipticCurvePublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # signable: UTF-8
emails = st.builds(
    "{}@{}.example".format, text.filter(bool), st.from_regex(r"[a-z]{1,9}", fullmatch=True)
)
claims = st.fixed_dictionaries({"sub": text.filter(bool)}, optional={"email": emails})


@settings(max_examples=60, deadline=None)
@given(claims=claims, other=text)
def test_a_proof_over_the_subject_by_the_key_and_only_that_is_possession(
    claims: dict[str, Any], other: str
) -> None:
    """For random claims: the key's signature over the token's subject (the email when the token
    has one, else `sub`, as Fulcio checks it) is accepted; over any other text, or by another
    key, it is refused and the message says so."""
    subject = possession_subject(claims)
    assert subject == claims.get("email", claims["sub"])
    assert _same(requested_key(_request(KEY, subject), claims), KEY.public_key())
    refusals = [_request(KEY, subject, signer=OTHER)]
    if other != subject:
        refusals.append(_request(KEY, other))
    for request in refusals:
        with pytest.raises(CertificateRequestError, match="does not prove possession of the key"):
            requested_key(request, claims)


def test_the_algorithm_may_be_named_or_numbered_but_must_be_ecdsa() -> None:
    for algorithm in ("ECDSA", "PUBLIC_KEY_ALGORITHM_UNSPECIFIED", 2, 0, None):
        request = _request(KEY, ALICE["sub"])
        request["publicKeyRequest"]["publicKey"]["algorithm"] = algorithm
        assert _same(requested_key(request, ALICE), KEY.public_key())
    del request["publicKeyRequest"]["publicKey"]["algorithm"]
    assert _same(requested_key(request, ALICE), KEY.public_key())
    for algorithm in ("ED25519", "RSA_PSS", 3, ["ECDSA"], False, 2.0, "ecdsa"):
        request["publicKeyRequest"]["publicKey"]["algorithm"] = algorithm
        with pytest.raises(CertificateRequestError, match=r"publicKey.algorithm .+ is not ECDSA"):
            requested_key(request, ALICE)


def test_malformed_public_key_requests_are_refused_with_the_reason() -> None:
    good = _request(KEY, ALICE["sub"])["publicKeyRequest"]
    cases: list[tuple[object, str]] = [
        (None, "publicKeyRequest needs a publicKey object"),
        ({"proofOfPossession": good["proofOfPossession"]}, "needs a publicKey object"),
        ({**good, "publicKey": "PEM"}, "needs a publicKey object"),
        ({**good, "publicKey": {"content": "not a PEM"}}, "malformed publicKeyRequest: "),
        ({**good, "proofOfPossession": "!not base64!"}, "malformed publicKeyRequest: "),
        ({**good, "proofOfPossession": ""}, "does not prove possession of the key"),
        ({**good, "proofOfPossession": "AAAA"}, "does not prove possession of the key"),
    ]
    for key in (rsa.generate_private_key(65537, 1024), ed25519.Ed25519PrivateKey.generate()):
        public = {"algorithm": "ECDSA", "content": _pem(key)}
        cases.append(({**good, "publicKey": public}, "unsupported key: the key is not an ECDSA"))
    for request, reason in cases:
        with pytest.raises(CertificateRequestError, match=reason):
            requested_key({"publicKeyRequest": request}, ALICE)


def test_a_refusal_quotes_the_subject_escaped_and_short() -> None:
    claims = {"sub": "https://example.com/\x1b[31m" + "x" * 200}
    with pytest.raises(CertificateRequestError) as refused:
        requested_key(_request(KEY, "something else"), claims)
    assert "\x1b" not in str(refused.value) and len(str(refused.value)) < 250
    with pytest.raises(CertificateRequestError, match="does not prove possession"):
        requested_key(_request(KEY, "x"), {"sub": "\ud800"})  # no UTF-8 text to have signed


def test_a_csr_is_still_read_and_wins_over_a_public_key_as_at_fulcio() -> None:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(OTHER, hashes.SHA256())
    )
    request = {
        **_request(KEY, ALICE["sub"]),
        "certificateSigningRequest": base64.b64encode(
            csr.public_bytes(serialization.Encoding.PEM)
        ).decode(),
    }
    assert _same(requested_key(request, ALICE), OTHER.public_key())
    request["certificateSigningRequest"] = "!"
    with pytest.raises(CertificateRequestError, match="bad certificate request: "):
        requested_key(request, ALICE)
    with pytest.raises(CertificateRequestError, match="malformed certificate signing request"):
        requested_key({}, ALICE)  # neither form: read as an empty CSR, as before


@pytest.mark.parametrize("curve", [ec.SECP192R1(), ec.SECP256K1(), ec.SECP224R1()])
def test_a_key_on_a_curve_fulcio_does_not_certify_is_refused_in_either_form(curve: Any) -> None:
    """Fulcio certifies ECDSA on P-256, P-384 and P-521 only: a CSR or a publicKeyRequest whose
    key (possession proven) is on another curve is refused, saying which curve."""
    key = ec.generate_private_key(curve)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    pem = base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()
    reason = (
        f"unsupported key: the key's curve {curve.name} is not one of them \\(ECDSA keys on P-256"
    )
    for request in (_request(key, ALICE["sub"]), {"certificateSigningRequest": pem}):
        with pytest.raises(CertificateRequestError, match=reason):
            requested_key(request, ALICE)
    for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()):
        key = ec.generate_private_key(curve)
        assert _same(requested_key(_request(key, ALICE["sub"]), ALICE), key.public_key())
