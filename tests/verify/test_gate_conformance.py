"""`attest verify-bundle` on the Sigstore conformance suite's offline cases: each gets its
expected verdict, with the path and with the digest form, except the four cases that
sigstore-python 4.5.1 itself cannot verify, which are refused with a clear reason."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import REPO
from verify import conformance
from verify.errors import AttestError

CASES = REPO.parent / "shared" / "data" / "sigstore-conformance" / "bundle-verify"
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"
# Upstream marks these as expected failures of sigstore-python 4.5.1; the gate refuses them.
SIGSTORE_PYTHON_CANNOT = {
    "intoto-with-custom-trust-root": "Integrated time only supported for dsse/hashedrekord 0.0.1",
    "trust-root-tsa-validity-end-inclusive": "not enough sources of verified time",
    "managed-key-happy-path": "managed key (--key) is not supported",
    "managed-key-and-trusted-root": "managed key (--key) is not supported",
}


def _cases() -> list[str]:
    if not CASES.is_dir():
        return []
    return sorted(p.name for p in CASES.iterdir() if (p / "bundle.sigstore.json").is_file())


def _args(case: Path, digest_form: bool) -> list[str]:
    artifact = case / "artifact" if (case / "artifact").is_file() else CASES / "a.txt"
    target = f"sha256:{conformance.target_digest(str(artifact))}" if digest_form else str(artifact)
    args = ["--bundle", str(case / "bundle.sigstore.json")]
    for name, option in (("identity", "--certificate-identity"),
                         ("issuer", "--certificate-oidc-issuer")):  # fmt: skip
        given = case / name
        default = IDENTITY if name == "identity" else ISSUER
        args += [option, given.read_text().strip() if given.is_file() else default]
    for name, option in (("trusted_root.json", "--trusted-root"), ("key.pub", "--key")):
        if (case / name).is_file():
            args += [option, str(case / name)]
    return [*args, target]


@pytest.mark.skipif(not CASES.is_dir(), reason=f"{CASES} is absent (present in CI)")
def test_the_suite_is_there() -> None:
    assert len(_cases()) > 60
    assert set(SIGSTORE_PYTHON_CANNOT) <= set(_cases())


@pytest.mark.parametrize("digest_form", [False, True], ids=["path", "digest"])
@pytest.mark.parametrize("name", _cases())
def test_conformance_case(invoke: Callable[..., Result], name: str, digest_form: bool) -> None:
    result = invoke("verify-bundle", *_args(CASES / name, digest_form))
    if name.endswith("_fail"):
        assert result.exit_code != 0, result.stderr
        assert "attest: error:" in result.stderr
    elif name in SIGSTORE_PYTHON_CANNOT:
        assert result.exit_code == 1
        assert SIGSTORE_PYTHON_CANNOT[name] in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        assert "attest: OK:" in result.stderr


def test_wrong_identity_is_refused_exactly() -> None:
    if not CASES.is_dir():
        pytest.skip(f"{CASES} is absent (present in CI)")
    case = CASES / "happy-path-v0.3"
    bundle, artifact = case / "bundle.sigstore.json", str(CASES / "a.txt")
    with pytest.raises(
        AttestError, match=re.escape("is not 'https://github.com/sigstore-conformance/'")
    ):
        conformance.verify_bundle(
            bundle, artifact, "https://github.com/sigstore-conformance/", ISSUER
        )
    with pytest.raises(
        AttestError, match=re.escape("issuer 'https://token.actions.githubusercontent.com'")
    ):
        conformance.verify_bundle(bundle, artifact, IDENTITY, "https://accounts.google.com")


@pytest.mark.skipif(not CASES.is_dir(), reason=f"{CASES} is absent (present in CI)")
def test_a_rekor2_entry_names_its_log_by_the_declared_id_and_its_key_ended(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """sigstore-python's own Rekor v2 bundle: its entry names the log by the id the root
    declares (not its key's SHA-256); the key's validFor is checked at the timestamp all the
    same, and a key that ended before it does not vouch."""
    case = CASES / "rekor2-happy-path"
    root = json.loads((case / "trusted_root.json").read_text())
    [v2] = [log for log in root["tlogs"] if "log2025" in log["baseUrl"]]
    v2["publicKey"]["validFor"]["end"] = "2025-05-01T00:00:00Z"
    (tmp_path / "trusted_root.json").write_text(json.dumps(root))
    args = _args(case, False)
    args[args.index(str(case / "trusted_root.json"))] = str(tmp_path / "trusted_root.json")
    result = invoke("verify-bundle", *args)
    assert result.exit_code == 1, result.stderr
    assert "a signed timestamp is outside the validFor of the log key" in result.stderr
