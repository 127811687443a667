"""`attest sign` against the real local instance: every identity source, one certificate per
run, self-verification, faults that leave nothing behind, and a token that never leaks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from cryptography import x509

from attest import retry
from attest.instance import oidc
from attest.instance.state import key_id
from attest.sign import session
from tests import stubs
from tests.attest.sign.helpers import (
    leaf_certificate,
    log_sizes,
    transparency_entry,
    without_rekor_v1,
)
from tests.clients import verify_js, verify_py
from tests.conftest import LocalInstance
from tests.loopback import unused_port
from verify.errors import ExitCode

CI = "https://example.com/ci"


def _artifacts(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(f"contents of {name}\n".encode())
        paths.append(path)
    return paths


def _no_leak(result: Result, token: str) -> None:
    payload = token.split(".")[1]
    for text in (result.stdout, result.stderr):
        assert token not in text and payload not in text


def _leaf(bundle: Path) -> x509.Certificate:
    import base64

    data = json.loads(bundle.read_text())
    raw = data["verificationMaterial"]["certificate"]["rawBytes"]
    return x509.load_der_x509_certificate(base64.b64decode(raw))


@pytest.mark.interop
def test_sign_with_an_explicit_token(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    wheel, sdist = _artifacts(tmp_path, "app-1.0-py3-none-any.whl", "app-1.0.tar.gz")
    token = instance.token(CI)
    result = invoke(
        "sign", "--trust-config", str(instance.trust_config), "--identity-token", token,
        "--json", str(wheel), str(sdist),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    _no_leak(result, token)
    report = json.loads(result.stdout)
    assert report["identity"] == CI and report["issuer"] == instance.issuer
    bundles = [Path(s["bundle"]) for s in report["signed"]]
    assert bundles == [
        tmp_path / f"{wheel.name}.sigstore.json",
        tmp_path / f"{sdist.name}.sigstore.json",
    ]
    for artifact, bundle in zip((wheel, sdist), bundles, strict=True):
        assert json.loads(bundle.read_text())["mediaType"] == (
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        )
        assert verify_py(instance, bundle, artifact, CI) is None
        assert verify_js(instance.trusted_root, bundle, artifact, CI, instance.issuer) is None
    # one certificate for the whole run
    assert _leaf(bundles[0]).serial_number == _leaf(bundles[1]).serial_number


@pytest.mark.interop
def test_sign_from_the_environment_into_a_bundle_dir(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "tool.zip")
    out = tmp_path / "bundles"
    out.mkdir()
    token = instance.token("release@example.com")
    result = invoke(
        "sign", "--trust-config", str(instance.trust_config), "--bundle-dir", str(out),
        str(artifact), env={"ATTEST_IDENTITY_TOKEN": token},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    _no_leak(result, token)
    bundle = out / "tool.zip.sigstore.json"
    assert verify_py(instance, bundle, artifact, "release@example.com") is None
    assert not (tmp_path / "tool.zip.sigstore.json").exists()


@pytest.mark.interop
def test_sign_with_the_ambient_github_credential(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "app.whl")
    state = instance.state
    claims = oidc.github_claims("acme/web", ref="refs/tags/v1.0", event="release")
    minted: list[str] = []

    def mint() -> str:
        minted.append(oidc.mint(state.keys["issuer"], state.issuer_url, claims["sub"], claims))
        return minted[-1]

    request_token = "request-token-for-the-test"
    with stubs.serve(stubs.github_token_endpoint(mint, request_token)) as url:
        result = invoke(
            "sign", "--trust-config", str(instance.trust_config), str(artifact),
            env={
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
                "ATTEST_IDENTITY_TOKEN": None,
            },
        )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [token] = minted
    _no_leak(result, token)
    assert request_token not in result.stdout + result.stderr
    identity = "https://github.com/acme/web/.github/workflows/release.yml@refs/tags/v1.0"
    bundle = tmp_path / "app.whl.sigstore.json"
    assert verify_py(instance, bundle, artifact, identity) is None
    assert verify_js(instance.trusted_root, bundle, artifact, identity, instance.issuer) is None
    extensions = {
        e.oid.dotted_string: e.value.value for e in _leaf(bundle).extensions
        if e.oid.dotted_string.startswith("1.3.6.1.4.1.57264.1.")
    }  # fmt: skip
    assert extensions["1.3.6.1.4.1.57264.1.12"][2:] == b"https://github.com/acme/web"
    assert extensions["1.3.6.1.4.1.57264.1.14"][2:] == b"refs/tags/v1.0"
    assert extensions["1.3.6.1.4.1.57264.1.20"][2:] == b"release"
    assert extensions["1.3.6.1.4.1.57264.1.11"][2:] == b"github-hosted"


def test_github_endpoint_refusing_is_operational(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "app.whl")
    with stubs.serve(stubs.github_token_endpoint(lambda: "unused", "right")) as url:
        result = invoke(
            "sign", "--trust-config", str(instance.trust_config), str(artifact),
            env={"ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"},
        )  # fmt: skip
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "GitHub's OIDC endpoint (HTTP 401)" in result.stderr
    assert "id-token: write" in result.stderr
    assert not (tmp_path / "app.whl.sigstore.json").exists()


def test_no_identity_is_a_usage_error(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "app.whl")
    result = invoke("sign", "--trust-config", str(instance.trust_config), str(artifact),
                    env={"ATTEST_IDENTITY_TOKEN": None, "ACTIONS_ID_TOKEN_REQUEST_URL": None})  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert "no identity: pass --identity-token, set ATTEST_IDENTITY_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["missing.whl"], "missing.whl: no such file"),
        ([], "name at least one artifact to sign"),
        (["--bundle-dir", "nowhere", "a.whl"], "nowhere: bundle directory does not exist"),
        (["--instance", "staging", "a.whl"], "give --trust-config or --instance, not both"),
    ],
)
def test_bad_arguments(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path, args: list[str],
    problem: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.whl").write_text("a")
    result = invoke("sign", "--trust-config", str(instance.trust_config),
                    "--identity-token", instance.token(CI), *args)  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert problem in result.stderr


def test_bad_trust_config(invoke: Callable[..., Result], tmp_path: Path) -> None:
    [artifact] = _artifacts(tmp_path, "a.whl")
    config = tmp_path / "trust.json"
    config.write_text('{"mediaType": "nope"}')
    result = invoke(
        "sign", "--trust-config", str(config), "--identity-token", "x.y.z", str(artifact)
    )
    assert result.exit_code == ExitCode.USAGE
    assert f"{config}: not a Sigstore ClientTrustConfig" in result.stderr


def test_instance_down(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "a.whl")
    config = stubs.trust_config_via(
        instance.trust_config, f"http://127.0.0.1:{unused_port()}", tmp_path / "down.json"
    )
    token = instance.token(CI)
    result = invoke("sign", "--trust-config", str(config), "--identity-token", token, str(artifact))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert (
        "the CA (certificate request) failed after 3 attempt(s): ConnectionError" in result.stderr
    )
    assert "retry later" in result.stderr
    assert not (tmp_path / "a.whl.sigstore.json").exists()
    _no_leak(result, token)


@pytest.mark.parametrize(
    ("path", "kind", "service", "answer", "attempts"),
    [
        ("/api/v2/signingCert", "500", "the CA (certificate request)", "HTTP 500", 3),
        ("/api/v2/signingCert", "garbage", "the CA (certificate request)", "", 1),
        # both artifacts are being signed at once: each makes its own attempts, unless the
        # other's failure came first (no upload starts after a failure: forked.checkpoint)
        ("/api/v1/log/entries", "500", "the transparency log", "HTTP 500", (3, 6)),
        ("/api/v1/log/entries", "garbage", "the transparency log", "", (1, 2)),
    ],
)
def test_service_faults_leave_nothing_behind(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    path: str, kind: str, service: str, answer: str, attempts: int | tuple[int, int],
) -> None:  # fmt: skip
    fewest, most = attempts if isinstance(attempts, tuple) else (attempts, attempts)
    artifacts = _artifacts(tmp_path, "a.whl", "b.tar.gz")
    calls: list[int] = []
    token = instance.token(CI)
    with stubs.serve(stubs.fault(path, kind, calls), upstream=instance.url) as url:
        config = stubs.trust_config_via(instance.trust_config, url, tmp_path / "proxy.json")
        result = invoke("sign", "--trust-config", str(config), "--identity-token", token,
                        *map(str, artifacts))  # fmt: skip
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert service in result.stderr
    assert answer in result.stderr
    assert fewest <= len(calls) <= most  # 5xx is retried (3 attempts); a malformed answer is not
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.sigstore.json"))
    assert not list(tmp_path.glob(".*.tmp"))
    _no_leak(result, token)


def test_slow_service_is_abandoned(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(session, "RETRY", retry.Policy(attempts=1, deadline=1.0))
    [artifact] = _artifacts(tmp_path, "a.whl")
    with stubs.serve(stubs.fault("/api/v1/log/entries", "slow"), upstream=instance.url) as url:
        config = stubs.trust_config_via(instance.trust_config, url, tmp_path / "proxy.json")
        result = invoke("sign", "--trust-config", str(config), "--identity-token",
                        instance.token(CI), str(artifact))  # fmt: skip
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "the transparency log did not answer within 1 s" in result.stderr
    assert not (tmp_path / "a.whl.sigstore.json").exists()


def test_a_wrong_log_answer_is_caught_by_the_self_check(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "a.whl")
    with stubs.serve(stubs.corrupt_log_answers(instance.url), upstream=instance.url) as url:
        config = stubs.trust_config_via(instance.trust_config, url, tmp_path / "proxy.json")
        result = invoke("sign", "--trust-config", str(config), "--identity-token",
                        instance.token(CI), str(artifact))  # fmt: skip
    assert result.exit_code == ExitCode.OPERATIONAL
    assert f"the new bundle for {artifact} does not verify" in result.stderr
    assert not (tmp_path / "a.whl.sigstore.json").exists()


def test_verbose_never_shows_the_token(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    [artifact] = _artifacts(tmp_path, "a.whl")
    expired = oidc.mint(
        instance.state.keys["issuer"], instance.issuer, CI, {"exp": 1, "iat": 0, "nbf": 0}
    )
    result = invoke("-v", "sign", "--trust-config", str(instance.trust_config),
                    "--identity-token", expired, str(artifact))  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert (
        "the identity token from --identity-token expired at 1970-01-01 00:00:01 UTC"
        in result.stderr
    )
    _no_leak(result, expired)
    garbage = invoke("sign", "--trust-config", str(instance.trust_config),
                     "--identity-token", "not-a-token", str(artifact))  # fmt: skip
    assert garbage.exit_code == ExitCode.USAGE
    assert "the identity token from --identity-token is not a JWT" in garbage.stderr


def test_public_instance_unreachable_is_operational(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network here: loading the public trust root fails cleanly with exit 3."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no cached TUF metadata
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    [artifact] = _artifacts(tmp_path, "a.whl")
    result = invoke("sign", "--instance", "staging", "--identity-token", "x.y.z", str(artifact))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "cannot load the staging Sigstore trust root" in result.stderr
    assert not (tmp_path / "a.whl.sigstore.json").exists()


def test_pep740_attestations_verify_with_pypi_attestations(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from pypi_attestations import Attestation, Distribution, _impl
    from sigstore.verify.policy import Identity

    wheel, sdist = _artifacts(tmp_path, "acme_web-1.4.0-py3-none-any.whl", "acme_web-1.4.0.tar.gz")
    token = instance.token(CI)
    result = invoke("sign", "--pep740", "--trust-config", str(instance.trust_config),
                    "--identity-token", token, str(wheel), str(sdist))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    _no_leak(result, token)
    # pypi-attestations verifies against public Sigstore only: point it at this instance's root
    monkeypatch.setattr(
        _impl.Verifier, "production", classmethod(lambda cls, offline=False: instance.verifier())
    )
    for dist in (wheel, sdist):
        path = tmp_path / f"{dist.name}.publish.attestation"
        attestation = Attestation.model_validate_json(path.read_bytes())
        predicate_type, _ = attestation.verify(
            Identity(identity=CI, issuer=instance.issuer), Distribution.from_file(dist)
        )
        assert predicate_type == "https://docs.pypi.org/attestations/publish/v1"
        other = Distribution(name=dist.name, digest="0" * 64)
        with pytest.raises(Exception, match="does not match distribution digest"):
            attestation.verify(Identity(identity=CI, issuer=instance.issuer), other)


def test_pep740_against_rekor2_is_logged_in_rekor_v1_with_the_one_certificate(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A PEP 740 attestation keeps only the certificate and the log entry: against the v2
    instance the signatures are v2 entries dated by their timestamp, the attestations v1
    entries with an inclusion promise (what PyPI takes), all by one leaf certificate; and
    pypi-attestations verifies them (it refused a v2 entry: "bundle must contain an
    inclusion promise or signed timestamp(s)")."""
    from pypi_attestations import Attestation, Distribution, _impl
    from sigstore.verify.policy import Identity

    wheel, sdist = _artifacts(tmp_path, "acme_web-1.4.0-py3-none-any.whl", "acme_web-1.4.0.tar.gz")
    result = invoke("sign", "--pep740", "--trust-config", str(rekor2_instance.trust_config),
                    "--identity-token", rekor2_instance.token(CI), str(wheel), str(sdist))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    state = rekor2_instance.state
    v1_log = base64.b64encode(key_id(state.keys["tlog"].public_key())).decode()
    signatures = [tmp_path / f"{d.name}.sigstore.json" for d in (wheel, sdist)]
    attestations = [tmp_path / f"{d.name}.publish.attestation" for d in (wheel, sdist)]
    for signature in signatures:
        entry = transparency_entry(signature)
        assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}
        assert "inclusionPromise" not in entry and not int(entry.get("integratedTime", 0))
        stamps = json.loads(signature.read_text())["verificationMaterial"][
            "timestampVerificationData"]["rfc3161Timestamps"]  # fmt: skip
        assert len(stamps) == 1
    for attestation in attestations:
        entry = transparency_entry(attestation)
        assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
        assert entry["logId"]["keyId"] == v1_log and entry["inclusionPromise"]
        assert int(entry["integratedTime"]) > 0
    assert len({leaf_certificate(p) for p in signatures + attestations}) == 1
    monkeypatch.setattr(
        _impl.Verifier, "production",
        classmethod(lambda cls, offline=False: rekor2_instance.verifier()),
    )  # fmt: skip
    for dist, path in zip((wheel, sdist), attestations, strict=True):
        attestation = Attestation.model_validate_json(path.read_bytes())
        predicate_type, _ = attestation.verify(
            Identity(identity=CI, issuer=rekor2_instance.issuer), Distribution.from_file(dist)
        )
        assert predicate_type == "https://docs.pypi.org/attestations/publish/v1"


def test_pep740_without_a_rekor_v1_log_is_refused_before_signing(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, tmp_path: Path
) -> None:
    """A signing config offering Rekor v2 alone cannot make an attestation PyPI takes: the
    run is refused before anything is signed, and says why."""
    config = without_rekor_v1(rekor2_instance.trust_config, tmp_path)
    [wheel] = _artifacts(tmp_path, "acme_web-1.4.0-py3-none-any.whl")
    logged = log_sizes(rekor2_instance)
    result = invoke("sign", "--pep740", "--trust-config", str(config),
                    "--identity-token", rekor2_instance.token(CI), str(wheel))  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert (
        "--pep740: PEP 740 needs a log entry with an inclusion promise (Rekor v1; PyPI takes "
        "no other), and the signing config offers no Rekor v1 log; nothing was signed"
    ) in result.stderr
    assert not list(tmp_path.glob("*.sigstore.json")) and not list(tmp_path.glob("*.attestation"))
    assert log_sizes(rekor2_instance) == logged


def test_pep740_needs_distributions(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    wheel, notes = _artifacts(tmp_path, "acme_web-1.4.0-py3-none-any.whl", "notes.txt")
    result = invoke("sign", "--pep740", "--trust-config", str(instance.trust_config),
                    "--identity-token", instance.token(CI), str(wheel), str(notes))  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert "--pep740 needs wheels and sdists; notes.txt is neither" in result.stderr
    assert not list(tmp_path.glob("*.sigstore.json")) and not list(tmp_path.glob("*.attestation"))


def test_pep740_with_an_image_is_refused_not_ignored(invoke: Callable[..., Result]) -> None:
    """A PEP 740 attestation is a wheel's or sdist's: asked for an image, the run is refused
    before anything is resolved or signed (it used to sign the image and write none)."""
    result = invoke("sign", "--pep740", "oci://127.0.0.1:9/acme/web:1.4.0")
    assert result.exit_code == ExitCode.USAGE
    assert "--pep740 is for wheels and sdists (PEP 740 attestations, for PyPI): an image has" in (
        result.stderr
    )
