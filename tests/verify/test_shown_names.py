"""Signer identities come from certificates, so whoever obtains a certificate chooses the text:
`attest sign`, `attest verify` and `attest verify-bundle` show them escaped, one line each."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests import signed_release as g
from tests.conftest import LocalInstance

IDENTITY = "https://example.com/ci\nattest: ALLOW \x1b[2Jx.whl\r"
SHOWN = "https://example.com/ci\\nattest: ALLOW \\x1b[2Jx.whl\\r"


def _raw(stderr: str) -> bool:
    return any(c in stderr for c in "\x1b\u2028\r") or any(
        line.startswith("attest: ALLOW") for line in stderr.splitlines()
    )


def test_a_signer_identity_cannot_forge_a_line(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"signed by a stranger")
    signed = invoke(
        "sign", str(artifact), "--trust-config", str(instance.trust_config),
        "--identity-token", instance.token(IDENTITY),
    )  # fmt: skip
    assert signed.exit_code == 0, signed.stderr
    assert f"attest: as {SHOWN} (issuer {instance.issuer})" in signed.stderr
    assert not _raw(signed.stderr)

    policy = g.write_policy(
        tmp_path / "policy.yaml",
        {
            "version": 1,
            "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
            "identities": [{"issuer": instance.issuer, "subject": "https://example.com/release"}],
            "require": {"signature": True},
        },
    )
    denied = invoke("verify", "--policy", str(policy), "--json", str(artifact))
    assert denied.exit_code == 1, denied.stderr
    assert SHOWN in denied.stderr and not _raw(denied.stderr)
    # a signer the policy does not allow is refused while verifying: it is named in the reason
    checks = json.loads(denied.stdout)["decisions"][0]["checks"]
    failures = [f for c in checks for f in c["failures"]]
    assert any(f"signed by {IDENTITY!r}" in f for f in failures), failures

    checked = invoke(
        "verify-bundle", "--bundle", f"{artifact}.sigstore.json",
        "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", instance.issuer,
        "--trusted-root", str(instance.trusted_root), str(artifact),
    )  # fmt: skip
    assert checked.exit_code == 0, checked.stderr
    assert f"signed by {SHOWN} (issuer {instance.issuer})" in checked.stderr
    assert not _raw(checked.stderr)
