"""The instance's trust material as Sigstore clients read it: `trusted_root.json` and a
ClientTrustConfig (`trust_config.json`) with the signing configuration."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from attest.instance.state import (
    DEV_ORGANIZATION,
    TRUST_CONFIG,
    TRUSTED_ROOT,
    State,
    key_id,
    spki_der,
    stamp,
)
from attest.output import write_atomic

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
OPERATOR = "attest-dev"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _certificates(*chain: x509.Certificate) -> dict[str, Any]:
    return {
        "certificates": [
            {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))} for c in chain
        ]
    }


def _log(state: State, name: str) -> dict[str, Any]:
    public = state.keys[name].public_key()
    return {
        "baseUrl": state.base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": _b64(spki_der(public)),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": _time(state)},
        },
        "logId": {"keyId": _b64(key_id(public))},
    }


def _time(state: State) -> str:
    return stamp(state.valid_from)


def trusted_root(state: State) -> dict[str, Any]:
    assert state.tsa is not None  # loaded with the state
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        # both logs, whichever the signing config announces: bundles of either verify
        "tlogs": [_log(state, "tlog"), _log(state, "tlog2")],
        "certificateAuthorities": [
            {
                "subject": {"organization": DEV_ORGANIZATION, "commonName": "attest-dev"},
                "uri": state.base_url,
                "certChain": _certificates(state.intermediate, state.root),
                "validFor": {"start": _time(state)},
            }
        ],
        "ctlogs": [_log(state, "ctlog")],
        "timestampAuthorities": [
            {
                "subject": {"organization": DEV_ORGANIZATION, "commonName": "attest-dev"},
                "uri": timestamp_url(state),
                "certChain": _certificates(state.tsa, state.root),
                "validFor": {"start": _time(state)},
            }
        ],
    }


def _service(state: State, url: str, version: int) -> dict[str, Any]:
    return {
        "url": url,
        "majorApiVersion": version,
        "validFor": {"start": _time(state)},
        "operator": OPERATOR,
    }


def timestamp_url(state: State) -> str:
    return f"{state.base_url}/api/v1/timestamp"


def _logs(state: State) -> list[dict[str, Any]]:
    """The logs announced: v2 (sigstore-python signs with the highest version an operator
    offers) and v1 beside it, for PEP 740 attestations (PyPI takes only entries with an
    inclusion promise, which v2 entries lack); `--rekor-version 1`: v1 alone."""
    versions = range(state.rekor_version, 0, -1)
    return [_service(state, state.base_url, version) for version in versions]


def signing_config(state: State) -> dict[str, Any]:
    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [_service(state, state.base_url, 1)],
        "oidcUrls": [_service(state, state.issuer_url, 1)],
        "rekorTlogUrls": _logs(state),
        "tsaUrls": [_service(state, timestamp_url(state), 1)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }


def client_trust_config(state: State) -> dict[str, Any]:
    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root(state),
        "signingConfig": signing_config(state),
    }


def write_trust_files(state: State) -> None:
    """(Re)write both files: derived from the state, so identical across restarts."""
    for name, data in (
        (TRUSTED_ROOT, trusted_root(state)),
        (TRUST_CONFIG, client_trust_config(state)),
    ):
        write_atomic(state.directory / name, json.dumps(data, indent=2).encode() + b"\n")
