"""The instance's RFC 3161 timestamp authority (`POST /api/v1/timestamp`, as Sigstore's
timestamp-authority serves it): a DER TimeStampReq in, a granted TimeStampResp out, whose token
is a CMS SignedData over a TSTInfo, signed by the TSA's certificate (issued by the instance's
root, listed in trusted_root.json under `timestampAuthorities`). Its time is the instance's
clock: for a Rekor v2 entry, which has no integrated time, it is the only time a bundle has.

Encoded with pyasn1: primitives by its encoder, structures as sequences of encoded parts."""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, tag, univ, useful

MAX_REQUEST = 4096  # bytes: a TimeStampReq is a digest, a nonce and a few flags
_HASHES = {  # the digests a request may carry, by OID, and their length
    "2.16.840.1.101.3.4.2.1": 32,  # SHA-256
    "2.16.840.1.101.3.4.2.2": 48,  # SHA-384
    "2.16.840.1.101.3.4.2.3": 64,  # SHA-512
}
_SHA256 = "2.16.840.1.101.3.4.2.1"
_NULL = b"\x05\x00"  # a digest algorithm's only parameters (RFC 5754 section 2)
_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # ESS, RFC 5035
# The policy Sigstore's timestamp-authority answers under by default.
POLICY = "1.3.6.1.4.1.57264.2"


class TimestampRequestError(Exception):
    """A request the TSA cannot answer (HTTP 400)."""


class _AlgorithmIdentifier(univ.Sequence):  # type: ignore[misc]  # pyasn1 has no types
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("algorithm", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("parameters", univ.Any()),
    )


class _MessageImprint(univ.Sequence):  # type: ignore[misc]  # pyasn1 has no types
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("hashAlgorithm", _AlgorithmIdentifier()),
        namedtype.NamedType("hashedMessage", univ.OctetString()),
    )


class _TimeStampReq(univ.Sequence):  # type: ignore[misc]  # pyasn1 has no types
    """RFC 3161 section 2.4.1, without extensions (none is defined that this TSA knows)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("messageImprint", _MessageImprint()),
        namedtype.OptionalNamedType("reqPolicy", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("nonce", univ.Integer()),
        namedtype.DefaultedNamedType("certReq", univ.Boolean(False)),
    )


def _der(value: univ.Asn1Item) -> bytes:
    data: bytes = encoder.encode(value)
    return data


def _constructed(parts: list[bytes], kind: type[univ.SequenceOf] = univ.SequenceOf) -> bytes:
    """A SEQUENCE (or SET, DER-sorted) of already encoded parts."""
    value = kind(componentType=univ.Any())
    value.extend([univ.Any(part) for part in parts])
    return _der(value)


def _implicit_set(number: int, parts: list[bytes]) -> bytes:
    """[number] IMPLICIT SET OF the encoded parts (DER-sorted)."""
    context = tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number)
    value = univ.SetOf(componentType=univ.Any()).subtype(implicitTag=context)
    value.extend([univ.Any(part) for part in parts])
    return _der(value)


def _oid(dotted: str) -> bytes:
    return _der(univ.ObjectIdentifier(dotted))


def _algorithm(dotted: str) -> bytes:
    return _constructed([_oid(dotted)])


def _attribute(dotted: str, value: bytes) -> bytes:
    return _constructed([_oid(dotted), _constructed([value], univ.SetOf)])


def _read(request: bytes) -> tuple[bytes, int | None, bool]:
    """The request's message imprint (as encoded), nonce and certReq; TimestampRequestError
    for anything but a version 1 request for a known digest."""
    if len(request) > MAX_REQUEST:
        raise TimestampRequestError(f"a timestamp request is at most {MAX_REQUEST} bytes")
    try:
        parsed, rest = decoder.decode(request, asn1Spec=_TimeStampReq())
    except (PyAsn1Error, ValueError, TypeError) as e:
        raise TimestampRequestError("not a DER TimeStampReq (RFC 3161)") from e
    if rest:
        raise TimestampRequestError("bytes after the TimeStampReq")
    if int(parsed["version"]) != 1:
        raise TimestampRequestError("only version 1 timestamp requests are answered")
    if parsed["reqPolicy"].isValue and str(parsed["reqPolicy"]) != POLICY:
        raise TimestampRequestError(f"unknown policy: this TSA answers under {POLICY}")
    imprint = parsed["messageImprint"]
    length = _HASHES.get(str(imprint["hashAlgorithm"]["algorithm"]))
    if length is None:
        raise TimestampRequestError("the message imprint's digest must be SHA-256, -384 or -512")
    parameters = imprint["hashAlgorithm"]["parameters"]
    if parameters.isValue and bytes(parameters) != _NULL:  # echoed into the signed token
        raise TimestampRequestError("the digest algorithm's parameters must be absent or NULL")
    if len(bytes(imprint["hashedMessage"])) != length:
        raise TimestampRequestError("the message imprint's digest has the wrong length")
    nonce = int(parsed["nonce"]) if parsed["nonce"].isValue else None
    return _der(imprint), nonce, bool(parsed["certReq"])


def _tst_info(imprint: bytes, nonce: int | None, now: datetime.datetime) -> bytes:
    """RFC 3161 section 2.4.2: version, policy, imprint, serial, genTime, nonce."""
    when = now.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")
    parts = [
        _der(univ.Integer(1)),
        _oid(POLICY),
        imprint,
        _der(univ.Integer(x509.random_serial_number())),
        _der(useful.GeneralizedTime(when)),
    ]
    if nonce is not None:
        parts.append(_der(univ.Integer(nonce)))
    return _constructed(parts)


def _signer_info(key: ec.EllipticCurvePrivateKey, tsa: x509.Certificate, tst: bytes) -> bytes:
    """One SignerInfo (RFC 5652 section 5.3) over the TSTInfo, with the signed attributes RFC
    3161 requires: content type, message digest, and the signing certificate (ESS v2)."""
    certificate_hash = hashlib.sha256(tsa.public_bytes(serialization.Encoding.DER)).digest()
    ess = _constructed([_constructed([_constructed([_der(univ.OctetString(certificate_hash))])])])
    attributes = [
        _attribute(_CONTENT_TYPE, _oid(_TST_INFO)),
        _attribute(_MESSAGE_DIGEST, _der(univ.OctetString(hashlib.sha256(tst).digest()))),
        _attribute(_SIGNING_CERTIFICATE_V2, ess),
    ]
    signed = _constructed(attributes, univ.SetOf)  # signed as a SET OF (0x31) ...
    signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    issuer_serial = _constructed([tsa.issuer.public_bytes(), _der(univ.Integer(tsa.serial_number))])
    return _constructed(
        [
            _der(univ.Integer(1)),
            issuer_serial,
            _algorithm(_SHA256),
            _implicit_set(0, attributes),  # ... and carried as [0] IMPLICIT
            _algorithm(_ECDSA_SHA256),
            _der(univ.OctetString(signature)),
        ]
    )


def respond(
    request: bytes,
    key: ec.EllipticCurvePrivateKey,
    tsa: x509.Certificate,
    now: datetime.datetime,
) -> bytes:
    """The DER TimeStampResp granting a timestamp at `now` for `request`."""
    imprint, nonce, with_certificate = _read(request)
    tst = _tst_info(imprint, nonce, now)
    content = _constructed([_oid(_TST_INFO), _explicit(0, _der(univ.OctetString(tst)))])
    parts = [_der(univ.Integer(3)), _constructed([_algorithm(_SHA256)], univ.SetOf), content]
    if with_certificate:
        parts.append(_implicit_set(0, [tsa.public_bytes(serialization.Encoding.DER)]))
    parts.append(_constructed([_signer_info(key, tsa, tst)], univ.SetOf))
    token = _constructed([_oid(_SIGNED_DATA), _explicit(0, _constructed(parts))])
    granted = _constructed([_der(univ.Integer(0))])
    return _constructed([granted, token])


def _explicit(number: int, part: bytes) -> bytes:
    """[number] EXPLICIT around one encoded part."""
    context = tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number)
    value = univ.Any(part).subtype(explicitTag=context)
    return _der(value)
