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
    assert f"no verified signature of {twin.digest} among its referrers" in done.stderr, done.stderr


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


def _policy(path: Path, instance: LocalInstance, k_of_n: int, *repositories: str) -> Path:
    rules = []
    for repository in repositories:
        rule = identity_rule(instance)
        rule["github"]["repository"] = repository
        rule["extensions"]["source_repository"] = f"https://github.com/{repository}"
        rules.append(rule)
    document = {
        "version": 1,
        "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
        "identities": rules,
        "k_of_n": k_of_n,
        "require": {"signature": True},
    }
    return write_policy(path, document)


def _sign_as(invoke: Invoke, instance: LocalInstance, repository: str, image: str) -> None:
    token = github_token(instance, repository)
    config = str(instance.trust_config)
    done = invoke("sign", "--trust-config", config, "--identity-token", token, image)
    assert done.exit_code == 0, done.output


def test_any_referrer_signed_by_an_allowed_identity_counts_and_a_bad_one_first_does_not_deny(
    invoke: Invoke, instance: LocalInstance, registry: str, tmp_path: Path
) -> None:
    """E's first design took the first signature listed as the image's own: a signature by a
    stranger listed first denied a well-signed image. Every referrer is judged alike now."""
    image = push_image(registry, "anyref/app", "v1", b"app 5")
    reference = f"oci://{registry}/anyref/app@{image.digest}"
    _sign_as(invoke, instance, "mallory/evil", reference)  # listed first, not allowed
    policy = _policy(tmp_path / "policy.yaml", instance, 1, "acme/web")
    done, run = _verify(invoke, policy, reference)
    assert done.exit_code == 1
    assert "no verified signature of" in done.stderr and "among its referrers" in done.stderr
    assert "mallory/evil" in json.dumps(run)  # the stranger's, named as not counted
    _sign_as(invoke, instance, "acme/web", reference)
    done, run = _verify(invoke, policy, reference)
    assert done.exit_code == 0, done.stderr
    checks = {c["check"]: c for c in run["decisions"][0]["checks"]}
    assert "among its referrers" in checks["signature"]["expected"]
    assert ".sigstore.json" not in checks["signature"]["expected"]


def test_k_of_n_counts_each_distinct_signer_among_the_referrers_once(
    invoke: Invoke, instance: LocalInstance, registry: str, tmp_path: Path
) -> None:
    image = push_image(registry, "kofn/app", "v1", b"app 6")
    reference = f"oci://{registry}/kofn/app@{image.digest}"
    policy = _policy(tmp_path / "policy.yaml", instance, 2, "acme/web", "acme/audit")
    _sign_as(invoke, instance, "acme/web", reference)
    _sign_as(invoke, instance, "acme/web", reference)  # the same signer twice is one
    done, _ = _verify(invoke, policy, reference)
    assert done.exit_code == 1
    assert "1 distinct allowed signer(s), the policy needs 2" in done.stderr, done.stderr
    _sign_as(invoke, instance, "acme/audit", reference)
    done, run = _verify(invoke, policy, reference)
    assert done.exit_code == 0, done.stderr
    assert len(run["decisions"][0]["signers"]) == 3
