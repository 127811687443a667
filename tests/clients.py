"""Verdicts of the independent clients (sigstore-python, sigstore-js), and sigstore-js's
signing. The local instance and its fixtures live in tests/conftest.py, for every test
directory."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sigstore.models import Bundle
from sigstore.verify.policy import Identity

from tests.conftest import REPO, LocalInstance, require_mark
from verify.sigstore_adapter import hashed_digest

INTEROP = REPO / "tests" / "interop"


def verify_py(
    local: LocalInstance, bundle: Path, artifact: Path, identity: str, issuer: str | None = None
) -> str | None:
    """sigstore-python's verdict: None when the bundle verifies, else the reason."""
    import hashlib

    require_mark("interop")
    try:
        hashed = hashed_digest(hashlib.sha256(artifact.read_bytes()).hexdigest())
        local.verifier().verify_artifact(
            hashed, Bundle.from_json(bundle.read_bytes()),
            Identity(identity=identity, issuer=issuer or local.issuer),
        )  # fmt: skip
    except Exception as e:  # every refusal is a verdict here
        return f"{type(e).__name__}: {e}"
    return None


def verify_dsse_py(local: LocalInstance, bundle: Path, identity: str) -> dict[str, Any]:
    """sigstore-python's verify_dsse: the verified statement (raises when refused)."""
    require_mark("interop")
    payload_type, payload = local.verifier().verify_dsse(
        Bundle.from_json(bundle.read_bytes()), Identity(identity=identity, issuer=local.issuer)
    )
    assert payload_type == "application/vnd.in-toto+json"
    statement: dict[str, Any] = json.loads(payload)
    return statement


def verify_js(
    root: Path, bundle: Path, artifact: Path | None, identity: str, issuer: str
) -> str | None:
    """sigstore-js's verdict (tests/interop/verify.mjs): None when verified, else the reason."""
    require_mark("interop")
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "@sigstore" / "verify").is_dir():
        pytest.fail("sigstore-js is not installed: run `make test` (npm ci in tests/interop)")
    done = subprocess.run(
        [node, str(INTEROP / "verify.mjs"), str(root), str(bundle),
         str(artifact) if artifact else "-", identity, issuer],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode == 0 and done.stdout.strip() == "OK":
        return None
    return (done.stdout + done.stderr).strip() or f"exit {done.returncode}"


def sign_js(url: str, token: str, jobs: list[dict[str, str]]) -> list[str | None]:
    """sigstore-js signing against the instance at `url` (tests/interop/sign.mjs), one process
    for all `jobs` ({kind: blob|dsse, input, output, payloadType}): per job None when its bundle
    was written, else the reason. The token goes on stdin, never on the command line."""
    require_mark("interop")
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "sigstore").is_dir():
        pytest.fail("sigstore-js is not installed: run `make test` (npm ci in tests/interop)")
    done = subprocess.run(
        [node, str(INTEROP / "sign.mjs"), url],
        input=json.dumps({"identityToken": token, "jobs": jobs}),
        capture_output=True, text=True, timeout=60 + 10 * len(jobs), check=False,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    if len(lines) != len(jobs):
        return [(done.stdout + done.stderr).strip() or f"exit {done.returncode}"] * len(jobs)
    return [None if line == "OK" else line for line in lines]


def statement(subject_name: str, digest: str) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject_name, "digest": {"sha256": digest}}],
        "predicateType": "https://example.com/test-predicate/v1",
        "predicate": {"built": True},
    }


def dumps(data: object) -> str:
    return json.dumps(data, indent=2)
