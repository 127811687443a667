"""The example workflows, run as written under nektos/act (tests/actions/emulator.py): the demo
project's release (examples/workflows/release.yml, on a tag) builds, describes, scans, signs
and attests, and uploads the release to act's artifact server; then its deploy
(examples/workflows/deploy.yml) downloads that artifact, lets the gate decide under
examples/policies/github-release.yaml (on the local instance's root), uploads the decision log
and deploys. One release run and one deploy run per module; each test checks what they left."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from tests.actions import emulator
from tests.actions.test_workflows import ACT_TIMEOUT
from tests.conftest import REPO, LocalInstance

REPOSITORY = "acme/acme-web"
TAG = "refs/tags/v1.4.0"
EXAMPLES = REPO / "examples" / "workflows"
RELEASE, DEPLOY = ".github/workflows/release.yml", ".github/workflows/deploy.yml"
WHEEL, SDIST = "acme_web-1.4.0-py3-none-any.whl", "acme_web-1.4.0.tar.gz"


@pytest.fixture(scope="module")
def example_runs(
    instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory
) -> tuple[emulator.Emulated, emulator.Emulated]:
    base = tmp_path_factory.mktemp("examples")
    trust = {"trust-config": str(instance.trust_config)}
    release = emulator.offline(
        EXAMPLES / "release.yml",
        {
            "scan": {"db": "examples/advisories", "now": "2026-07-15T00:00:00Z",
                     "waivers": "tests/actions/waivers.yaml"},
            "sign": trust,
            "provenance": trust,
        },
        keep="dist release",
    )  # fmt: skip
    policy = emulator.policy(
        REPO / "examples" / "policies" / "github-release.yaml", base / "policy.yaml", instance
    )
    deploy = emulator.offline(
        EXAMPLES / "deploy.yml", {"gate": {"policy": str(policy)}}, keep="incoming decisions"
    )
    files = emulator.tracked(
        "pyproject.toml", "README.md", "requirements", "attest", "verify", "actions",
        "examples/demo-project", "examples/advisories", "tests/actions/waivers.yaml",
    )  # fmt: skip
    act = emulator.emulator(base, instance, REPOSITORY)
    emulator.repository(act.repo, files, {RELEASE: release, DEPLOY: deploy}, REPOSITORY)
    released = act.run(RELEASE, "push", {"ref": TAG}, TAG)
    assert released.code == 0, released.log[-6000:]
    dispatch = {"ref": "refs/heads/main", "inputs": {"release-run": emulator.RUN_ID}}
    return released, act.run(DEPLOY, "workflow_dispatch", dispatch, "refs/heads/main")


def test_the_release_workflow_runs_every_step(
    example_runs: tuple[emulator.Emulated, emulator.Emulated],
) -> None:
    released, _ = example_runs
    assert "🏁  Job succeeded" in released.log and released.seconds < ACT_TIMEOUT
    for step in ("SBOM", "Scan against the SLO policy", "Sign", "Upload the release"):
        assert f"✅  Success - Main {step}" in released.log, step
    assert {p.name for p in (released.workspace / "dist").iterdir()} >= {
        WHEEL, SDIST, f"{WHEEL}.sigstore.json", "acme_web-1.4.0.provenance.sigstore.json"
    }  # fmt: skip


def test_the_release_is_uploaded_as_built(
    example_runs: tuple[emulator.Emulated, emulator.Emulated],
) -> None:
    released, _ = example_runs
    uploaded = released.artifact("release")
    dist = released.workspace / "dist"
    assert uploaded[f"dist/{WHEEL}"] == (dist / WHEEL).read_bytes()
    assert f"dist/{SDIST}.sigstore.json" in uploaded
    assert {"release/sbom.cdx.json", "release/scan.json", "release/scan.sarif"} <= set(uploaded)


def test_the_deploy_workflow_allows_and_deploys_the_release(
    example_runs: tuple[emulator.Emulated, emulator.Emulated],
) -> None:
    released, deployed = example_runs
    assert deployed.code == 0, deployed.log[-6000:]
    assert "🏁  Job succeeded" in deployed.log and deployed.seconds < ACT_TIMEOUT
    wheel = (released.workspace / "dist" / WHEEL).read_bytes()
    assert (deployed.workspace / "incoming" / "dist" / WHEEL).read_bytes() == wheel
    digest = hashlib.sha256(wheel).hexdigest()
    assert f"deploying incoming/dist/{WHEEL} (sha256 {digest})" in deployed.log
    assert "gate: allow" in deployed.log


def test_the_deploy_workflow_uploads_the_decision_log(
    example_runs: tuple[emulator.Emulated, emulator.Emulated],
) -> None:
    _, deployed = example_runs
    uploaded = deployed.artifact("decision-log")
    assert list(uploaded) == ["deploy.jsonl"]
    assert (
        uploaded["deploy.jsonl"] == (deployed.workspace / "decisions" / "deploy.jsonl").read_bytes()
    )
    entries = [json.loads(line) for line in uploaded["deploy.jsonl"].decode().splitlines()]
    assert len(entries) == 2, entries  # the wheel and the sdist, each judged once
    assert "✅  Success - Main Keep the decision log, whatever the gate decided" in deployed.log


def test_no_token_reaches_the_logs(
    example_runs: tuple[emulator.Emulated, emulator.Emulated],
) -> None:
    released, deployed = example_runs
    assert released.minted and not deployed.minted  # only the release job may sign
    for secret in released.minted:
        assert secret not in released.log and secret not in deployed.log


def test_the_examples_run_here_are_the_files_themselves() -> None:
    """offline() adds inputs and a last step; the steps the examples list all stay, in order."""
    for name in ("release.yml", "deploy.yml"):
        source = EXAMPLES / name
        emulated = emulator.offline(source, {}, keep="dist")
        steps = [s.get("name", s.get("uses")) for s in _steps(emulated)]
        assert steps[:-1] == [s.get("name", s.get("uses")) for s in _steps(source.read_text())]


def _steps(text: str) -> list[dict[str, str]]:
    data = yaml.safe_load(text)
    return [step for job in data["jobs"].values() for step in job["steps"]]
