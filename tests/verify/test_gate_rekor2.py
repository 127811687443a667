"""The gate and verify-bundle on bundles from the instance's Rekor v2 log: no integrated time,
so the RFC 3161 timestamp is the only time; a bundle without it, with it altered, or with a
checkpoint signed by a key the trust root does not hold is refused, saying why."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from attest.instance.state import key_id
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.errors import ExitCode

Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def release2(rekor2_instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return g.make_release(rekor2_instance, tmp_path_factory.mktemp("release2") / "dist")


def _edit(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(bundle.read_text())
    change(data["verificationMaterial"])
    bundle.write_text(json.dumps(data))


def _gate(invoke: Invoke, local: LocalInstance, release: g.Release, tmp_path: Path) -> Result:
    policy = g.write_policy(tmp_path / "policy.yaml", g.strict_policy(local))
    return invoke("verify", "--policy", str(policy), "--json", str(release.wheel))


def _failures(result: Result) -> list[str]:
    [decision] = json.loads(result.stdout)["decisions"]
    return [f for c in decision["checks"] for f in c["failures"]]


def test_a_rekor2_release_carries_timestamps_and_is_allowed(
    invoke: Invoke, rekor2_instance: LocalInstance, release2: g.Release, tmp_path: Path
) -> None:
    for bundle in sorted(release2.dist.glob("*.sigstore.json")):
        material = json.loads(bundle.read_text())["verificationMaterial"]
        [entry] = material["tlogEntries"]
        assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}, bundle
        assert int(entry.get("integratedTime", 0)) == 0 and "inclusionPromise" not in entry
        assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1, bundle
    result = _gate(invoke, rekor2_instance, release2, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["allowed"] is True


def _strip(material: dict[str, Any]) -> None:
    del material["timestampVerificationData"]


def _tamper(material: dict[str, Any]) -> None:
    [stamp] = material["timestampVerificationData"]["rfc3161Timestamps"]
    raw = bytearray(base64.b64decode(stamp["signedTimestamp"]))
    raw[-10] ^= 0x01  # inside the TSA's signature
    stamp["signedTimestamp"] = base64.b64encode(bytes(raw)).decode()


def _foreign_checkpoint(material: dict[str, Any]) -> None:
    """The checkpoint re-signed by a key of nobody's trust root, naming that key."""
    proof = material["tlogEntries"][0]["inclusionProof"]
    note = proof["checkpoint"]["envelope"].split("\n\n")[0] + "\n"
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key_id(key.public_key())[:4] + key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    proof["checkpoint"]["envelope"] = (
        f"{note}\n\u2014 127.0.0.1 {base64.b64encode(signature).decode()}\n"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # sigstore refuses to read it: the gate's message quotes the start of the reason
        (_strip, "unparsable bundle: InvalidBundle: bundle must contain an inclusion pr"),
        (_tamper, "not enough sources of verified time"),
        (_foreign_checkpoint, "checkpoint: Signature not found for log ID"),
    ],
    ids=["timestamp stripped", "timestamp tampered", "checkpoint by an unknown key"],
)
def test_the_gate_refuses_an_altered_rekor2_bundle(
    invoke: Invoke,
    rekor2_instance: LocalInstance,
    release2: g.Release,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    release = release2.copy(tmp_path / "dist")
    _edit(release.dist / f"{g.WHEEL}.sigstore.json", change)
    result = _gate(invoke, rekor2_instance, release, tmp_path)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    failures = _failures(result)
    assert any(reason in f for f in failures), failures


def test_verify_bundle_on_rekor2_bundles(
    invoke: Invoke, rekor2_instance: LocalInstance, release2: g.Release, tmp_path: Path
) -> None:
    bundle = tmp_path / "wheel.sigstore.json"
    bundle.write_text((release2.dist / f"{g.WHEEL}.sigstore.json").read_text())
    args = [
        "verify-bundle", "--bundle", str(bundle), "--trusted-root",
        str(rekor2_instance.trusted_root), "--certificate-identity", g.WORKFLOW,
        "--certificate-oidc-issuer", rekor2_instance.issuer, str(release2.wheel),
    ]  # fmt: skip
    assert invoke(*args).exit_code == 0
    _edit(bundle, _strip)
    refused = invoke(*args)
    assert refused.exit_code == ExitCode.DENIED
    reason = "must contain an inclusion promise or signed timestamp(s)"
    assert reason in refused.stderr, refused.stderr


def test_a_rekor2_log_key_vouches_only_inside_its_validity(
    invoke: Invoke, rekor2_instance: LocalInstance, release2: g.Release, tmp_path: Path
) -> None:
    """A v2 entry has no integrated time: the validFor of the log key is checked at its signed
    timestamps (the gate ignored a key the root retired in 1971)."""
    root = json.loads(rekor2_instance.trusted_root.read_text())
    for log in root["tlogs"]:
        log["publicKey"]["validFor"]["end"] = "1971-01-01T00:00:00Z"
    (tmp_path / "root.json").write_text(json.dumps(root))
    policy = g.strict_policy(rekor2_instance)
    policy["trust"]["trusted_root"] = str(tmp_path / "root.json")
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    result = invoke("verify", "--policy", str(path), "--json", str(release2.wheel))
    assert result.exit_code == ExitCode.DENIED, result.stderr
    reason = "a signed timestamp is outside the validFor of the log key in the trusted root ("
    assert any(reason in f and "the entry has no other" in f for f in _failures(result))
