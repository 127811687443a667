"""`attest release` against the Rekor v2 instance (the default of `attest instance up`): its
PEP 740 attestations are logged in the instance's Rekor v1 log, whose entries carry the
inclusion promise an attestation needs (it keeps no timestamp), with the release's one
certificate; without a v1 log it writes none and says so, or is refused at its checks when the
policy requires them; and its trust check asks the policy's root for the v1 log's key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from attest.instance.state import key_id
from tests.attest.release.test_release import _policy, _release, _waivers, _with, project
from tests.attest.sign.helpers import (
    leaf_certificate,
    log_sizes,
    transparency_entry,
    without_rekor_v1,
)
from tests.conftest import LocalInstance
from verify.errors import ExitCode

__all__ = ["project"]  # the fixture, shared with test_release.py

WORKFLOW = "https://github.com/acme/acme-web/.github/workflows/release.yml@refs/heads/main"
PUBLISH = "require:\n  publish:\n    repository: acme/acme-web\n    workflow: release.yml\n"
NO_V1 = (
    "PEP 740 needs a log entry with an inclusion promise (Rekor v1; PyPI takes no other), and "
    "the signing config offers no Rekor v1 log"
)


def _unscanned(tmp_path: Path, instance: LocalInstance) -> Path:
    """The release policy without the SLO requirement: the v2 instance signs on the real clock,
    when the waivers the scan (at July's NOW) relies on have expired."""
    path = _policy(tmp_path, instance)
    data = yaml.safe_load(path.read_text())
    del data["require"]["vulnerabilities"]
    path.write_text(yaml.safe_dump(data))
    return path


def _v1_log(local: LocalInstance) -> str:
    return base64.b64encode(key_id(local.state.keys["tlog"].public_key())).decode()


def test_release_against_rekor2_writes_pep740_the_gate_and_pypi_attestations_accept(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, project: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The gate's self-check allows the release (it used to deny it: a v2 entry converted to
    PEP 740 has no time, "bundle must contain an inclusion promise or signed timestamp(s)");
    the signatures are v2 entries with a timestamp, the attestations v1 entries with an
    inclusion promise, all one leaf certificate; pypi-attestations verifies each."""
    from pypi_attestations import Attestation, Distribution, _impl
    from sigstore.verify.policy import Identity

    policy = _unscanned(tmp_path, rekor2_instance)
    waivers = _waivers(tmp_path)
    result = _release(invoke, rekor2_instance, project, policy, "--waivers", str(waivers))
    assert result.exit_code == 0, result.stderr
    assert "ALLOW 2 artifact(s)" in result.stderr and "PEP 740" not in result.stderr
    dist = project / "dist"
    bundles = sorted(dist.glob("*.sigstore.json"))
    attestations = sorted(dist.glob("*.publish.attestation"))
    assert len(bundles) == 6 and len(attestations) == 2
    for bundle in bundles:
        entry = transparency_entry(bundle)
        assert entry["logId"]["keyId"] != _v1_log(rekor2_instance)
        assert "inclusionPromise" not in entry and not int(entry.get("integratedTime", 0))
        material = json.loads(bundle.read_text())["verificationMaterial"]
        assert len(material["timestampVerificationData"]["rfc3161Timestamps"]) == 1
    for attestation in attestations:
        entry = transparency_entry(attestation)
        assert entry["logId"]["keyId"] == _v1_log(rekor2_instance)
        assert entry["inclusionPromise"]["signedEntryTimestamp"]
    assert len({leaf_certificate(p) for p in bundles + attestations}) == 1
    monkeypatch.setattr(
        _impl.Verifier, "production",
        classmethod(lambda cls, offline=False: rekor2_instance.verifier()),
    )  # fmt: skip
    identity = Identity(identity=WORKFLOW, issuer=rekor2_instance.issuer)
    for path in attestations:
        artifact = path.with_name(path.name.removesuffix(".publish.attestation"))
        parsed = Attestation.model_validate_json(path.read_bytes())
        predicate, _ = parsed.verify(identity, Distribution.from_file(artifact))
        assert predicate == "https://docs.pypi.org/attestations/publish/v1"
    # and the gate reads them as the publish attestation a policy may require
    keyed = _with(policy, PUBLISH + "    issuer: {issuer}\n", rekor2_instance.issuer)
    artifacts = [
        str(p) for p in sorted(dist.glob("acme_web-1.4.0*")) if p.suffix in (".whl", ".gz")
    ]
    judged = invoke("verify", "--policy", str(keyed), *artifacts)
    assert judged.exit_code == 0, judged.stderr


def test_release_without_a_rekor_v1_log_writes_no_pep740_and_says_so(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    config = without_rekor_v1(rekor2_instance.trust_config, tmp_path)
    policy = _unscanned(tmp_path, rekor2_instance)
    result = _release(invoke, rekor2_instance, project, policy, "--waivers",
                      str(_waivers(tmp_path)), config=config)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"; no PEP 740 attestations: {NO_V1}" in result.stderr
    assert not list((project / "dist").glob("*.publish.attestation"))


def test_release_requiring_publish_without_a_rekor_v1_log_is_refused_at_checks(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    config = without_rekor_v1(rekor2_instance.trust_config, tmp_path)
    policy = _with(_unscanned(tmp_path, rekor2_instance), PUBLISH, rekor2_instance.issuer)
    logged = log_sizes(rekor2_instance)
    result = _release(invoke, rekor2_instance, project, policy, "--waivers",
                      str(_waivers(tmp_path)), config=config)  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert (
        f"release stopped at checks: {policy} requires a publish attestation (PEP 740): {NO_V1}; "
        "nothing was signed"
    ) in result.stderr
    assert log_sizes(rekor2_instance) == logged
    assert not list((project / "dist").glob("*.sigstore.json"))


def _v1_elsewhere(local: LocalInstance, directory: Path) -> tuple[Path, Path]:
    """A trust config whose Rekor v1 log is served under its own URL, and the trusted root of
    that deployment without the v1 log's key (a policy root that does not hold it)."""
    config = json.loads(local.trust_config.read_text())
    v1 = f"{local.url}/rekor-v1"
    for service in config["signingConfig"]["rekorTlogUrls"]:
        if service["majorApiVersion"] == 1:
            service["url"] = v1
    tlogs: list[dict[str, Any]] = config["trustedRoot"]["tlogs"]
    [v1_log] = [t for t in tlogs if t["logId"]["keyId"] == _v1_log(local)]
    v1_log["baseUrl"] = v1
    path = directory / "v1-elsewhere.json"
    path.write_text(json.dumps(config))
    root = dict(config["trustedRoot"], tlogs=[t for t in tlogs if t is not v1_log])
    root_path = directory / "root-without-v1.json"
    root_path.write_text(json.dumps(root))
    return path, root_path


def test_release_checks_that_the_policy_root_holds_the_rekor_v1_key(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """The attestations are logged in the v1 log: a policy root without its key would refuse
    them (the check used to ask only for the key of the log the signatures go to)."""
    config, root = _v1_elsewhere(rekor2_instance, tmp_path)
    policy = _unscanned(tmp_path, rekor2_instance)
    data = yaml.safe_load(policy.read_text())
    data["trust"]["trusted_root"] = str(root)
    policy.write_text(yaml.safe_dump(data))
    logged = log_sizes(rekor2_instance)
    result = _release(invoke, rekor2_instance, project, policy, "--waivers",
                      str(_waivers(tmp_path)), config=config)  # fmt: skip
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "release stopped at checks: " in result.stderr
    assert "it does not hold the key of every transparency log it writes to" in result.stderr
    assert log_sizes(rekor2_instance) == logged
