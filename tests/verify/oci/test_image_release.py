"""The issue's acceptance, without the webhook: an image built here goes sbom -> scan -> sign
-> provenance -> attestations into a real registry (distribution 2.8 on 127.0.0.1, so through
the referrers tag schema), and `attest verify oci://…@digest` allows it under a policy that
requires all of them, while a twin image pushed without evidence, and one only signed, are
refused, each with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.attest.provenance.test_provenance import GITHUB_ENV
from tests.attest.release.test_release import WAIVERS
from tests.conftest import REPO, LocalInstance
from tests.registry import push_image, running, write_layout
from tests.signed_release import github_token, identity_rule, write_policy

pytestmark = pytest.mark.network

Invoke = Callable[..., Result]
NOW = "2026-07-15T00:00:00Z"  # the example advisory set is fresh then (july_instance's clock)
LATER = "2026-07-16T00:00:00Z"  # the gate's instant: after every signature the test makes


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(tmp_path_factory.mktemp("registry")) as host:
        yield host


def _policy(path: Path, instance: LocalInstance) -> Path:
    document = {
        "version": 1,
        "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
        "identities": [identity_rule(instance)],
        "require": {
            "signature": True,
            "provenance": {"source_repository": "https://github.com/acme/web"},
            "sbom": {"denied_packages": ["evil-pkg"]},
            "vulnerabilities": {"slo": True},
        },
    }
    return write_policy(path, document)


def _scanned(invoke: Invoke, out: Path) -> tuple[Path, Path]:
    """The demo project's SBOM and its scan (waived to pass the SLO) at NOW."""
    sbom, scan, waivers = out / "sbom.cdx.json", out / "scan.json", out / "waivers.yaml"
    lock = str(REPO / "examples" / "demo-project" / "uv.lock")
    done = invoke("sbom", "--lock", lock, "--reproducible", "--output", str(sbom))
    assert done.exit_code == 0, done.output
    waivers.write_text(WAIVERS)
    db = str(REPO / "examples" / "advisories")
    done = invoke(
        "scan", "--sbom", str(sbom), "--db", db, "--cache-dir", str(out / "cache"), "--now", NOW,
        "--waivers", str(waivers), "--format", "json", "--output", str(scan),
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return sbom, scan


def _evidence(invoke: Invoke, instance: LocalInstance, image: str, sbom: Path, scan: Path) -> None:
    """Sign the image, then its provenance and attestations, each pushed as a referrer."""
    signing = ["--trust-config", str(instance.trust_config)]
    signing += ["--identity-token", github_token(instance)]
    for command in (
        ["sign", *signing, image],
        ["provenance", *signing, "--sbom", str(sbom), image],
        ["attest", *signing, "--predicate", "sbom", "--sbom", str(sbom), image],
        ["attest", *signing, "--predicate", "vulns", "--predicate", "slo", "--scan", str(scan),
         image],
    ):  # fmt: skip
        done = invoke(*command, env=GITHUB_ENV)
        assert done.exit_code == 0, done.output


def _verify(invoke: Invoke, policy: Path, *arguments: str) -> tuple[Result, dict[str, object]]:
    done = invoke("verify", "--policy", str(policy), "--now", LATER, "--json", *arguments)
    return done, json.loads(done.stdout) if done.stdout else {}


def _failed(run: dict[str, object]) -> dict[str, list[str]]:
    decision = run["decisions"][0]  # type: ignore[index]
    return {c["check"]: c["failures"] for c in decision["checks"] if c["result"] == "FAIL"}


def test_an_image_with_its_evidence_is_allowed_and_its_twins_refused(
    invoke: Invoke, july_instance: LocalInstance, registry: str, tmp_path: Path
) -> None:
    sbom, scan = _scanned(invoke, tmp_path)
    image = push_image(registry, "acme/web", "v1.4.0", b"acme web 1.4.0")
    twin = push_image(registry, "acme/web", "twin", b"acme web 1.4.0, rebuilt elsewhere")
    signed_only = push_image(registry, "acme/web", "signed", b"acme web 1.4.0, signed only")
    reference = f"oci://{registry}/acme/web@{image.digest}"
    _evidence(invoke, july_instance, f"oci://{registry}/acme/web:v1.4.0", sbom, scan)
    policy = _policy(tmp_path / "policy.yaml", july_instance)

    done, run = _verify(invoke, policy, reference)
    assert done.exit_code == 0, done.stderr
    assert f"ALLOW {registry}/acme/web@{image.digest}" in done.stderr
    checks = [c["check"] for c in run["decisions"][0]["checks"]]  # type: ignore[index]
    assert {"signature", "provenance", "sbom", "vulnerability SLOs"} <= set(checks), checks

    done, run = _verify(invoke, policy, f"oci://{registry}/acme/web@{twin.digest}")
    assert done.exit_code == 1
    failed = _failed(run)
    assert f"no verified signature of {twin.digest} among its referrers" in str(failed)
    assert {"signature", "provenance", "sbom", "vulnerability SLOs"} <= set(failed), failed

    signing = ["--trust-config", str(july_instance.trust_config)]
    signing += ["--identity-token", github_token(july_instance)]
    invoke("sign", *signing, f"oci://{registry}/acme/web@{signed_only.digest}")
    done, run = _verify(invoke, policy, f"oci://{registry}/acme/web@{signed_only.digest}")
    assert done.exit_code == 1
    failed = _failed(run)
    assert "signature" not in failed and "provenance" in failed, failed


def test_the_statements_name_the_image_by_repository_and_manifest_digest(
    invoke: Invoke, july_instance: LocalInstance, registry: str, tmp_path: Path
) -> None:
    image = push_image(registry, "named/app", "v1", b"named app")
    signing = ["--trust-config", str(july_instance.trust_config)]
    signing += ["--identity-token", github_token(july_instance)]
    done = invoke(
        "provenance", *signing, "--json", f"oci://{registry}/named/app:v1", env=GITHUB_ENV
    )
    assert done.exit_code == 0, done.output
    written = json.loads(done.stdout)[0]
    assert written["subjects"] == [
        {"name": f"{registry}/named/app", "digest": {"sha256": image.digest[7:]}}
    ]
    assert written["pushed"][0].startswith(f"{registry}/named/app@{image.digest} <- sha256:")


def test_an_oci_layout_gets_its_attestations_beside_it_for_offline_judging(
    invoke: Invoke, july_instance: LocalInstance, tmp_path: Path
) -> None:
    image = write_layout(tmp_path / "layout", b"layout app")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    signing = ["--trust-config", str(july_instance.trust_config), "--bundle-dir", str(evidence)]
    signing += ["--identity-token", github_token(july_instance)]
    for command in (["sign", *signing], ["provenance", *signing]):
        done = invoke(*command, str(tmp_path / "layout"), env=GITHUB_ENV)
        assert done.exit_code == 0, done.output
    assert (evidence / "layout.provenance.sigstore.json").is_file()
    policy = tmp_path / "policy.yaml"
    document = {
        "version": 1,
        "trust": {"trusted_root": str(july_instance.trusted_root), "allow_development_root": True},
        "identities": [identity_rule(july_instance)],
        "require": {"signature": True, "provenance": {}},
    }
    write_policy(policy, document)
    done, _ = _verify(invoke, policy, "--attestations", str(evidence), str(tmp_path / "layout"))
    assert done.exit_code == 0, done.stderr
    assert f"@{image.digest}" in done.stderr
