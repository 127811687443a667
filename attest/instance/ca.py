"""The instance's Fulcio-compatible CA: a short-lived code-signing certificate for the identity
in a verified token, bound to the requester's key, with an embedded SCT from the local CT log.

On the real clock a certificate is valid for 10 minutes. On a shifted clock (`instance up
--clock`, for evidence dated in the past) it is valid from the instance's now until 10 minutes
past the real now: verifiers check it at the log's integrated time (the instance's clock), but
sigstore-python refuses to sign with a certificate whose notAfter has passed on the real clock.
So the window spans the shift; that is the price of dating evidence in the past with an
unmodified client, acceptable for a development instance whose root the gate refuses unless a
policy names it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import struct
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from attest.identity import certificate_identity, github_extensions
from attest.instance.state import State, key_id, key_usage, spki_der
from verify.certificate import key_problem
from verify.text import excerpt

LEAF_LIFETIME = datetime.timedelta(minutes=10)
_OID = "1.3.6.1.4.1.57264.1."
_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
# Fulcio's PublicKeyAlgorithm values an ECDSA key may carry, by name or number (exactly: not
# True, not 2.0); 0 is UNSPECIFIED, which Fulcio reads from the PEM as well.
_ECDSA = ("ECDSA", "PUBLIC_KEY_ALGORITHM_UNSPECIFIED", 2, 0)


class CertificateRequestError(Exception):
    """A request the CA refuses (HTTP 400); the message says why."""


def _der_utf8(text: str) -> bytes:
    data = text.encode()
    if len(data) < 0x80:
        return b"\x0c" + bytes([len(data)]) + data
    length = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return b"\x0c" + bytes([0x80 | len(length)]) + length + data


def subject_alternative_name(claims: dict[str, Any]) -> x509.GeneralName:
    """The identity the certificate names, as a URI or an email address."""
    identity = certificate_identity(claims)
    if "://" in identity:
        return x509.UniformResourceIdentifier(identity)
    if "@" in identity:
        return x509.RFC822Name(identity)
    raise CertificateRequestError(
        f"identity {identity!r} is neither a URI nor an email address; the certificate needs one"
    )


def _sigstore_extensions(issuer: str, claims: dict[str, Any]) -> list[x509.ExtensionType]:
    raw = {1: issuer}
    der = {8: issuer}
    if "repository" in claims:
        raw.update(
            {
                2: str(claims.get("event_name", "")),
                3: str(claims.get("sha", "")),
                4: str(claims.get("workflow", "")),
                5: str(claims.get("repository", "")),
                6: str(claims.get("ref", "")),
            }
        )
        der.update(github_extensions(claims))
    extensions: list[x509.ExtensionType] = [
        x509.UnrecognizedExtension(ObjectIdentifier(f"{_OID}{n}"), value.encode())
        for n, value in sorted(raw.items())
        if value
    ]
    extensions += [
        x509.UnrecognizedExtension(ObjectIdentifier(f"{_OID}{n}"), _der_utf8(value))
        for n, value in sorted(der.items())
    ]
    return extensions


def _sct_extension(
    state: State, precert_tbs: bytes, timestamp_ms: int
) -> x509.UnrecognizedExtension:
    """An RFC 6962 SCT over the precertificate, signed by the CT log key."""
    issuer_key_hash = hashlib.sha256(spki_der(state.keys["ca-intermediate"].public_key())).digest()
    signed = (
        struct.pack(">BBQH", 0, 0, timestamp_ms, 1)
        + issuer_key_hash
        + len(precert_tbs).to_bytes(3, "big")
        + precert_tbs
        + b"\x00\x00"
    )
    log_key = state.keys["ctlog"]
    signature = log_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    sct = (
        b"\x00"
        + key_id(log_key.public_key())
        + struct.pack(">QH", timestamp_ms, 0)
        + bytes([4, 3])
        + struct.pack(">H", len(signature))
        + signature
    )
    sct_list = struct.pack(">H", len(sct) + 2) + struct.pack(">H", len(sct)) + sct
    octets = (
        b"\x04" + bytes([len(sct_list)])
        if len(sct_list) < 0x80
        else (b"\x04\x81" + bytes([len(sct_list)]))
    )
    return x509.UnrecognizedExtension(_SCT_LIST, octets + sct_list)


def issue(
    state: State,
    public_key: ec.EllipticCurvePublicKey,
    claims: dict[str, Any],
    issuer: str,
    now: datetime.datetime,
    real_now: datetime.datetime,
) -> list[x509.Certificate]:
    """The chain (leaf, intermediate, root) for a verified token's claims and the key, dated
    `now` on the instance's clock and valid until LEAF_LIFETIME past the later of the two."""
    intermediate_key = state.keys["ca-intermediate"]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(state.intermediate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(max(now, real_now) + LEAF_LIFETIME)
        .add_extension(key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(intermediate_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([subject_alternative_name(claims)]), critical=True
        )
    )
    for extension in _sigstore_extensions(issuer, claims):
        builder = builder.add_extension(extension, critical=False)
    precert = builder.sign(intermediate_key, hashes.SHA256())
    sct = _sct_extension(state, precert.tbs_certificate_bytes, int(now.timestamp() * 1000))
    leaf = builder.add_extension(sct, critical=False).sign(intermediate_key, hashes.SHA256())
    if leaf.tbs_precertificate_bytes != precert.tbs_certificate_bytes:
        raise RuntimeError("precertificate TBS mismatch: the SCT would not verify")
    return [leaf, state.intermediate, state.root]


def requested_key(request: dict[str, Any], claims: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """The key a certificate request proves possession of, in either of Fulcio's forms: a CSR
    (sigstore-python), else a public key with a signature over the token's subject (sigstore-js).
    As Fulcio does, a CSR is read whenever one is sent."""
    if request.get("certificateSigningRequest") or "publicKeyRequest" not in request:
        try:
            csr = base64.b64decode(str(request.get("certificateSigningRequest", "")), validate=True)
        except ValueError as e:
            raise CertificateRequestError(f"bad certificate request: {e}") from e
        return _csr_key(csr)
    return _proven_key(request["publicKeyRequest"], possession_subject(claims))


def possession_subject(claims: dict[str, Any]) -> str:
    """What a publicKeyRequest's proof of possession signs: the email for an email identity,
    else the token's `sub`, as Fulcio checks it (and as sigstore-js signs it)."""
    email = claims.get("email")
    return email if isinstance(email, str) else str(claims.get("sub", ""))


def _csr_key(csr_pem: bytes) -> ec.EllipticCurvePublicKey:
    """The key of a CSR whose self-signature proves possession of the private key."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as e:
        raise CertificateRequestError(f"malformed certificate signing request: {e}") from e
    try:
        valid, key = csr.is_signature_valid, csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:  # a key or signature of unknown kind
        raise CertificateRequestError(f"unsupported certificate signing request: {e}") from e
    if not valid:
        raise CertificateRequestError("the CSR's signature does not prove possession of the key")
    return _ecdsa(key)


def _proven_key(request: object, subject: str) -> ec.EllipticCurvePublicKey:
    """The key of a publicKeyRequest (`publicKey: {algorithm, content: PEM}`, `proofOfPossession`:
    base64 of an ECDSA-SHA256 signature over `subject`) whose proof verifies."""
    public_key = request.get("publicKey") if isinstance(request, dict) else None
    if not isinstance(request, dict) or not isinstance(public_key, dict):
        raise CertificateRequestError("publicKeyRequest needs a publicKey object")
    algorithm = public_key.get("algorithm")  # absent or null: unspecified (protobuf JSON)
    if algorithm is not None and (type(algorithm) not in (str, int) or algorithm not in _ECDSA):
        raise CertificateRequestError(f"publicKey.algorithm {excerpt(algorithm, 40)} is not ECDSA")
    try:
        key = serialization.load_pem_public_key(str(public_key.get("content", "")).encode())
        proof = base64.b64decode(str(request.get("proofOfPossession", "")), validate=True)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise CertificateRequestError(f"malformed publicKeyRequest: {excerpt(e, 80)}") from e
    key = _ecdsa(key)
    try:
        key.verify(proof, subject.encode(), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, UnicodeEncodeError) as e:  # a lone surrogate: no signable text
        raise CertificateRequestError(
            "proofOfPossession is not a signature by publicKey over the token's subject "
            f"{excerpt(subject, 60)}: it does not prove possession of the key"
        ) from e
    return key


def _ecdsa(key: object) -> ec.EllipticCurvePublicKey:
    """The key, when it is one Fulcio certifies and the gate verifies (verify/certificate.py)."""
    problem = key_problem(key)
    if problem is not None or not isinstance(key, ec.EllipticCurvePublicKey):
        raise CertificateRequestError(f"unsupported key: {problem}")
    return key
