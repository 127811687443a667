"""The instance's Rekor v2 log (`POST /api/v2/log/entries`, as rekor-tiles serves it):
`hashedrekord` 0.0.2 entries, checked against their certificate and stored canonically in a
tree of their own (its own key and checkpoints, beside the v1 log), answered at once with a
TransparencyLogEntry proven by an inclusion proof against a signed checkpoint. A v2 entry has
no integrated time and no signed entry timestamp: a bundle's time comes from the timestamp
authority (attest/instance/tsa.py).

sigstore-python sends a DSSE envelope as a hashedrekord too: its digest is the hash of the
envelope's pre-authentication encoding, its signature the envelope's (rekor-v2 spec 6.1.4); to
the log that is one more signed digest. The dsse 0.0.2 request is not served (400)."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from attest.instance.log import EntryError, TransparencyLog, _decode, _field
from attest.instance.state import State
from verify.formats.predicates import short

# keyDetails (sigstore's PublicKeyDetails) -> the curve, and the hash with its name in an entry
_KEY_DETAILS: dict[str, tuple[type[ec.EllipticCurve], hashes.HashAlgorithm, str]] = {
    "PKIX_ECDSA_P256_SHA_256": (ec.SECP256R1, hashes.SHA256(), "SHA2_256"),
    "PKIX_ECDSA_P384_SHA_384": (ec.SECP384R1, hashes.SHA384(), "SHA2_384"),
    "PKIX_ECDSA_P521_SHA_512": (ec.SECP521R1, hashes.SHA512(), "SHA2_512"),
}
KIND, VERSION = "hashedrekord", "0.0.2"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _verifier(signature: dict[str, Any]) -> tuple[x509.Certificate, bytes, str]:
    details = str(_field(signature, "verifier", "keyDetails"))
    if details not in _KEY_DETAILS:
        raise EntryError(f"unsupported keyDetails {short(details, 40)}: ECDSA P-256/384/521 only")
    raw = _decode(_field(signature, "verifier", "x509Certificate", "rawBytes"), "rawBytes")
    try:
        return x509.load_der_x509_certificate(raw), raw, details
    except ValueError as e:
        raise EntryError("verifier.x509Certificate is not a DER certificate") from e


def canonical_body(request: object) -> bytes:
    """The entry the log stores for a CreateEntryRequest, after checking its signature."""
    if not isinstance(request, dict) or "hashedRekordRequestV002" not in request:
        kinds = sorted(request) if isinstance(request, dict) else []
        raise EntryError(
            f"unsupported request {short(kinds, 60)}: this log takes hashedRekordRequestV002"
        )
    spec = request["hashedRekordRequestV002"]
    digest = _decode(_field(spec, "digest"), "digest")
    signature_spec = _field(spec, "signature")
    signature = _decode(_field(signature_spec, "content"), "signature.content")
    certificate, der, details = _verifier(signature_spec)
    curve, algorithm, name = _KEY_DETAILS[details]
    if len(digest) != algorithm.digest_size:
        raise EntryError(f"digest is not {algorithm.digest_size} bytes, as {details} needs")
    try:
        key = certificate.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
            raise EntryError(f"the certificate's key is not the {details} key it claims")
        key.verify(signature, digest, ec.ECDSA(Prehashed(algorithm)))
    except (InvalidSignature, ValueError, UnsupportedAlgorithm) as e:
        raise EntryError("signature does not verify against the certificate") from e
    body: dict[str, Any] = {
        "apiVersion": VERSION,
        "kind": KIND,
        "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": name, "digest": _b64(digest)},
                "signature": {
                    "content": _b64(signature),
                    "verifier": {
                        "keyDetails": details,
                        "x509Certificate": {"rawBytes": _b64(der)},
                    },
                },
            }
        },
    }
    return rfc8785.dumps(body)


class RekorV2Log(TransparencyLog):
    """The v2 log of one instance: the v1 log's tree, file and checkpoints, on key `tlog2`."""

    def __init__(self, state: State) -> None:
        super().__init__(state, key="tlog2", file="entries-v2.jsonl")

    def add(self, proposed: object, now: datetime.datetime) -> dict[str, Any]:
        body = canonical_body(proposed)
        with self.lock:
            # the time is kept in the log's file (the clock may not go back before it, see
            # lifecycle), never answered: a v2 entry has no integrated time
            return self.log_entry(self.integrate(body, int(now.timestamp())))

    def log_entry(self, index: int) -> dict[str, Any]:
        """The TransparencyLogEntry (sigstore's protobuf, as JSON: 64-bit numbers as strings)
        for the entry at `index`, proven against the current tree."""
        size = len(self)
        body = base64.b64decode(self._entries[index]["body"])
        kind = {"kind": KIND, "version": VERSION}
        return {
            "logIndex": str(index),
            "logId": {"keyId": _b64(self.log_id)},
            "kindVersion": kind,
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": _b64(self._tree.root(size)),
                "treeSize": str(size),
                "hashes": [_b64(h) for h in self._tree.inclusion_proof(index, size)],
                "checkpoint": {"envelope": self.checkpoint(size)},
            },
            "canonicalizedBody": _b64(body),
        }
