"""The webhook with the registry as its evidence source (`RegistrySource`, the default of
`attest webhook`), against a real registry (distribution 2.8 on 127.0.0.1: the referrers tag
schema) and the local Sigstore instance.

The issue's acceptance: an image built here goes sbom -> scan -> sign (`attest sign oci://`) ->
provenance, SBOM and SLO attestations -> the registry, and the webhook over TLS admits the
Deployment (rendered by kubectl) that runs it by digest, refuses its twin pushed without
evidence, refuses it by tag unless the policy resolves tags, and then names the digest. Every
piece of evidence is made and pushed by the commands themselves (`attest sign`, `attest
provenance` and `attest attest` on `oci://HOST/REPO@sha256:…`), as a release would.

Also: the webhook judges referrers by the rule `attest verify oci://` judges them by (one rule,
verify/checks/signature.py); a registry that cannot be reached, or never answers, denies naming
why; Docker Hub's short names."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.conftest import LocalInstance
from tests.registry import push_image, running
from tests.signed_release import (
    GITHUB_ENV,
    REPOSITORY,
    github_token,
    identity_rule,
    utc_now,
    write_policy,
)
from tests.verify.webhook import reviews as r
from verify import gate
from verify.oci.client import OCI_INDEX, Manifest, Registry, tag_schema
from verify.policy import load_policy
from verify.webhook.judging import DigestJudge, ImageRef
from verify.webhook.mounted import Mounted
from verify.webhook.registry import DOCKER_HUB, RegistrySource, oci_reference
from verify.webhook.server import Webhook

pytestmark = pytest.mark.network

Invoke = Callable[..., Result]
ADVISORIES = Path(__file__).parents[3] / "examples" / "advisories"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(tmp_path_factory.mktemp("registry")) as host:
        yield host


def _ok(done: Result) -> Result:
    assert done.exit_code == 0, done.output + done.stderr
    return done


def _signing(instance: LocalInstance, repository: str = REPOSITORY) -> list[str]:
    token = github_token(instance, repository)
    return ["--trust-config", str(instance.trust_config), "--identity-token", token]


def _release_image(
    invoke: Invoke, instance: LocalInstance, registry: str, work: Path
) -> tuple[Manifest, Manifest]:
    """The image and its twin in `registry` (acceptance/app:v1, :twin); the image through the
    whole pipeline, the twin pushed with no evidence."""
    requirements = work / "requirements.txt"
    requirements.write_text(
        "attrs==23.2.0 \\\n    --hash=sha256:"
        "99b87a485a5820b23b879f04c2305b44b951b502fd64be915879d77a7e8fc6f1\n"
    )
    sbom, scan = work / "sbom.cdx.json", work / "scan.json"
    _ok(invoke("sbom", "--requirements", str(requirements), "--output", str(sbom)))
    _ok(invoke(
        "scan", "--sbom", str(sbom), "--db", str(ADVISORIES), "--cache-dir", str(work / "cache"),
        "--allow-stale-db", "--json", "--output", str(scan),
    ))  # fmt: skip
    image = push_image(registry, "acceptance/app", "v1", requirements.read_bytes())
    twin = push_image(registry, "acceptance/app", "twin", requirements.read_bytes() + b"\n")
    reference = f"oci://{registry}/acceptance/app@{image.digest}"
    _ok(invoke("sign", *_signing(instance), reference))
    _ok(invoke(
        "provenance", *_signing(instance), "--sbom", str(sbom), reference, env=GITHUB_ENV,
    ))  # fmt: skip
    _ok(invoke(
        "attest", *_signing(instance), "--predicate", "sbom", "--predicate", "slo",
        "--sbom", str(sbom), "--scan", str(scan), reference,
    ))  # fmt: skip
    return image, twin


def _policy(instance: LocalInstance, path: Path, resolve_tags: bool) -> Path:
    return write_policy(
        path,
        {
            "version": 1,
            "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
            "identities": [identity_rule(instance)],
            "require": {
                "signature": True,
                "provenance": {
                    "builder_id_pattern": rf"https://github\.com/{REPOSITORY}/\.github/.+",
                    "source_repository": f"https://github.com/{REPOSITORY}",
                },
                "sbom": {"denied_packages": ["evil-pkg"]},
                "vulnerabilities": {"slo": True},
            },
            "images": {"resolve_tags": resolve_tags},
        },
    )


@pytest.fixture
def webhook(
    tmp_path: Path, instance: LocalInstance, registry: str
) -> Iterator[tuple[Path, Any, io.StringIO]]:
    """The webhook over TLS on 127.0.0.1 with the registry as its evidence source (listed:
    --registry, as a registry of the cluster's own is): (its policy file, a function posting a
    review and returning the response, its decision log)."""
    policy = _policy(instance, tmp_path / "policy.yaml", resolve_tags=False)
    out = io.StringIO()
    hook = Webhook(Mounted(policy), DigestJudge(RegistrySource(registries={registry})), out=out)
    with r.serving(hook, tmp_path) as (connection, _):

        def post(image: str) -> dict[str, Any]:
            status, document = r.post(connection, r.body(r.workload("Deployment", image)))
            assert status == 200, document
            response: dict[str, Any] = document["response"]
            return response

        yield policy, post, out


def _last(out: io.StringIO) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(out.getvalue().splitlines()[-1])
    return record


def test_acceptance_the_webhook_admits_the_released_image_and_refuses_its_twin(
    invoke: Invoke,
    instance: LocalInstance,
    registry: str,
    tmp_path: Path,
    webhook: tuple[Path, Any, io.StringIO],
) -> None:
    policy, post, out = webhook
    image, twin = _release_image(invoke, instance, registry, tmp_path)
    name = f"{registry}/acceptance/app"

    assert post(f"{name}@{image.digest}")["allowed"] is True
    record = _last(out)
    assert (record["decision"], record["kind"]) == ("ALLOW", "Deployment")
    assert record["images"][0]["digest"] == image.digest

    refused = post(f"{name}@{twin.digest}")
    assert refused["allowed"] is False
    message = refused["status"]["message"]
    assert message.startswith(
        f"1 of 1 container(s) refused by attest: image '{name}@{twin.digest}' at "
        f"spec.template.spec.containers[0] ('app'): signature: no verified signature of "
        f"{twin.digest} among its referrers (by an identity the policy allows)"
    ), message
    for check in ("provenance", "sbom", "signer identity"):
        assert f"; {check}: " in message, message

    by_tag = post(f"{name}:v1")
    assert by_tag["allowed"] is False
    assert "named by tag 'v1', not by digest: a tag can be moved" in by_tag["status"]["message"]

    _policy(instance, policy, resolve_tags=True)  # the mounted file changes: re-read
    assert post(f"{name}:v1")["allowed"] is True
    assert _last(out)["images"][0] == {
        "container": "spec.template.spec.containers[0] ('app')",
        "image": f"{name}:v1",
        "allowed": True,
        "reason": "",
        "digest": image.digest,
    }


def _judge(policy: Path, image: str, source: RegistrySource | None = None) -> Any:
    loaded = load_policy(policy)
    judge = DigestJudge(source or RegistrySource(registries={image.split("/", 1)[0]}))
    return judge(image, loaded, gate.trust_for(loaded), utc_now())


def _k_of_n(instance: LocalInstance, path: Path, k: int) -> Path:
    rules = []
    for repository in ("acme/web", "acme/audit"):
        rule = identity_rule(instance)
        rule["github"]["repository"] = repository
        rule["extensions"]["source_repository"] = f"https://github.com/{repository}"
        rules.append(rule)
    return write_policy(
        path,
        {
            "version": 1,
            "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
            "identities": rules,
            "k_of_n": k,
            "require": {"signature": True},
        },
    )


def _gate(invoke: Invoke, policy: Path, image: str) -> Result:
    return invoke("verify", "--policy", str(policy), "--now", utc_now().isoformat(), image)


def test_the_webhook_counts_referrers_as_attest_verify_does(
    invoke: Invoke, instance: LocalInstance, registry: str, tmp_path: Path
) -> None:
    """One rule for both (verify/checks/signature.py, `images`): a stranger's signature listed
    first and a referrer that is no bundle at all neither allow nor deny (nor crash); any
    signature by an allowed identity counts, each distinct signer once for k_of_n."""
    image = push_image(registry, "samerule/app", "v1", b"same rule")
    name = f"{registry}/samerule/app@{image.digest}"
    _ok(invoke("sign", *_signing(instance, "mallory/evil"), f"oci://{name}"))
    Registry(registry).attach("samerule/app", image, b'{"not": "a bundle"')
    one, two = (
        _k_of_n(instance, tmp_path / "one.yaml", 1),
        _k_of_n(instance, tmp_path / "2.yaml", 2),
    )
    for policy in (one, two):  # only bad referrers: both refuse, for the same reason
        verdict, done = _judge(policy, name), _gate(invoke, policy, f"oci://{name}")
        assert verdict.allowed is False and done.exit_code == 1, done.stderr
        said = f"no verified signature of {image.digest} among its referrers"
        assert said in verdict.reason and said in done.stderr, (verdict.reason, done.stderr)
    _ok(invoke("sign", *_signing(instance, "acme/web"), f"oci://{name}"))
    _ok(invoke("sign", *_signing(instance, "acme/web"), f"oci://{name}"))  # the same signer
    assert _judge(one, name).allowed is True
    _ok(_gate(invoke, one, f"oci://{name}"))
    verdict, done = _judge(two, name), _gate(invoke, two, f"oci://{name}")
    assert verdict.allowed is False and done.exit_code == 1
    said = "1 distinct allowed signer(s), the policy needs 2"
    assert said in verdict.reason and said in done.stderr, (verdict.reason, done.stderr)
    _ok(invoke("sign", *_signing(instance, "acme/audit"), f"oci://{name}"))
    assert _judge(two, name).allowed is True
    _ok(_gate(invoke, two, f"oci://{name}"))


def test_a_referrer_removed_from_the_index_stops_counting_at_the_next_review(
    invoke: Invoke, instance: LocalInstance, registry: str, tmp_path: Path
) -> None:
    """One source (its cache: the referrer's manifest and bundle kept by digest) for every
    review: the referrers list is read afresh each time, so a signature taken out of the
    tag-schema index no longer counts, and one pushed after is counted."""
    image = push_image(registry, "removed/app", "v1", b"removed referrer")
    name = f"{registry}/removed/app@{image.digest}"
    policy = _k_of_n(instance, tmp_path / "one.yaml", 1)
    source = RegistrySource(registries={registry})
    _ok(invoke("sign", *_signing(instance, "acme/web"), f"oci://{name}"))
    assert _judge(policy, name, source).allowed is True
    client = Registry(registry)
    empty = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    client.push_manifest("removed/app", tag_schema(image.digest), empty, OCI_INDEX)
    verdict = _judge(policy, name, source)
    assert verdict.allowed is False
    assert f"no verified signature of {image.digest} among its referrers" in verdict.reason
    _ok(invoke("sign", *_signing(instance, "acme/audit"), f"oci://{name}"))
    assert _judge(policy, name, source).allowed is True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_registry_that_cannot_be_reached_denies_naming_why(
    tmp_path: Path, instance: LocalInstance
) -> None:
    policy = _policy(instance, tmp_path / "policy.yaml", resolve_tags=True)
    host = f"127.0.0.1:{_free_port()}"
    source = RegistrySource(registries={host})
    hook = Webhook(Mounted(policy), DigestJudge(source), out=io.StringIO())
    for image in (f"{host}/gone/app@sha256:{'c' * 64}", f"{host}/gone/app:v1"):
        status, document = hook.answer(r.body(r.workload("Deployment", image)))
        assert status == 200 and document["response"]["allowed"] is False
        assert (
            f"cannot be judged: registry {host} unreachable"
            in (document["response"]["status"]["message"])
        )
    hook.close()


def test_a_registry_that_never_answers_denies_at_its_timeout(
    tmp_path: Path, instance: LocalInstance
) -> None:
    policy = _policy(instance, tmp_path / "policy.yaml", resolve_tags=False)
    with socket.socket() as silent:  # accepts (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        said = None
        try:
            source = RegistrySource(timeout=0.3, registries={host})
            _judge(policy, f"{host}/slow/app@sha256:{'d' * 64}", source)
        except Exception as e:  # the server turns this into a denial: see above
            said = str(e)
    assert said == f"registry {host} unreachable"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx:1.25", f"oci://{DOCKER_HUB}/library/nginx:1.25"),
        ("nginx", f"oci://{DOCKER_HUB}/library/nginx:latest"),
        ("acme/web:2", f"oci://{DOCKER_HUB}/acme/web:2"),
        ("localhost/web:2", "oci://localhost/web:2"),
        ("127.0.0.1:5000/acme/web:2", "oci://127.0.0.1:5000/acme/web:2"),
        ("ghcr.io/acme/web:2", "oci://ghcr.io/acme/web:2"),
    ],
)
def test_an_image_is_found_in_the_registry_its_name_says(image: str, expected: str) -> None:
    assert str(oci_reference(ImageRef.parse(image))) == expected
    digest = "sha256:" + "e" * 64
    pinned = oci_reference(ImageRef.parse(image), digest)
    assert str(pinned) == expected.rsplit(":", 1)[0] + "@" + digest
