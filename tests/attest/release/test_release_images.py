"""`attest release` of an image in a real registry (distribution 2.8 on 127.0.0.1: the
referrers tag schema) against the local instance: a tag resolved once at the checks, the
release rehearsed by the gate before anything is logged or pushed, one certificate for the
image's signature and its four attestations, pushed as referrers, and the gate's `attest verify
oci://…@digest` allowing it; a tag moved during the release signs nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from sigstore.models import Bundle

from tests.attest.release.test_release import (
    KEYS,
    _log_size,
    _policy,
    _release,
    _waivers,
    _with,
    project,
)
from tests.conftest import LocalInstance
from tests.registry import push_image, running, write_layout
from verify.errors import ExitCode
from verify.oci.client import BUNDLE_TYPE, Registry
from verify.oci.evidence import collect

pytestmark = pytest.mark.network
Invoke = Callable[..., Result]
LATER = "2026-07-16T00:00:00Z"  # the deployer's gate: after the release (july_instance's clock)
__all__ = ["project"]  # the fixture, shared with test_release


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(tmp_path_factory.mktemp("registry")) as host:
        yield host


def _referrers(host: str, repository: str, digest: str) -> int:
    return len(Registry(host).referrers(repository, digest, BUNDLE_TYPE))


def _leaf(raw: bytes) -> bytes:
    return Bundle.from_json(raw).signing_certificate.public_bytes(serialization.Encoding.DER)


def test_an_image_released_by_tag_is_allowed_by_the_gate_by_digest(
    invoke: Invoke, july_instance: LocalInstance, project: Path, tmp_path: Path, registry: str
) -> None:
    image = push_image(registry, "acme/web", "1.4.0", b"acme web 1.4.0")
    policy = _policy(tmp_path, july_instance)
    before = _log_size(july_instance)
    done = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)),
                    f"oci://{registry}/acme/web:1.4.0")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    pinned = f"{registry}/acme/web@{image.digest}"
    assert f"oci://{registry}/acme/web:1.4.0 is {image.digest}" in done.stderr  # resolved once
    assert "the gate would allow 1 artifact(s)" in done.stderr
    assert "1 image(s) as https://github.com/acme/acme-web/" in done.stderr
    assert f"sbom, vulns, slo pushed as referrers of {pinned}" in done.stderr
    assert f"ALLOW 1 image(s) under {policy}, judged at the signing time 2026-07-15T" in (
        done.stderr
    )
    assert not list((project / "dist").glob("*.sigstore.json"))  # the files are not released
    # one certificate: the signature and the provenance, SBOM, vulns and SLO attestations
    assert _log_size(july_instance) == before + 5
    digest, found = collect(f"oci://{pinned}")
    assert digest == image.digest and len(found) == 5
    assert len({_leaf(raw) for raw in found}) == 1
    # the deployer's gate, by digest, fetching the referrers
    verified = invoke(
        "verify", "--policy", str(policy), "--now", LATER, "--json", f"oci://{pinned}"
    )
    assert verified.exit_code == 0, verified.stderr
    decision = json.loads(verified.stdout)["decisions"][0]
    passed = {c["check"] for c in decision["checks"] if c["result"] == "PASS"}
    assert {"signature", "provenance", "sbom", "vulnerability SLOs"} <= passed, decision


def test_an_image_the_policy_would_refuse_is_refused_before_anything_is_logged_or_pushed(
    invoke: Invoke, july_instance: LocalInstance, project: Path, tmp_path: Path, registry: str
) -> None:
    image = push_image(registry, "acme/denied", "1.4.0", b"acme web with flask")
    policy = _policy(tmp_path, july_instance)
    policy.write_text(policy.read_text().replace("sbom: {}", "sbom: {denied_packages: [flask]}"))
    before = _log_size(july_instance)
    done = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)),
                    f"oci://{registry}/acme/denied:1.4.0")  # fmt: skip
    assert done.exit_code == ExitCode.DENIED, done.stderr
    assert (
        f"release stopped at policy: {policy}: the gate would deny the release once signed: "
        f"{registry}/acme/denied@{image.digest}: sbom (" in done.stderr
    )
    assert "flask" in done.stderr and "nothing was signed" in done.stderr
    assert _log_size(july_instance) == before
    assert _referrers(registry, "acme/denied", image.digest) == 0


def test_referrers_over_the_gates_limit_once_pushed_are_refused_before_signing(
    invoke: Invoke, july_instance: LocalInstance, project: Path, tmp_path: Path, registry: str
) -> None:
    """60 bundle referrers already there (anyone who may push can attach them) and 5 to push:
    the gate step would read 65, over the 64 it reads, and refuse a release already logged and
    pushed. The rehearsal counts both and stops before signing."""
    image = push_image(registry, "acme/crowded", "1.4.0", b"acme web 1.4.0 crowded")
    client = Registry(registry)
    for i in range(60):
        client.attach("acme/crowded", image, json.dumps({"junk": i}).encode())
    before = _log_size(july_instance)
    policy = _policy(tmp_path, july_instance)
    done = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)),
                    f"oci://{registry}/acme/crowded:1.4.0")  # fmt: skip
    assert done.exit_code == ExitCode.OPERATIONAL, done.stderr
    assert (
        f"release stopped at policy: {registry}/acme/crowded@{image.digest}: 60 bundle "
        "referrers of this image and 5 the release would push, over the limit of 64 the gate "
        "reads: refused (prune old ones)"
    ) in done.stderr
    assert _log_size(july_instance) == before
    assert _referrers(registry, "acme/crowded", image.digest) == 60


def test_a_tag_moved_between_the_checks_and_the_signing_signs_nothing(
    invoke: Invoke,
    july_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    registry: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tag is resolved once; found naming another manifest once the certificate is there,
    the release stops before any log entry or push (it would have signed the old digest while
    the tag, which a deploy may use, names the new one)."""
    from attest.release import stage

    checked = push_image(registry, "acme/moved", "1.4.0", b"acme web 1.4.0")
    opened = stage.open_session
    moved: list[str] = []

    def open_then_move(*args: object) -> object:
        moved.append(push_image(registry, "acme/moved", "1.4.0", b"rebuilt").digest)
        return opened(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "open_session", open_then_move)
    before = _log_size(july_instance)
    argument = f"oci://{registry}/acme/moved:1.4.0"
    done = _release(invoke, july_instance, project, _policy(tmp_path, july_instance),
                    "--waivers", str(_waivers(tmp_path)), argument)  # fmt: skip
    assert done.exit_code == ExitCode.USAGE, done.stderr
    assert (
        f"release stopped at sign: {argument}: names another manifest now ({checked.digest} at "
        f"the checks, {moved[0]} now): the tag moved during the release" in done.stderr
    )
    assert _log_size(july_instance) == before
    assert _referrers(registry, "acme/moved", checked.digest) == 0
    assert _referrers(registry, "acme/moved", moved[0]) == 0


def test_a_release_takes_images_in_a_registry_or_files_never_both(
    invoke: Invoke, instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """Refused before anything is resolved, signed or asked (the registry here is unreachable)."""
    policy = _policy(tmp_path, instance)
    wheel = str(project / "dist" / "acme_web-1.4.0-py3-none-any.whl")
    image = "oci://127.0.0.1:9/acme/web:1.4.0"
    mixed = _release(invoke, instance, project, policy, wheel, image)
    assert mixed.exit_code == ExitCode.USAGE
    assert "sign images (oci://, OCI layout directories) and files in separate runs" in (
        mixed.stderr
    )
    write_layout(tmp_path / "layout", b"layout app")
    done = _release(invoke, instance, project, policy, str(tmp_path / "layout"))
    assert done.exit_code == ExitCode.USAGE
    assert "attest release pushes an image's evidence to its registry: name it oci://" in (
        done.stderr
    )
    twice = _release(invoke, instance, project, policy, image, image)
    assert twice.exit_code == ExitCode.USAGE
    assert "an image is named twice" in twice.stderr


def test_an_interrupt_once_the_signature_is_logged_starts_no_other_upload_or_push(
    invoke: Invoke,
    july_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    registry: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """^C as the image's signature enters the log: its push, the provenance and the
    attestations never start, and the error says one entry was made."""
    from attest.sign.session import SigningSession

    image = push_image(registry, "acme/stopped", "1.4.0", b"acme web, interrupted")
    real = SigningSession.sign_file

    def logged_then_interrupted(self: SigningSession, hashed: Any, what: Path) -> Bundle:
        real(self, hashed, what)
        os.kill(os.getpid(), signal.SIGINT)  # as ^C would, once the entry is made
        time.sleep(5)  # the interrupt arrives here
        raise AssertionError("not interrupted")

    monkeypatch.setattr(SigningSession, "sign_file", logged_then_interrupted)
    before = _log_size(july_instance)
    done = _release(invoke, july_instance, project, _policy(tmp_path, july_instance),
                    "--waivers", str(_waivers(tmp_path)), f"oci://{registry}/acme/stopped:1.4.0")  # fmt: skip
    assert done.exit_code == ExitCode.OPERATIONAL, done.stderr
    assert (
        "release stopped at sign: interrupted: 1 entry was logged for artifacts whose release "
        "is not finished; the log keeps them, the referrers pushed are kept" in done.stderr
    )
    assert _log_size(july_instance) == before + 1
    assert _referrers(registry, "acme/stopped", image.digest) == 0


def test_an_image_release_under_require_publish_is_refused_before_signing(
    invoke: Invoke, july_instance: LocalInstance, project: Path, tmp_path: Path, registry: str
) -> None:
    """PEP 740 is a wheel's or sdist's: the release makes none for an image, and says so."""
    push_image(registry, "acme/published", "1.4.0", b"acme web, for PyPI?")
    policy = _with(_policy(tmp_path, july_instance), KEYS[2][1], july_instance.issuer)
    before = _log_size(july_instance)
    done = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)),
                    f"oci://{registry}/acme/published:1.4.0")  # fmt: skip
    assert done.exit_code == ExitCode.DENIED, done.stderr
    assert "release stopped at policy: " in done.stderr
    assert "publish attestation (" in done.stderr
    assert "[an image has no PEP 740 attestation (a wheel's or sdist's, for PyPI)" in done.stderr
    assert _log_size(july_instance) == before
