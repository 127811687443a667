"""`attest sign` and `attest verify` on images, end to end against a real registry (distribution
2.8 on 127.0.0.1, so the bundles travel through the referrers tag schema) and the local Sigstore
instance: the signature is over the manifest digest, the decision names the digest."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.conftest import LocalInstance
from tests.registry import push_image, running, write_layout
from tests.signed_release import github_token, identity_rule, utc_now, write_policy
from verify.oci.client import Registry, tag_schema

pytestmark = pytest.mark.network

Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture
def policy(instance: LocalInstance, tmp_path: Path) -> Path:
    document = {
        "version": 1,
        "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
        "identities": [identity_rule(instance)],
        "require": {"signature": True},
    }
    return write_policy(tmp_path / "policy.yaml", document)


def _sign(invoke: Invoke, instance: LocalInstance, *arguments: str) -> Result:
    token = github_token(instance)
    config = str(instance.trust_config)
    return invoke("sign", "--trust-config", config, "--identity-token", token, *arguments)


def _verify(invoke: Invoke, policy: Path, *arguments: str) -> tuple[Result, dict[str, Any]]:
    now = utc_now().isoformat()
    done = invoke("verify", "--policy", str(policy), "--now", now, "--json", *arguments)
    return done, json.loads(done.stdout) if done.stdout else {}


def test_a_signed_image_is_allowed_and_its_unsigned_twin_refused(
    invoke: Invoke, instance: LocalInstance, registry: str, policy: Path
) -> None:
    image = push_image(registry, "e2e/app", "v1", b"app 1")
    twin = push_image(registry, "e2e/app", "twin", b"app 1 twin")
    signed = _sign(invoke, instance, f"oci://{registry}/e2e/app@{image.digest}")
    assert signed.exit_code == 0, signed.output
    done, run = _verify(invoke, policy, f"oci://{registry}/e2e/app@{image.digest}")
    assert done.exit_code == 0, done.stderr
    assert run["decisions"][0]["artifact"]["path"] == f"{registry}/e2e/app@{image.digest}"
    assert run["decisions"][0]["artifact"]["sha256"] == image.digest.removeprefix("sha256:")
    done, run = _verify(invoke, policy, f"oci://{registry}/e2e/app@{twin.digest}")
    assert done.exit_code == 1
    assert run["decisions"][0]["decision"] == "DENY"
    assert f"no verified signature bundle for {twin.digest}" in done.stderr, done.stderr


def test_a_tag_is_resolved_and_the_decision_names_the_digest(
    invoke: Invoke, instance: LocalInstance, registry: str, policy: Path
) -> None:
    image = push_image(registry, "tagged/app", "latest", b"app 2")
    assert _sign(invoke, instance, f"oci://{registry}/tagged/app:latest").exit_code == 0
    done, run = _verify(invoke, policy, f"oci://{registry}/tagged/app:latest")
    assert done.exit_code == 0, done.stderr
    assert run["decisions"][0]["artifact"]["path"] == f"{registry}/tagged/app@{image.digest}"
    assert f"ALLOW {registry}/tagged/app@{image.digest}" in done.stderr


def test_a_tampered_referrer_is_refused(
    invoke: Invoke, instance: LocalInstance, registry: str, policy: Path
) -> None:
    image = push_image(registry, "tampered/app", "v1", b"app 3")
    other = push_image(registry, "tampered/app", "v2", b"app 3 other")
    # a bundle signed for another image, re-attached as a referrer of this one
    assert _sign(invoke, instance, f"oci://{registry}/tampered/app@{other.digest}").exit_code == 0
    client = Registry(registry)
    index = client.manifest("tampered/app", tag_schema(other.digest)).json()
    referrer = client.manifest("tampered/app", index["manifests"][0]["digest"]).json()
    bundle = client.blob("tampered/app", referrer["layers"][0]["digest"])
    client.attach("tampered/app", image, bundle)
    done, run = _verify(invoke, policy, f"oci://{registry}/tampered/app@{image.digest}")
    assert done.exit_code == 1
    assert run["decisions"][0]["decision"] == "DENY"
    assert "does not verify for this artifact" in json.dumps(run), done.stderr


def test_an_oci_layout_is_judged_offline_with_its_attestations(
    invoke: Invoke, instance: LocalInstance, policy: Path, tmp_path: Path
) -> None:
    image = write_layout(tmp_path / "layout", b"app 4")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    signed = _sign(invoke, instance, "--bundle-dir", str(evidence), str(tmp_path / "layout"))
    assert signed.exit_code == 0, signed.output
    assert (evidence / f"{image.digest}.sigstore.json").is_file()
    done, run = _verify(invoke, policy, "--attestations", str(evidence), str(tmp_path / "layout"))
    assert done.exit_code == 0, done.stderr
    assert run["decisions"][0]["artifact"]["path"] == f"{tmp_path / 'layout'}@{image.digest}"
