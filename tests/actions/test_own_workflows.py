"""attest's own workflows: .github/workflows/release.yml, run as written under nektos/act
(tests/actions/emulator.py) on a tag of a throwaway copy of this checkout: it builds attest's
wheel and sdist, releases them with the top-level action.yml (`uses: ./`), lets the gate decide
under .github/attest-policy.yaml (on the local instance's root) and uploads everything. One act
run per module. The CI workflow runs the whole suite, so it is planned by act (a dry run), not
run inside itself."""

from __future__ import annotations

import json
import subprocess

import pytest

import verify
from tests.actions import emulator
from tests.actions.test_workflows import ACT, ACT_TIMEOUT
from tests.conftest import REPO, LocalInstance

REPOSITORY = "attest-pipeline/attest"
TAG = f"refs/tags/v{verify.__version__}"
WORKFLOWS = REPO / ".github" / "workflows"
RELEASE = ".github/workflows/release.yml"
NAME = f"attest_pipeline-{verify.__version__}"


@pytest.fixture(scope="module")
def own_release(
    instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory
) -> emulator.Emulated:
    base = tmp_path_factory.mktemp("own")
    policy = emulator.policy(
        REPO / ".github" / "attest-policy.yaml", base / "policy.yaml", instance
    )
    release = emulator.offline(
        WORKFLOWS / "release.yml",
        {
            "release": {"trust-config": str(instance.trust_config), "policy": str(policy),
                        "db": "examples/advisories", "now": "2026-07-15T00:00:00Z"},
            "gate": {"policy": str(policy)},
        },
        keep="dist release",
    )  # fmt: skip
    act = emulator.emulator(base, instance, REPOSITORY)
    emulator.repository(act.repo, emulator.tracked(), {RELEASE: release}, REPOSITORY)
    return act.run(RELEASE, "push", {"ref": TAG}, TAG)


def test_attest_releases_itself(own_release: emulator.Emulated) -> None:
    assert own_release.code == 0, own_release.log[-6000:]
    assert "🏁  Job succeeded" in own_release.log and own_release.seconds < ACT_TIMEOUT
    dist = {p.name for p in (own_release.workspace / "dist").iterdir()}
    assert {f"{NAME}-py3-none-any.whl", f"{NAME}.tar.gz"} <= dist
    assert f"{NAME}-py3-none-any.whl.sigstore.json" in dist
    assert {f"{NAME}.provenance.sigstore.json", f"{NAME}.sbom.sigstore.json"} <= dist
    # the top-level action installed attest, then ran attest release to its gate's self-check
    assert "✅  Success - Main SBOM, scan, sign, provenance and attestations" in own_release.log
    assert "ALLOW 2 artifact(s)" in own_release.log


def test_the_gate_allows_attest_and_the_log_is_uploaded(own_release: emulator.Emulated) -> None:
    report = json.loads((own_release.workspace / "release" / "gate.json").read_text())
    assert report["allowed"] is True and len(report["decisions"]) == 2
    uploaded = own_release.artifact("release")
    log = uploaded["release/decisions.jsonl"].decode().splitlines()
    assert len(log) == 2
    assert f"dist/{NAME}-py3-none-any.whl.sigstore.json" in uploaded
    assert {"release/sbom.cdx.json", "release/scan.json"} <= set(uploaded)
    for secret in own_release.minted:
        assert secret not in own_release.log


def test_ci_runs_the_test_command_on_pull_requests() -> None:
    """act plans the CI workflow for a pull request: one job, whose step is .ci/run."""
    done = subprocess.run(
        [str(ACT), "pull_request", "--list", "-W", str(WORKFLOWS / "ci.yml")],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "make test" in done.stdout and "pull_request" in done.stdout
    ci = (WORKFLOWS / "ci.yml").read_text()
    assert "run: bash .ci/run" in ci
    assert "make test" in (REPO / ".ci" / "run").read_text()
