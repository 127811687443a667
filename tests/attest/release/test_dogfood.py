"""Dogfood: attest's own release pipeline on attest's own wheel, against the local instance and
the real PyPA advisory database; the gate must allow it. The instance's clock starts at the
scan's time, so the scan, the signatures and the gate's self-check all happen that day."""

from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.instance import oidc
from tests.conftest import REPO, LocalInstance

DATABASE = (
    REPO.parent / "shared" / "data" / "advisory-db" / "pypa-advisory-database-2026-07-23.tar.gz"
)
NOW = "2026-07-24T00:00:00Z"  # the day after the database snapshot: fresh, so not stale


@pytest.fixture
def scan_day_instance(fresh_instance: Callable[..., LocalInstance]) -> LocalInstance:
    """An instance whose clock starts at NOW: it signs on the scan's day."""
    return fresh_instance(datetime.datetime(2026, 7, 24, tzinfo=datetime.timezone.utc))


def test_attest_releases_itself(
    invoke: Callable[..., Result], scan_day_instance: LocalInstance, tmp_path: Path
) -> None:
    instance = scan_day_instance
    if not DATABASE.is_file():
        pytest.skip(f"the shared PyPA advisory database is absent ({DATABASE}); CI has it")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
        cwd=REPO, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = dist.glob("attest_pipeline-*.whl")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        f"trust:\n  trusted_root: {instance.trusted_root}\n  allow_development_root: true\n"
        f"identities:\n  - issuer: {instance.issuer}\n"
        "    github:\n      repository: attest-pipeline/attest\n"
        "require:\n  signature: true\n"
        "  provenance:\n    build_type: https://attest-pipeline.github.io/buildtypes/local/v1\n"
        "  sbom: {}\n  vulnerabilities:\n    slo: true\n"
    )
    claims = oidc.github_claims("attest-pipeline/attest", ref="refs/tags/v0.1.0")
    state = instance.state
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    result = invoke(
        "release", str(wheel), "--project", str(REPO), "--policy", str(policy),
        "--requirements", str(REPO / "requirements" / "dev.lock"),
        "--db", str(DATABASE), "--cache-dir", str(tmp_path / "cache"), "--now", NOW,
        "--out", str(tmp_path / "out"), "--trust-config", str(instance.trust_config),
        "--identity-token", token, *(["--allow-dirty"] if dirty else []),
        env={"CI": "true"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"ALLOW 1 artifact(s) under {policy}, judged at the signing time 2026-07-24T" in (
        result.stderr
    )
    assert (dist / f"{wheel.name}.sigstore.json").is_file()
    assert (dist / f"{wheel.name}.provenance.sigstore.json").is_file()
