"""A ClientTrustConfig for Sigstore's public production instance, made offline from the copy
of its TUF targets that ships inside the sigstore package: the tests that ask before signing
against production never reach it."""

from __future__ import annotations

import json
from pathlib import Path

import sigstore

_STORE = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"


def production_trust_config(directory: Path) -> Path:
    path = directory / "production.json"
    path.write_text(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": json.loads((_STORE / "trusted_root.json").read_text()),
                "signingConfig": json.loads((_STORE / "signing_config.v0.2.json").read_text()),
            }
        )
    )
    return path
