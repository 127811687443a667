"""Trust configs for the signing tests: Sigstore's public production instance, made offline
from the copy of its TUF targets that ships inside the sigstore package (the tests that ask
before signing against production never reach it), and a local instance's without its Rekor v1
log; and the log entry and certificate of what a run wrote."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from verify.sigstore_adapter import embedded_signing_config, embedded_trusted_root

if TYPE_CHECKING:
    from tests.conftest import LocalInstance


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


def without_rekor_v1(trust_config: Path, directory: Path) -> Path:
    """`trust_config` (a local instance's) with its signing config's Rekor v1 log taken out,
    as a hand-edited config may be: it offers Rekor v2 alone."""
    config = json.loads(trust_config.read_text())
    logs = config["signingConfig"]["rekorTlogUrls"]
    config["signingConfig"]["rekorTlogUrls"] = [s for s in logs if s["majorApiVersion"] != 1]
    path = directory / "rekor2-only.json"
    path.write_text(json.dumps(config))
    return path


def transparency_entry(path: Path) -> dict[str, Any]:
    """The one log entry of a bundle (`*.sigstore.json`) or a PEP 740 attestation."""
    data = json.loads(path.read_text())
    if path.name.endswith(".publish.attestation"):
        [entry] = data["verification_material"]["transparency_entries"]
    else:
        [entry] = data["verificationMaterial"]["tlogEntries"]
    return dict(entry)


def leaf_certificate(path: Path) -> bytes:
    """The DER leaf certificate of a bundle or a PEP 740 attestation."""
    data = json.loads(path.read_text())
    if path.name.endswith(".publish.attestation"):
        return base64.b64decode(data["verification_material"]["certificate"])
    return base64.b64decode(data["verificationMaterial"]["certificate"]["rawBytes"])


def log_sizes(local: LocalInstance) -> tuple[int, int]:
    """The sizes of a local instance's Rekor v1 log and of the log it announces."""
    health = requests.get(f"{local.url}/healthz", timeout=10).json()
    return local.entries(), health["entries"]
