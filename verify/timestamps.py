"""An RFC 3161 timestamp's own signature, verified directly: the token's CMS SignedData (RFC
5652) signed by the trust root's timestamp authority, its signed attributes binding the TSTInfo,
and the TSTInfo's message imprint the bundle's signature. sigstore-python verifies each token
through OpenSSL's PKCS7_verify, which rebuilds and re-verifies the authority's certificate
chain for every token (1 ms of a bundle's 2.5); the chain is the root's and the same for all,
so it is verified once (verify/once.py, by its DER and the root's digest) and only its
validity windows per token. Only the forms read here are verified here: anything else is left
to sigstore (`Unsupported`)."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


class Refused(ValueError):
    """The token does not verify; the message says why."""


class Unsupported(ValueError):
    """A form this reader does not verify (sigstore's own path does)."""


def _oid(dotted: str) -> bytes:
    """The DER contents of an OBJECT IDENTIFIER."""
    first, second, *rest = (int(part) for part in dotted.split("."))
    out = bytearray([first * 40 + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return bytes(out)


_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
_TST_INFO = _oid("1.2.840.113549.1.9.16.1.4")
_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
_DIGESTS: dict[bytes, type[hashes.HashAlgorithm]] = {
    _oid("2.16.840.1.101.3.4.2.1"): hashes.SHA256,
    _oid("2.16.840.1.101.3.4.2.2"): hashes.SHA384,
    _oid("2.16.840.1.101.3.4.2.3"): hashes.SHA512,
}
_ECDSA = {
    _oid("1.2.840.10045.4.3.2"): hashes.SHA256,
    _oid("1.2.840.10045.4.3.3"): hashes.SHA384,
    _oid("1.2.840.10045.4.3.4"): hashes.SHA512,
}
_RSA = {
    _oid("1.2.840.113549.1.1.11"): hashes.SHA256,
    _oid("1.2.840.113549.1.1.12"): hashes.SHA384,
    _oid("1.2.840.113549.1.1.13"): hashes.SHA512,
}
_SEQUENCE, _SET, _OID, _OCTETS, _INTEGER, _TIME = 0x30, 0x31, 0x06, 0x04, 0x02, 0x18
_NULL = b"\x05\x00"


@dataclasses.dataclass(slots=True)  # not frozen: a frozen one's __init__ costs 2x, per node
class _Node:
    tag: int
    data: bytes  # the whole encoding the node is in
    start: int  # where its tag is
    body: int  # where its contents start
    end: int

    @property
    def value(self) -> bytes:
        return self.data[self.body : self.end]

    @property
    def element(self) -> bytes:
        return self.data[self.start : self.end]

    def children(self) -> list[_Node]:
        found, at = [], self.body
        while at < self.end:
            node = _node(self.data, at, self.end)
            found.append(node)
            at = node.end
        return found


def _node(data: bytes, at: int, limit: int) -> _Node:
    """The DER element at `at`, within `limit`: single-byte tags, definite minimal lengths."""
    if at + 2 > limit or data[at] & 0x1F == 0x1F:
        raise Refused("not DER: a truncated element or a multi-byte tag")
    tag, first = data[at], data[at + 1]
    body, length = at + 2, first
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(data[body : body + count], "big")
        if count == 0 or count > 4 or length < 0x80 or data[body] == 0:
            raise Refused("not DER: an indefinite or non-minimal length")
        body += count
    if body + length > limit:
        raise Refused("not DER: an element longer than what holds it")
    return _Node(tag, data, at, body, body + length)


def _expect(node: _Node, tag: int, what: str) -> _Node:
    if node.tag != tag:
        raise Refused(f"{what}: not the ASN.1 type it must be")
    return node


def _whole(data: bytes) -> _Node:
    node = _node(data, 0, len(data))
    if node.end != len(data):
        raise Refused("not DER: bytes after the element")
    return node


@dataclasses.dataclass(frozen=True)
class Token:
    """What a timestamp token's signer signed, read from its DER."""

    tst_info: bytes  # the TSTInfo's DER (eContent)
    issuer: bytes  # the signer's issuer Name, DER
    serial: int
    certificates: tuple[bytes, ...]  # the certificates the token carries, DER
    digest: type[hashes.HashAlgorithm]  # the signer's digestAlgorithm
    attributes: bytes  # the signed attributes, DER-encoded as the SET OF they are signed as
    signature_hash: type[hashes.HashAlgorithm]
    rsa: bool  # an RSA PKCS #1 v1.5 signature, else ECDSA
    signature: bytes
    imprint_hash: type[hashes.HashAlgorithm]
    imprint: bytes
    gen_time: datetime.datetime


def _algorithm(
    node: _Node, known: dict[bytes, type[hashes.HashAlgorithm]]
) -> type[hashes.HashAlgorithm]:
    """The algorithm an AlgorithmIdentifier names among `known` (parameters absent or NULL)."""
    oid, *parameters = _expect(node, _SEQUENCE, "an algorithm").children()
    if oid.tag != _OID or oid.value not in known:
        raise Unsupported("an algorithm this reader does not verify")
    if parameters and (len(parameters) > 1 or parameters[0].element != _NULL):
        raise Unsupported("algorithm parameters this reader does not verify")
    return known[oid.value]


def read(token: bytes) -> Token:
    """The token (a ContentInfo of SignedData) as its signer signed it: Refused when it is no
    such DER, Unsupported for a form read only by sigstore's path."""
    content_type, content = _whole(token).children()
    if _expect(content_type, _OID, "contentType").value != _SIGNED_DATA:
        raise Refused("not a SignedData")
    [signed_data] = _expect(content, 0xA0, "content").children()
    version, _, encapsulated, *rest = _expect(signed_data, _SEQUENCE, "SignedData").children()
    _expect(version, _INTEGER, "version")
    e_type, e_content = _expect(encapsulated, _SEQUENCE, "encapContentInfo").children()
    if _expect(e_type, _OID, "eContentType").value != _TST_INFO:
        raise Refused("the token's content is not a TSTInfo")
    [octets] = _expect(e_content, 0xA0, "eContent").children()
    tst_info = _expect(octets, _OCTETS, "eContent").value
    certificates = tuple(c.element for c in rest[0].children()) if rest[0].tag == 0xA0 else ()
    signer_infos = _expect(rest[-1], _SET, "signerInfos").children()
    if len(signer_infos) != 1:
        raise Refused(f"{len(signer_infos)} signers, not one")
    return _signer(tst_info, certificates, signer_infos[0])


def _signer(tst_info: bytes, certificates: tuple[bytes, ...], info: _Node) -> Token:
    version, sid, digest, attributes, algorithm, signature, *_ = info.children()
    _expect(version, _INTEGER, "SignerInfo version")
    if sid.tag != _SEQUENCE:
        raise Unsupported("a signer named by its key identifier")
    issuer, serial = sid.children()
    _expect(attributes, 0xA0, "signedAttrs")  # RFC 3161 tokens have them; unsigned is refused
    imprint_hash, imprint, gen_time = _tst_info(tst_info)
    oid = _expect(algorithm, _SEQUENCE, "signatureAlgorithm").children()[0].value
    return Token(
        tst_info=tst_info,
        issuer=_expect(issuer, _SEQUENCE, "issuer").element,
        serial=int.from_bytes(_expect(serial, _INTEGER, "serial").value, "big", signed=True),
        certificates=certificates,
        digest=_algorithm(digest, _DIGESTS),
        attributes=bytes([_SET]) + attributes.element[1:],  # signed as the SET OF (RFC 5652 5.4)
        signature_hash=_algorithm(algorithm, _ECDSA if oid in _ECDSA else _RSA),
        rsa=oid in _RSA,
        signature=_expect(signature, _OCTETS, "signature").value,
        imprint_hash=imprint_hash,
        imprint=imprint,
        gen_time=gen_time,
    )


def _tst_info(der: bytes) -> tuple[type[hashes.HashAlgorithm], bytes, datetime.datetime]:
    """The TSTInfo's message imprint (its algorithm and digest) and genTime."""
    _, _, imprint, _, gen_time, *_ = _expect(_whole(der), _SEQUENCE, "TSTInfo").children()
    algorithm, digest = _expect(imprint, _SEQUENCE, "messageImprint").children()
    return (
        _algorithm(algorithm, _DIGESTS),
        _expect(digest, _OCTETS, "hashedMessage").value,
        _generalized(_expect(gen_time, _TIME, "genTime").value),
    )


_GENERALIZED = re.compile(rb"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d{1,6}))?Z")


def _generalized(value: bytes) -> datetime.datetime:
    """A DER GeneralizedTime: UTC ("Z"), up to microseconds (strptime's reading, 10x faster)."""
    found = _GENERALIZED.fullmatch(value)
    try:
        if found is None:
            raise ValueError(value)
        year, month, day, hour, minute, second, fraction = found.groups()
        return datetime.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or b"0").ljust(6, b"0")), tzinfo=datetime.timezone.utc,
        )  # fmt: skip
    except ValueError as e:  # no such form, or no such date (a 30 February)
        raise Refused("genTime: not a DER GeneralizedTime") from e


def _digest(algorithm: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    return hashlib.new(algorithm().name, data).digest()


def _attributes(token: Token) -> None:
    """The signed attributes name the TSTInfo as the content and hold its digest, once each."""
    found: dict[bytes, list[_Node]] = {}
    for attribute in _whole(token.attributes).children():
        oid, values = _expect(attribute, _SEQUENCE, "an attribute").children()
        if _expect(oid, _OID, "attrType").value in found:
            raise Refused("a signed attribute repeated")
        found[oid.value] = _expect(values, _SET, "attrValues").children()
    content_type = found.get(_CONTENT_TYPE, [])
    if (
        len(content_type) != 1
        or content_type[0].element != bytes([_OID, len(_TST_INFO)]) + _TST_INFO
    ):
        raise Refused("its signed content type is not a TSTInfo")
    digest = found.get(_MESSAGE_DIGEST, [])
    if len(digest) != 1 or digest[0].tag != _OCTETS:
        raise Refused("no single signed message digest")
    if digest[0].value != _digest(token.digest, token.tst_info):
        raise Refused("its signed message digest is not the TSTInfo's")


@functools.lru_cache(maxsize=16)  # a root names a few authorities; each signs every token
def _authority(leaf: x509.Certificate) -> tuple[bytes, object]:
    """The authority certificate's issuer, DER-encoded, and its public key."""
    return leaf.issuer.public_bytes(), leaf.public_key()


def verify(token: Token, message: bytes, leaf: x509.Certificate, leaf_der: bytes) -> None:
    """Refused unless `leaf` (the root's timestamp authority certificate) signed `token` over
    the timestamp of `message`: the signer is that certificate (any copy the token carries is
    it byte for byte), its signed attributes bind the TSTInfo, its signature verifies with the
    certificate's key, and the TSTInfo's imprint is `message`'s digest. The chain and the
    times are the caller's."""
    issuer, key = _authority(leaf)
    if token.issuer != issuer or token.serial != leaf.serial_number:
        raise Refused("signed by another certificate than the trust root's timestamp authority")
    for der in token.certificates:
        if der != leaf_der:
            carried = x509.load_der_x509_certificate(der)
            if carried.issuer == leaf.issuer and carried.serial_number == leaf.serial_number:
                raise Refused("the certificate it carries is not the trust root's")
    _attributes(token)
    try:
        if token.rsa and isinstance(key, rsa.RSAPublicKey):
            key.verify(
                token.signature, token.attributes, padding.PKCS1v15(), token.signature_hash()
            )
        elif not token.rsa and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(token.signature, token.attributes, ec.ECDSA(token.signature_hash()))
        else:
            raise Refused("its signature algorithm is not its certificate's key's")
    except InvalidSignature as e:
        raise Refused("its signature does not verify") from e
    if token.imprint != _digest(token.imprint_hash, message):
        raise Refused("it timestamps another message")
