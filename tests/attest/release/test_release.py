"""`attest release`: the whole pipeline on the example project against the local instance,
ending with the gate's verdict; a failing stage stops the rest and says which and why."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.release.stage import signed_at
from tests.conftest import JULY, REPO, LocalInstance
from verify.errors import ExitCode

NOW = "2026-07-15T00:00:00Z"  # the example advisory set is fresh then (see examples/demo_scan.sh)
# The tests that sign use `july_instance`, whose clock starts at NOW: the scan, the signatures
# and the gate's self-check (at the signing time) all happen in July, as in the demo.
WAIVERS = """waivers:
  - id: PYSEC-2026-2151
    package: flask
    reason: "Every response sets Cache-Control: private; the upgrade is under way."
    expires: 2026-08-14
  - id: CVE-2026-25645
    package: requests
    reason: "extract_zipped_paths() is never called."
    expires: 2026-08-14
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The example project as a clean git checkout with a built wheel and sdist."""
    root = tmp_path / "acme-web"
    shutil.copytree(REPO / "examples" / "demo-project", root,
                    ignore=shutil.ignore_patterns(".venv", "dist"))  # fmt: skip
    (root / ".gitignore").write_text("dist/\n")
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}  # fmt: skip
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    dist = root / "dist"
    dist.mkdir()
    (dist / "acme_web-1.4.0-py3-none-any.whl").write_bytes(b"wheel bytes\n")
    (dist / "acme_web-1.4.0.tar.gz").write_bytes(b"sdist bytes\n")
    return root


def _policy(tmp_path: Path, instance: LocalInstance, repository: str = "acme/acme-web") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        f"trust:\n  trusted_root: {instance.trusted_root}\n  allow_development_root: true\n"
        f"identities:\n  - issuer: {instance.issuer}\n    github:\n      repository: {repository}\n"
        "require:\n  signature: true\n  provenance: {}\n  sbom: {}\n"
        "  vulnerabilities:\n    slo: true\n"
    )
    return path


def _release(invoke: Callable[..., Result], instance: LocalInstance, project: Path,
             policy: Path, *extra: str) -> Result:  # fmt: skip
    state = instance.state
    from attest.instance import oidc

    claims = oidc.github_claims("acme/acme-web")
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    return invoke(
        "release", "--project", str(project), "--policy", str(policy),
        "--db", str(REPO / "examples" / "advisories"), "--cache-dir", str(project.parent / "cache"),
        "--now", NOW, "--out", str(project.parent / "out"),
        "--trust-config", str(instance.trust_config), "--identity-token", token, *extra,
        env={"CI": "true"},
    )  # fmt: skip


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_release_runs_every_stage_and_the_gate_allows(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    result = _release(invoke, july_instance, project, _policy(tmp_path, july_instance),
                      "--waivers", str(waivers))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = result.stderr.split("stage ", 1)[1]
    for stage in ("sbom", "scan", "sign", "provenance", "attestations", "gate"):
        assert f"\n{stage}" in table and "failed" not in table
    assert "ALLOW 2 artifact(s)" in result.stderr
    dist = project / "dist"
    names = sorted(p.name for p in dist.iterdir())
    assert "acme_web-1.4.0.provenance.sigstore.json" in names
    assert "acme_web-1.4.0.slo.sigstore.json" in names
    assert "acme_web-1.4.0.tar.gz.sigstore.json" in names
    report = json.loads((tmp_path / "out" / "scan.json").read_text())
    assert report["summary"]["by_status"]["waived"] == 2
    # the times agree: scanned at NOW, signed just after on the instance's clock, and the
    # self-check judged at the signing time (the newest bundle's), not at --now
    signed = [signed_at(p) for p in dist.glob("*.sigstore.json")]
    assert len(signed) == 6 and all(JULY <= t < JULY + datetime.timedelta(days=1) for t in signed)
    assert f"judged at the signing time {_stamp(max(signed))}" in result.stderr


def test_release_self_check_judges_at_the_signing_time_not_at_now(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """Signed today (the real clock) after a scan at --now in July: the gate judges the release
    today, when its waivers have expired, not in July when they held."""
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    result = _release(invoke, instance, project, _policy(tmp_path, instance),
                      "--waivers", str(waivers))  # fmt: skip
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "scan          ok" in result.stderr  # the scan judged at --now: waivers held
    wheel = "acme_web-1.4.0-py3-none-any.whl"
    assert f"release stopped at gate: the gate denies {wheel}: vulnerability SLOs" in result.stderr
    signed = max(signed_at(p) for p in (project / "dist").glob("*.sigstore.json"))
    assert signed > datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    assert f"(judged at the signing time {_stamp(signed)})" in result.stderr


def test_release_stops_at_the_first_failed_stage(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    result = _release(invoke, instance, project, _policy(tmp_path, instance))
    assert result.exit_code == ExitCode.DENIED  # two findings overdue without the waivers
    assert "release stopped at scan: 2 findings overdue under the SLO policy" in result.stderr
    assert "sign          skipped" in result.stderr
    assert not list((project / "dist").glob("*.sigstore.json"))  # nothing signed


def test_release_gate_denies_out_of_policy(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    policy = _policy(tmp_path, july_instance, repository="someone-else/acme-web")
    result = _release(invoke, july_instance, project, policy, "--waivers", str(waivers))
    assert result.exit_code == ExitCode.DENIED
    assert (
        "release stopped at gate: the gate denies acme_web-1.4.0-py3-none-any.whl: bundles verify, "
        "signature, signer identity" in result.stderr
    )


def test_release_without_artifacts(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    result = invoke(
        "release", "--project", str(tmp_path), "--policy", str(_policy(tmp_path, instance))
    )
    assert result.exit_code == ExitCode.USAGE
    assert "no artifacts: build them first" in result.stderr


def test_progress_is_live_for_a_person_and_plain_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from attest.release import command
    from attest.release.stage import StageResult

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    for variable in ("CI", "NO_COLOR"):
        monkeypatch.delenv(variable, raising=False)
    assert command.fancy()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not command.fancy()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("CI", "true")
    assert not command.fancy()

    shown = io.StringIO()
    progress = command.RichProgress()
    progress._console.file = shown  # what a terminal would show
    progress(StageResult("sbom", "ok", 0.12, "12 components"))
    progress(StageResult("scan", "failed", 0.05, "2 findings overdue"))
    progress.stop()
    text = shown.getvalue()
    assert "sbom" in text and "12 components" in text and "2 findings overdue" in text
    assert "✔" in text and "✘" in text
