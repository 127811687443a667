"""What a verified Sigstore signing certificate says about its signer: the identity (SAN), the
OIDC issuer and Fulcio's GitHub workflow extensions (OIDs 1.3.6.1.4.1.57264.1.N)."""

from __future__ import annotations

import dataclasses
import functools

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier

_OID = "1.3.6.1.4.1.57264.1."
# Fulcio's DER-encoded (UTF8String) extensions the policy can name.
EXTENSIONS = {
    "source_repository": 12,
    "source_ref": 14,
    "trigger": 20,
    "runner_environment": 11,
    "build_signer_uri": 9,  # the workflow that signed: a reusable one, or the caller itself
    "build_config_uri": 18,  # the workflow that ran (the caller of a reusable workflow)
}


# The keys a Sigstore signature is made with: Fulcio certifies ECDSA on these curves (and RSA
# and ed25519, which sigstore-python never verifies a signature with). A key on another curve
# (secp192r1, secp256k1) no Sigstore CA certifies: the local CA refuses it, and so does the gate.
SIGNING_CURVES = ("secp256r1", "secp384r1", "secp521r1")
_CURVES_SAID = "ECDSA keys on P-256, P-384 or P-521 only"


def key_problem(key: object) -> str | None:
    """Why `key` is not a Sigstore signing key (None: it is one)."""
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return f"the key is not an ECDSA key ({_CURVES_SAID})"
    if key.curve.name not in SIGNING_CURVES:
        return f"the key's curve {key.curve.name} is not one of them ({_CURVES_SAID})"
    return None


def signing_key_problem(cert: x509.Certificate) -> str | None:
    """Why the signing certificate's key is not a Sigstore signing key (None: it is one)."""
    try:
        key: object = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        key = None
    return key_problem(key)


@dataclasses.dataclass(frozen=True)
class Signer:
    identity: str
    issuer: str
    extensions: dict[str, str]  # by the policy's names; absent when the certificate lacks one

    def to_dict(self) -> dict[str, object]:
        return {"identity": self.identity, "issuer": self.issuer, "extensions": self.extensions}


def _extension(cert: x509.Certificate, number: int) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(f"{_OID}{number}"))
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _der_utf8(data: bytes) -> str | None:
    """The text of a DER UTF8String (tag 0x0c), or None when it is not one."""
    if len(data) < 2 or data[0] != 0x0C:
        return None
    length, offset = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    body = data[offset : offset + length]
    if len(body) != length or offset + length != len(data):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def _identity(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    names = [
        str(n.value)
        for n in san
        if isinstance(n, (x509.UniformResourceIdentifier, x509.RFC822Name))
    ]
    return names[0] if len(names) == 1 else ""  # zero or several names: match nothing


def _issuer(cert: x509.Certificate) -> str:
    der = _extension(cert, 8)
    if der is not None:
        return _der_utf8(der) or ""
    legacy = _extension(cert, 1)
    return legacy.decode(errors="replace") if legacy is not None else ""


@functools.lru_cache(maxsize=256)  # a release's bundles share one certificate; read it once
def signer(cert: x509.Certificate) -> Signer:
    found = {}
    for name, number in EXTENSIONS.items():
        raw = _extension(cert, number)
        text = _der_utf8(raw) if raw is not None else None
        if text is not None:
            found[name] = text
    return Signer(_identity(cert), _issuer(cert), found)
