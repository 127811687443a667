"""The one spelling of a bundle the gate accepts, checked before sigstore's models read it.

The models decode base64 leniently (characters outside the alphabet are dropped) and read an
int64 with white space around it, so one signed bundle could be spelled many ways, each
verifying: a malleable record, and a gate that accepts what no conformant protobuf-JSON parser
would. Here: bytes fields in base64 of the standard or URL-safe alphabet, line breaks allowed
(the forms the protobuf JSON mapping reads); int64 fields as decimal digits or a JSON integer;
and the message digest labelled SHA2_256, the one algorithm the gate computes."""

from __future__ import annotations

import re
from typing import Any

_BYTES = frozenset(
    {
        "rawbytes", "keyid", "canonicalizedbody", "signedentrytimestamp", "roothash", "hashes",
        "signedtimestamp", "digest", "signature", "payload", "sig",
    }
)  # fmt: skip
_INT64 = frozenset({"logindex", "integratedtime", "treesize"})
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_DIGITS = re.compile(r"-?[0-9]+")


class Malformed(ValueError):
    """A field of the bundle is not in the form its type allows; the message names it."""


def _field(key: str) -> str:
    """The protobuf JSON mapping reads both `rawBytes` and `raw_bytes`."""
    return key.replace("_", "").lower()


def _base64(where: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, str):  # line breaks are read by Go's decoder, as by protojson's
            item = item.replace("\r", "").replace("\n", "")
        if not isinstance(item, str) or not _BASE64.fullmatch(item):
            raise Malformed(f"{where}: not base64 (standard or URL-safe alphabet)")
        if len(item.rstrip("=")) % 4 == 1 or ("=" in item and len(item) % 4):
            raise Malformed(f"{where}: base64 of an impossible length")


def _int64(where: str, value: Any) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and _DIGITS.fullmatch(value))
    ):
        raise Malformed(f"{where}: not an integer (decimal digits)")


def check(document: Any) -> None:
    """Malformed when any field of the bundle `document` (parsed JSON) is spelled otherwise."""
    stack: list[tuple[str, str, Any]] = [("", "", document)]
    while stack:
        where, parent, node = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            continue
        for key, value in items:
            path = f"{where}.{key}" if where else str(key)
            name = _field(key) if isinstance(key, str) else ""
            # a DSSE signature's `keyid` is free text; a log's `keyId` is bytes
            if name in _BYTES and not isinstance(value, dict) and (name, parent) != ("keyid", ""):
                _base64(path, value)
            elif name in _INT64:
                _int64(path, value)
            else:
                stack.append((path, name if name == "logid" else "", value))
    _sha256_only(document)


def _sha256_only(document: Any) -> None:
    try:
        algorithm = document["messageSignature"]["messageDigest"]["algorithm"]
    except (KeyError, TypeError):
        return  # a DSSE bundle, or one the models will refuse
    if algorithm != "SHA2_256":
        raise Malformed(
            f"messageSignature.messageDigest.algorithm: {str(algorithm)[:40]!r}, but the gate "
            "verifies SHA2_256 digests"
        )
