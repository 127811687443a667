"""The one spelling of a bundle the gate accepts, checked before sigstore's models read it.

The models decode base64 leniently (characters outside the alphabet are dropped) and read an
int64 with white space around it, so one signed bundle could be spelled many ways, each
verifying: a malleable record, and a gate that accepts what no conformant protobuf-JSON parser
would. Here: bytes fields in base64 of the standard or URL-safe alphabet, line breaks allowed
(the forms the protobuf JSON mapping reads); int64 fields as decimal digits or a JSON integer;
and the message digest labelled SHA2_256, the one algorithm the gate computes."""

from __future__ import annotations

import json
import re
from typing import Any

from sigstore.models import Bundle

from verify.errors import library_warnings
from verify.formats import strict_json
from verify.text import excerpt


def _both(*camel: str) -> frozenset[str]:
    """Each field's two names in the protobuf JSON mapping: `rawBytes` and `raw_bytes`."""
    snake = ("".join(f"_{c.lower()}" if c.isupper() else c for c in name) for name in camel)
    return frozenset((*camel, *snake))


_BYTES = _both(
    "rawBytes", "canonicalizedBody", "signedEntryTimestamp", "rootHash", "hashes",
    "signedTimestamp", "digest", "signature", "payload", "sig",
)  # fmt: skip
_KEY_ID = _both("keyId")  # bytes in a log's `logId`; a DSSE signature's `keyid` is free text
_LOG_ID = _both("logId")
_INT64 = _both("logIndex", "integratedTime", "treeSize")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_DIGITS = re.compile(r"-?[0-9]+")


class Malformed(ValueError):
    """A field of the bundle is not in the form its type allows; the message names it."""


def _where(path: tuple[object, ...]) -> str:
    """The field's path; its keys are the bundle's, so each is shown as an excerpt."""
    return ".".join(excerpt(part) if isinstance(part, str) else str(part) for part in path)


def _base64(path: tuple[object, ...], value: Any) -> None:
    for item in value if isinstance(value, list) else (value,):
        if not isinstance(item, str):
            raise Malformed(f"{_where(path)}: not base64 (standard or URL-safe alphabet)")
        if "\n" in item or "\r" in item:
            item = item.replace("\r", "").replace("\n", "")  # read by protojson (Go) too
        # [A-Za-z0-9+/_-]*={0,2}, by bytes.translate (3x a regex's speed, on every bundle):
        # at most two "=" at the end, and deleting the alphabet leaves nothing before them
        body = item.rstrip("=")
        padding = len(item) - len(body)
        if padding > 2 or not body.isascii() or body.encode().translate(None, _ALPHABET):
            raise Malformed(f"{_where(path)}: not base64 (standard or URL-safe alphabet)")
        if len(body) % 4 == 1 or (padding and len(item) % 4):
            raise Malformed(f"{_where(path)}: base64 of an impossible length")


def _int64(path: tuple[object, ...], value: Any) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and _DIGITS.fullmatch(value))
    ):
        raise Malformed(f"{_where(path)}: not an integer (decimal digits)")


def check(document: Any) -> None:
    """Malformed when any field of the bundle `document` (parsed JSON) is spelled otherwise.
    The path of a field is built only to name one that is wrong: this runs for every bundle."""
    stack: list[tuple[Any, tuple[object, ...], bool]] = [(document, (), False)]
    while stack:
        node, path, in_log_id = stack.pop()
        if isinstance(node, dict):
            pairs: Any = node.items()
        elif isinstance(node, list):
            pairs = enumerate(node)
        else:
            continue
        for key, value in pairs:
            if (key in _BYTES and not isinstance(value, dict)) or (in_log_id and key in _KEY_ID):
                _base64((*path, key), value)
            elif key in _INT64:
                _int64((*path, key), value)
            elif isinstance(value, (dict, list)):
                stack.append((value, (*path, key), key in _LOG_ID))
    _sha256_only(document)
    _promised_time(document)


def _promised_time(document: Any) -> None:
    """An inclusion promise (Rekor v1's signed entry timestamp) signs the entry's integrated
    time: with that time 0 or absent, sigstore-python skips the promise unchecked, so an entry
    whose time was stripped would pass on the rest. Such an entry is refused instead."""
    try:
        entries = document["verificationMaterial"]["tlogEntries"]
    except (KeyError, TypeError):
        return
    for i, entry in enumerate(entries if isinstance(entries, list) else ()):
        if not isinstance(entry, dict) or entry.get("inclusionPromise") is None:
            continue
        if str(entry.get("integratedTime", "0")) in ("0", ""):
            raise Malformed(
                f"verificationMaterial.tlogEntries[{i}]: an inclusion promise over no "
                "integrated time (0 or absent): the promise could not be checked"
            )


def _sha256_only(document: Any) -> None:
    try:
        algorithm = document["messageSignature"]["messageDigest"]["algorithm"]
    except (KeyError, TypeError):
        return  # a DSSE bundle, or one the models will refuse
    if algorithm != "SHA2_256":
        raise Malformed(
            f"messageSignature.messageDigest.algorithm: {excerpt(algorithm)}, but the gate "
            "verifies SHA2_256 digests"
        )


# A bundle is a few dozen JSON objects and lists (its payload and certificates are base64
# strings): far more brackets than this is no bundle, and `[{},{},...]` of 64 MiB would build
# 22 million objects (5 GB) before anything could refuse it.
MAX_CONTAINERS = 10_000


def bounded(raw: bytes) -> None:
    """Malformed when `raw` holds more JSON objects and lists than a bundle does: counted in
    the bytes, before anything is built."""
    if raw.count(b"{") + raw.count(b"[") > MAX_CONTAINERS:
        raise Malformed(f"more than {MAX_CONTAINERS:,} JSON objects and lists: not a bundle")


def json_value(raw: bytes) -> Any:
    """The JSON in `raw`, bounded, read once one way: a key repeated in one object is Malformed
    (json keeps the last, another reader the first: two `dsseEnvelope`s would be two bundles);
    json's own errors are raised as they are."""
    bounded(raw)
    try:
        return json.loads(raw, object_pairs_hook=strict_json.unique_keys)
    except strict_json.RepeatedKey as e:
        raise Malformed(str(e)) from e


def parse(raw: bytes) -> Bundle:
    """The bundle in `raw`, read by sigstore's models only once its spelling is checked:
    Malformed, or whatever the JSON parser or the models raise."""
    check(json_value(raw))
    # sigstore warns of a root CA in an x509CertificateChain; only the leaf is used, and it is
    # verified against the trust root, so the warning is dropped rather than printed unprefixed
    with library_warnings():
        return Bundle.from_json(raw)
