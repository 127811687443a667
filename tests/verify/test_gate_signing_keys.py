"""A signing certificate's key is one Sigstore signs with, ECDSA on P-256, P-384 or P-521
(verify/certificate.py `signing_key_problem`, checked with the rest of the code-signing profile
in verify/sigstore_adapter.py): the gate refuses another curve whoever certified it. The
certificates here are issued with the local CA's own keys (attest/instance/ca.py `issue`, past
the CA's refusal of such a key, as a careless CA would) and logged in its real log."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric import ec

from attest.instance import ca
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.errors import ExitCode

Invoke = Callable[..., Result]
SUBJECT = "https://example.com/ci"


def _sign_with(local: LocalInstance, curve: ec.EllipticCurve, artifact: Path) -> None:
    """Sign `artifact` with a key on `curve`, its certificate issued by the instance's CA keys."""
    session = g.session(local, local.token(SUBJECT))
    key = ec.generate_private_key(curve)
    now = datetime.datetime.now(datetime.timezone.utc)
    [leaf, *_] = ca.issue(local.state, key.public_key(), {"sub": SUBJECT}, local.issuer, now, now)
    signer: Any = session.signer  # sigstore's Signer keeps its key and certificate privately
    signer._Signer__cached_private_key = key
    signer._Signer__cached_signing_certificate = leaf
    bundle = signer.sign_artifact(artifact.read_bytes())
    artifact.with_name(artifact.name + ".sigstore.json").write_text(bundle.to_json())


def _verify(invoke: Invoke, local: LocalInstance, tmp_path: Path, curve: Any) -> Result:
    artifact = tmp_path / g.WHEEL
    artifact.write_bytes(b"the wheel\n")
    _sign_with(local, curve, artifact)
    policy = {
        "version": 1,
        "trust": {"trusted_root": str(local.trusted_root), "allow_development_root": True},
        "identities": [{"issuer": local.issuer, "subject": SUBJECT}],
    }
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", str(artifact))


@pytest.mark.parametrize("curve", [ec.SECP192R1(), ec.SECP256K1()])
def test_a_signing_key_on_a_curve_sigstore_does_not_use_is_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path, curve: ec.EllipticCurve
) -> None:
    result = _verify(invoke, instance, tmp_path, curve)
    assert result.exit_code == ExitCode.DENIED, result.stdout
    assert (
        f"signing certificate: the key's curve {curve.name} is not one of them (ECDSA keys on "
        "P-256, P-384 or P-521 only)"
    ) in result.stdout


def test_a_p384_signing_key_is_allowed(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """The same making with a curve Fulcio certifies: the refusal above is the curve's."""
    result = _verify(invoke, instance, tmp_path, ec.SECP384R1())
    assert result.exit_code == 0, result.stdout + result.stderr
    [signer] = json.loads(result.stdout)["decisions"][0]["signers"]
    assert signer["identity"] == SUBJECT
