"""RFC 3161 tokens verified directly (verify/timestamps.py), the authority's chain once per
process: a token altered, or another bundle's token, is refused naming why, also when the chain
it shares with a good token was verified (and kept) for that one."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from rfc3161_client import decode_timestamp_response
from sigstore.models import TrustedRoot

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import timestamps
from verify.errors import ExitCode
from verify.once import VERIFIED

Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def release2(rekor2_instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return g.make_release(rekor2_instance, tmp_path_factory.mktemp("release2") / "dist")


def _material(bundle: Path) -> dict[str, Any]:
    return dict(json.loads(bundle.read_text())["verificationMaterial"])


def _stamp(bundle: Path) -> bytes:
    [stamp] = _material(bundle)["timestampVerificationData"]["rfc3161Timestamps"]
    return base64.b64decode(stamp["signedTimestamp"])


def _parts(artifact: Path) -> tuple[bytes, bytes]:
    """The artifact's timestamp token and the signature it timestamps."""
    path = Path(f"{artifact}.sigstore.json")
    token = decode_timestamp_response(_stamp(path)).time_stamp_token()
    return token, base64.b64decode(json.loads(path.read_text())["messageSignature"]["signature"])


def _authority(local: LocalInstance) -> Any:
    root = TrustedRoot.from_file(str(local.trusted_root))
    chain = root.get_timestamp_authorities()[0].certificates(allow_expired=True)
    return chain[0], chain[0].public_bytes(serialization.Encoding.DER)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_a_token_verifies_and_each_alteration_is_refused_naming_why(
    rekor2_instance: LocalInstance, release2: g.Release
) -> None:
    leaf, der = _authority(rekor2_instance)
    token, signature = _parts(release2.wheel)
    timestamps.verify(timestamps.read(token), signature, leaf, der)  # the good one verifies
    tst_info = timestamps.read(token).tst_info
    other_token, other_signature = _parts(release2.sdist)
    cases = [
        (token, other_signature, "it timestamps another message"),
        (other_token, signature, "it timestamps another message"),
        (_flip(token, len(token) - 10), signature, "its signature does not verify"),
        (
            _flip(token, token.find(tst_info) + len(tst_info) - 1),
            signature,
            "its signed message digest is not the TSTInfo's",
        ),
    ]
    for altered, message, reason in cases:
        with pytest.raises(timestamps.Refused, match=reason):
            timestamps.verify(timestamps.read(altered), message, leaf, der)


def test_a_token_of_another_authority_is_refused(
    rekor2_instance: LocalInstance, instance: LocalInstance, release2: g.Release
) -> None:
    """The signer must be the root's authority: the session instance's TSA is another one."""
    leaf, der = _authority(instance)
    token, signature = _parts(release2.wheel)
    with pytest.raises(timestamps.Refused, match="signed by another certificate"):
        timestamps.verify(timestamps.read(token), signature, leaf, der)


def test_the_kept_chain_never_passes_another_bundles_token(
    invoke: Invoke, rekor2_instance: LocalInstance, release2: g.Release, tmp_path: Path
) -> None:
    """The wheel's good token has the authority's chain verified and kept; the sdist's bundle,
    carrying the wheel's token (same authority, same chain, another signature), is refused."""
    release = release2.copy(tmp_path / "dist")
    bundle = release.dist / f"{g.SDIST}.sigstore.json"
    data = json.loads(bundle.read_text())
    [stamp] = data["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    wheel_stamp = _stamp(release.dist / f"{g.WHEEL}.sigstore.json")
    stamp["signedTimestamp"] = base64.b64encode(wheel_stamp).decode()
    bundle.write_text(json.dumps(data))
    VERIFIED.clear()
    policy = g.write_policy(tmp_path / "policy.yaml", g.strict_policy(rekor2_instance))
    args = ("verify", "--policy", str(policy), "--json", str(release.wheel), str(release.sdist))
    result = invoke(*args)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    wheel, sdist = json.loads(result.stdout)["decisions"]
    assert wheel["decision"] == "ALLOW", wheel
    assert any(k[0] == "timestamp chain" for k in VERIFIED._found), "the chain was kept"
    failures = [f for c in sdist["checks"] for f in c["failures"]]
    assert any("not enough sources of verified time" in f for f in failures), failures


def test_gen_time_is_read_as_der_says_or_refused() -> None:
    utc = datetime.timezone.utc
    assert timestamps._generalized(b"20261203185642Z") == datetime.datetime(
        2026, 12, 3, 18, 56, 42, tzinfo=utc
    )
    assert timestamps._generalized(b"20261203185642.5Z").microsecond == 500_000
    for bad in (b"20260230185642Z", b"20261203185642", b"20261203185642.Z", b"2026120318564Z"):
        with pytest.raises(timestamps.Refused, match="genTime: not a DER GeneralizedTime"):
            timestamps._generalized(bad)
