"""The instance's Rekor v1-compatible transparency log: `hashedrekord` and `dsse` 0.0.1
entries checked against their certificates, stored canonically, appended to an RFC 6962 tree
persisted as an append-only file, answered with a signed entry timestamp and an inclusion proof
with a signed checkpoint."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from attest.instance.merkle import MerkleTree, leaf_hash
from attest.instance.state import HOST, State, key_id
from verify.errors import UsageError
from verify.files import MIB, NotRegular, open_regular
from verify.formats.predicates import short

_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
MAX_RECORD = 4 * MIB  # bytes in a line of the log: a body from a request of at most 1 MiB
_GENESIS: dict[str, Any] = {"apiVersion": "0.0.1", "kind": "attest-dev-genesis", "spec": {}}


class EntryError(Exception):
    """A proposed entry the log refuses (HTTP 400)."""


class DuplicateEntry(Exception):
    """The same entry is already in the log (HTTP 409)."""

    def __init__(self, uuid: str) -> None:
        super().__init__(uuid)
        self.uuid = uuid


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _field(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            raise EntryError(f"missing field {'.'.join(path)}")
        data = data[key]
    return data


def _certificate(b64_pem: object) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(base64.b64decode(str(b64_pem), validate=True))
    except ValueError as e:
        raise EntryError(f"verifier is not a base64 PEM certificate: {e}") from e


def _pem(certificate: x509.Certificate) -> str:
    """Base64 of the PEM as Go's encoder writes it (64 columns), as real Rekor stores it."""
    return _b64(certificate.public_bytes(serialization.Encoding.PEM))


def _ec_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as e:
        raise EntryError("the certificate's key cannot be read") from e
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise EntryError("only ECDSA certificates are supported")
    return key


def _decode(text: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError as e:
        raise EntryError(f"{what} is not base64") from e


def _hashedrekord(spec: dict[str, Any]) -> dict[str, Any]:
    algorithm = str(_field(spec, "data", "hash", "algorithm"))
    value = str(_field(spec, "data", "hash", "value"))
    if algorithm not in _HASHES:
        raise EntryError(f"unsupported hash algorithm {short(algorithm, 32)}")
    try:
        digest = bytes.fromhex(value)
    except ValueError as e:
        raise EntryError("hash value is not hex") from e
    signature = _decode(_field(spec, "signature", "content"), "signature")
    certificate = _certificate(_field(spec, "signature", "publicKey", "content"))
    try:
        _ec_key(certificate).verify(signature, digest, ec.ECDSA(Prehashed(_HASHES[algorithm]())))
    except (InvalidSignature, ValueError) as e:
        raise EntryError("signature does not verify against the certificate") from e
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": value.lower()}},
            "signature": {"content": _b64(signature), "publicKey": {"content": _pem(certificate)}},
        },
    }


def _pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _dsse(spec: dict[str, Any]) -> dict[str, Any]:
    envelope_text = str(_field(spec, "proposedContent", "envelope"))
    listed = _field(spec, "proposedContent", "verifiers")
    if not isinstance(listed, list):
        raise EntryError("proposedContent.verifiers must be a list")
    verifiers = [_certificate(v) for v in listed]
    try:
        envelope = json.loads(envelope_text)
        payload = _decode(envelope["payload"], "payload")
        payload_type = str(envelope["payloadType"])
        signatures = [_decode(s["sig"], "signature") for s in envelope["signatures"]]
        envelope_hash = hashlib.sha256(rfc8785.dumps(envelope)).hexdigest()
    # ValueError: not JSON, a number too long, or one JSON canonicalization cannot write
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise EntryError(f"malformed DSSE envelope: {short(e)}") from e
    if not signatures or not verifiers:
        raise EntryError("a DSSE entry needs signatures and verifiers")
    stored = []
    for signature in signatures:
        signer = next(
            (c for c in verifiers if _verifies(c, signature, payload_type, payload)), None
        )
        if signer is None:
            raise EntryError("a DSSE signature does not verify against any verifier")
        stored.append({"signature": _b64(signature), "verifier": _pem(signer)})
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": stored,
        },
    }


def _verifies(certificate: x509.Certificate, signature: bytes, kind: str, payload: bytes) -> bool:
    try:
        _ec_key(certificate).verify(signature, _pae(kind, payload), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, EntryError):
        return False
    return True


def canonical_body(proposed: object) -> bytes:
    """The body the log stores for a proposed entry, after checking its signature."""
    if not isinstance(proposed, dict):
        raise EntryError("an entry must be a JSON object")
    kind, version = proposed.get("kind"), proposed.get("apiVersion")
    if version != "0.0.1" or kind not in ("hashedrekord", "dsse"):
        raise EntryError(f"unsupported entry type {short(kind, 32)} {short(version, 32)}")
    spec = _field(proposed, "spec")
    body = _hashedrekord(spec) if kind == "hashedrekord" else _dsse(spec)
    return rfc8785.dumps(body)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of the log file, read one line at a time (a regular file, each line at most
    MAX_RECORD bytes): a long log is normal, a FIFO or a 2 GiB line is not."""
    try:
        handle = open_regular(path)
    except FileNotFoundError:
        return
    except NotRegular as e:
        raise UsageError(str(e)) from e
    with handle:
        for number, line in enumerate(iter(partial(handle.readline, MAX_RECORD + 1), b""), 1):
            if len(line) > MAX_RECORD:
                raise UsageError(f"{path}: line {number} is over the {MAX_RECORD // MIB} MiB limit")
            try:
                record = json.loads(line)
                base64.b64decode(record["body"], validate=True)
                valid = isinstance(record["integratedTime"], int)
            except (ValueError, RecursionError, KeyError, TypeError):
                valid = False
            if not valid:
                raise UsageError(f"{path}: line {number} is not a record of the log")
            yield record


def newest_time(state: State) -> datetime.datetime | None:
    """The time of the logs' last entry (None before the first signature): v1's integrated
    time, or when the v2 log took one (kept in its file, never answered)."""
    seconds = 0
    for name in ("entries.jsonl", "entries-v2.jsonl"):
        for record in _records(state.log_dir / name):
            seconds = max(seconds, int(record["integratedTime"]))
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc) if seconds else None


class TransparencyLog:
    """The log of one instance; thread-safe; every accepted entry is on disk before it is
    answered."""

    def __init__(self, state: State, key: str = "tlog", file: str = "entries.jsonl") -> None:
        self._key = state.keys[key]
        self.log_id = key_id(self._key.public_key())
        self.tree_id = int.from_bytes(self.log_id[:7], "big")
        self._path = state.log_dir / file
        self.lock = threading.Lock()
        self._tree = MerkleTree()
        self._entries: list[dict[str, Any]] = []
        self._by_uuid: dict[str, int] = {}
        self._load()

    def _load(self) -> None:
        for record in _records(self._path):
            self._remember(record)
        if not self._entries:  # index 0 holds a placeholder: see the wire notes
            self._append(rfc8785.dumps(_GENESIS), 0)

    def _remember(self, record: dict[str, Any]) -> None:
        leaf = leaf_hash(base64.b64decode(record["body"]))
        self._by_uuid[leaf.hex()] = self._tree.append(leaf)
        self._entries.append(record)

    def _append(self, body: bytes, integrated_time: int) -> int:
        index = len(self)
        record = {"body": _b64(body), "integratedTime": integrated_time, "logIndex": index}
        with self._path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._remember(record)
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, proposed: object, now: datetime.datetime) -> dict[str, Any]:
        body = canonical_body(proposed)
        with self.lock:
            return self.entry(self.integrate(body, int(now.timestamp())))

    def integrate(self, body: bytes, integrated_time: int) -> int:
        """Append a checked body (the caller holds the lock); DuplicateEntry if it is in."""
        uuid = leaf_hash(body).hex()
        if uuid in self._by_uuid:
            raise DuplicateEntry(uuid)
        return self._append(body, integrated_time)

    def index_of(self, uuid: str) -> int | None:
        return self._by_uuid.get(uuid.lower()[-64:])

    def _sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def checkpoint(self, size: int) -> str:
        """A signed note over the tree head (the format Rekor and the clients share)."""
        origin = f"{HOST} - {self.tree_id}"
        root = base64.b64encode(self._tree.root(size)).decode()
        note = f"{origin}\n{size}\n{root}\n"
        signature = self.log_id[:4] + self._sign(note.encode())
        return f"{note}\n\u2014 {HOST} {_b64(signature)}\n"

    def entry(self, index: int) -> dict[str, Any]:
        """The entry at `index` as the API answers it, proven against the current tree."""
        record = self._entries[index]
        size = len(self)
        entry_set = {
            "body": record["body"],
            "integratedTime": record["integratedTime"],
            "logID": self.log_id.hex(),
            "logIndex": index,
        }
        proof = {
            "logIndex": index,
            "rootHash": self._tree.root(size).hex(),
            "treeSize": size,
            "hashes": [h.hex() for h in self._tree.inclusion_proof(index, size)],
            "checkpoint": self.checkpoint(size),
        }
        return {
            self._tree.leaves[index].hex(): {
                **entry_set,
                "verification": {
                    "signedEntryTimestamp": _b64(self._sign(rfc8785.dumps(entry_set))),
                    "inclusionProof": proof,
                },
            }
        }

    def info(self) -> dict[str, Any]:
        size = len(self)
        return {
            "rootHash": self._tree.root(size).hex(),
            "treeSize": size,
            "signedTreeHead": self.checkpoint(size),
            "treeID": str(self.tree_id),
            "inactiveShards": [],
        }

    def consistency(self, first: int, last: int) -> dict[str, Any]:
        hashes = self._tree.consistency_proof(first, last)  # checks the sizes: ValueError
        return {"rootHash": self._tree.root(last).hex(), "hashes": [h.hex() for h in hashes]}
