"""A ClientTrustConfig for Sigstore's public production instance, made offline from the copy
of its TUF targets that ships inside the sigstore package: the tests that ask before signing
against production never reach it."""

from __future__ import annotations

import json
from pathlib import Path

from verify.sigstore_adapter import embedded_signing_config, embedded_trusted_root


def production_trust_config(directory: Path) -> Path:
    path = directory / "production.json"
    path.write_text(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": json.loads(embedded_trusted_root("production").read_text()),
                "signingConfig": json.loads(embedded_signing_config("production").read_text()),
            }
        )
    )
    return path
