"""`attest release`: the whole pipeline on the example project against the local instance,
ending with the gate's verdict; a failing stage stops the rest and says which and why; what
can refuse the release does so before the transparency log holds anything of it; one
certificate signs the whole release."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from sigstore.models import Bundle

from attest.release.stage import signed_at
from attest.sign import session
from tests.attest.sign.helpers import production_trust_config
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
             policy: Path, *extra: str, config: Path | None = None,
             env: dict[str, str] | None = None) -> Result:  # fmt: skip
    state = instance.state
    from attest.instance import oidc

    claims = oidc.github_claims("acme/acme-web")
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    return invoke(
        "release", "--project", str(project), "--policy", str(policy),
        "--db", str(REPO / "examples" / "advisories"), "--cache-dir", str(project.parent / "cache"),
        "--now", NOW, "--out", str(project.parent / "out"),
        "--trust-config", str(config or instance.trust_config), "--identity-token", token, *extra,
        env=env or {"CI": "true"},
    )  # fmt: skip


def _log_size(instance: LocalInstance) -> int:
    """The instance's transparency log size, as its Rekor API says it."""
    answer = requests.get(f"{instance.url}/api/v1/log", timeout=10)
    answer.raise_for_status()
    size: int = answer.json()["treeSize"]
    return size


def _leaf(bundle: Path) -> bytes:
    certificate = Bundle.from_json(bundle.read_bytes()).signing_certificate
    return certificate.public_bytes(serialization.Encoding.DER)


def _waivers(directory: Path) -> Path:
    """Waivers under which the scan at NOW passes: what follows it would be signed."""
    path = directory / "waivers.yaml"
    path.write_text(WAIVERS)
    return path


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_release_runs_every_stage_and_the_gate_allows(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    before = _log_size(july_instance)
    result = _release(invoke, july_instance, project, _policy(tmp_path, july_instance),
                      "--waivers", str(waivers))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"attest: signing against local instance {july_instance.url}")
    table = result.stderr.split("stage ", 1)[1]
    for stage in ("checks", "sbom", "scan", "sign", "provenance", "attestations", "gate"):
        assert f"\n{stage}" in table and "failed" not in table
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    assert f"clean tree at {commit[:12]}; " in result.stderr
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
    # one signing session: the six bundles (two artifacts, provenance, three attestations)
    # and the two PEP 740 attestations, eight log entries, one leaf certificate (one request)
    assert _log_size(july_instance) == before + 8
    assert len({_leaf(p) for p in dist.glob("*.sigstore.json")}) == 1


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
    """A scan over the SLO policy is refused before anything is signed."""
    before = _log_size(instance)
    result = _release(invoke, instance, project, _policy(tmp_path, instance))
    assert result.exit_code == ExitCode.DENIED  # two findings overdue without the waivers
    assert "release stopped at scan: 2 findings overdue under the SLO policy" in result.stderr
    assert "sign          skipped" in result.stderr
    assert not list((project / "dist").glob("*.sigstore.json"))  # nothing signed
    assert _log_size(instance) == before


def test_release_refuses_an_out_of_policy_identity_before_signing(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """The signer the token would get is judged by the gate's policy before the CA is asked
    (the gate used to refuse it last, after six entries were in the log)."""
    policy = _policy(tmp_path, instance, repository="someone-else/acme-web")
    before = _log_size(instance)
    result = _release(invoke, instance, project, policy, "--waivers", str(_waivers(tmp_path)))
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert (
        f"release stopped at checks: {policy} does not allow the signer the identity token "
        "would get, 'https://github.com/acme/acme-web/.github/workflows/release.yml@refs/heads/"
        "main' (issuer " in result.stderr
    )
    assert "does not match the pattern" in result.stderr and "nothing was signed" in result.stderr
    assert "sbom          skipped" in result.stderr
    assert _log_size(instance) == before
    assert not list((project / "dist").glob("*.sigstore.json"))


def test_release_refuses_a_dirty_tree_before_signing(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """A tree with changes is refused first (it used to be found at provenance, after the
    artifacts were signed)."""
    (project / "notes.txt").write_text("not committed\n", encoding="utf-8")
    before = _log_size(instance)
    result = _release(invoke, instance, project, _policy(tmp_path, instance),
                      "--waivers", str(_waivers(tmp_path)))  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert re.search(
        r"release stopped at checks: the working tree at \S+ has changes \(notes\.txt\): "
        r"commit them, or pass --allow-dirty",
        result.stderr,
    )
    assert _log_size(instance) == before
    assert not list((project / "dist").glob("*.sigstore.json"))


def test_release_refuses_an_sbom_input_outside_the_commit_before_signing(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """A git-ignored lock file is no change to git, yet the SBOM would describe a file that is
    not in the commit the provenance names as a clean tree: refused before anything."""
    lock = project / "uv.lock"  # the first lock file release looks for
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"}  # fmt: skip
    (project / ".gitignore").write_text(f"dist/\n{lock.name}\n")
    for args in (["rm", "-q", "--cached", lock.name], ["commit", "-qam", "ignore the lock"]):
        subprocess.run(["git", *args], cwd=project, env=env, check=True)
    before = _log_size(instance)
    result = _release(invoke, instance, project, _policy(tmp_path, instance),
                      "--waivers", str(_waivers(tmp_path)))  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert (
        f"release stopped at checks: {lock}: the SBOM's input is not tracked by git (ignored or "
        "untracked), so it is not in the commit the provenance names: commit it, or pass "
        "--allow-dirty" in " ".join(result.stderr.split())
    )
    assert _log_size(instance) == before


def _old_root(instance: LocalInstance, directory: Path) -> Path:
    """The instance's trusted root with every validity starting in 2020: last updated then."""
    root = json.loads(instance.trusted_root.read_text())
    for entry in [*root["certificateAuthorities"], *root["tlogs"], *root["ctlogs"],
                  *root["timestampAuthorities"]]:  # fmt: skip
        period = entry.get("validFor") or entry["publicKey"]["validFor"]
        period["start"] = "2020-01-01T00:00:00Z"
    path = directory / "old_root.json"
    path.write_text(json.dumps(root))
    return path


def test_release_refuses_a_trust_root_the_gate_would_refuse_before_signing(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    other_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
) -> None:
    before = _log_size(instance)
    policy = _policy(tmp_path, instance).read_text()
    stale = policy.replace(str(instance.trusted_root), str(_old_root(instance, tmp_path)))
    (tmp_path / "stale.yaml").write_text(f"{stale}max_trust_root_age: 30d\n")
    waivers = "--waivers", str(_waivers(tmp_path))
    result = _release(invoke, instance, project, tmp_path / "stale.yaml", *waivers)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "its trust root would refuse the release: the trust root is " in result.stderr
    assert (
        "days old (current as of 2020-01-01T00:00:00+00:00), older than the policy's "
        "max_trust_root_age (30d)"
    ) in result.stderr
    # a policy that trusts another instance than the one the release signs against
    result = _release(invoke, instance, project, _policy(tmp_path, other_instance), *waivers)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert (
        "its trust root would refuse the release: it does not hold the CA, the key of every "
        "transparency log it writes to, a CT log key, every timestamp authority's certificate "
        f"chain of local instance {instance.url}, which the release signs with; nothing was signed"
    ) in result.stderr
    assert _log_size(instance) == before


def test_release_refuses_a_trust_root_without_its_timestamp_authority_before_signing(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    other_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
) -> None:
    """The instance announces a TSA, so every bundle carries its timestamp: a policy's root
    without that TSA (none, or another instance's) would refuse them all at the gate."""
    before = _log_size(instance)
    other = json.loads(other_instance.trusted_root.read_text())["timestampAuthorities"]
    for authorities in ([], other):
        root = json.loads(instance.trusted_root.read_text())
        root["timestampAuthorities"] = authorities
        (tmp_path / "root.json").write_text(json.dumps(root))
        policy = _policy(tmp_path, instance).read_text()
        (tmp_path / "tsa.yaml").write_text(
            policy.replace(str(instance.trusted_root), str(tmp_path / "root.json"))
        )
        result = _release(invoke, instance, project, tmp_path / "tsa.yaml")
        assert result.exit_code == ExitCode.DENIED, result.stderr
        assert (
            "its trust root would refuse the release: it does not hold every timestamp "
            f"authority's certificate chain of local instance {instance.url}, which the release "
            "signs with; nothing was signed"
        ) in " ".join(result.stderr.split())
    assert _log_size(instance) == before


QUESTION = "record these signatures in Sigstore's public transparency log? [y/N]"


@pytest.mark.parametrize(
    ("extra", "env", "asked"),
    [((), {"CI": ""}, True), (("--yes",), {"CI": ""}, False), ((), {"CI": "1"}, False)],
)
def test_release_asks_before_sigstore_production_at_a_terminal(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: tuple[str, ...],
    env: dict[str, str],
    asked: bool,
) -> None:
    """A person at a terminal (injected) is asked, and "n" stops the release before anything
    else; --yes or CI go on unasked, to the checks (which refuse this policy's root: no test
    reaches the public instance)."""
    monkeypatch.setattr(session, "_terminal", lambda: True)
    config = production_trust_config(tmp_path)
    result = _release(invoke, instance, project, _policy(tmp_path, instance), *extra,
                      config=config, env=env)  # fmt: skip
    assert result.stderr.startswith("attest: signing against Sigstore production (public:")
    assert (QUESTION in result.stderr) == asked
    if asked:  # CliRunner's stdin is empty: no answer is no
        assert result.exit_code == ExitCode.USAGE
        assert "signing against Sigstore production was not confirmed" in result.stderr
        assert "stage " not in result.stderr  # not even the checks ran
    else:
        assert result.exit_code == ExitCode.DENIED
        assert "release stopped at checks: " in result.stderr
        assert (
            "does not hold the CA, the key of every transparency log it writes to, a CT log "
            "key, every timestamp authority's certificate chain of Sigstore production"
            in " ".join(result.stderr.split())
        )
    assert not list((project / "dist").glob("*.sigstore.json"))


def test_release_without_artifacts(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    result = invoke(
        "release", "--project", str(tmp_path), "--policy", str(_policy(tmp_path, instance))
    )
    assert result.exit_code == ExitCode.USAGE
    assert (
        f"attest: error: no wheel or sdist in {tmp_path / 'dist'} (it holds nothing): build "
        "them first (e.g. python -m build) or name the artifacts"
    ) in result.stderr


def test_progress_is_live_for_a_person_and_plain_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from attest.release import command
    from attest.release.stage import StageResult

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    for variable in ("CI", "NO_COLOR"):
        monkeypatch.delenv(variable, raising=False)
    assert command.fancy()
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


def _colours(text: str) -> set[int]:
    """The SGR colour parameters (30-49 and 90-107: fore- and background) in terminal output."""
    found = set()
    for parameters in re.findall(r"\x1b\[([0-9;]*)m", text):
        found |= {int(p) for p in parameters.split(";") if p}
    return {p for p in found if 30 <= p <= 49 or 90 <= p <= 107}


def test_no_color_keeps_the_live_progress_without_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR takes the colours away, not the display (it used to switch to plain lines)."""
    import io

    from attest.release import command
    from attest.release.stage import StageResult

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich writes to the StringIO as to a terminal
    texts = {}
    for no_color in ("", "1"):
        monkeypatch.setenv("NO_COLOR", no_color)
        assert command.fancy()
        progress = command.RichProgress()
        progress._console.file = shown = io.StringIO()
        progress(StageResult("checks", "ok", 0.01, "clean tree"))
        progress(StageResult("scan", "failed", 0.05, "2 findings overdue"))
        progress.stop()
        texts[no_color] = shown.getvalue()
    assert _colours(texts[""])  # the control: colours without NO_COLOR
    assert not _colours(texts["1"])
    for stage in command.STAGES:
        assert stage in texts["1"]
    assert "2 findings overdue" in texts["1"] and "✔" in texts["1"] and "✘" in texts["1"]


# Every key of the gate policy that could refuse the release after signing (docs/policy.md),
# each added to the policy the release otherwise meets: refused before the log holds anything,
# naming why, or signed and allowed. (The identity keys, the trust root and the git state have
# their own tests above.) `None`: the release is allowed.
KEYS: list[tuple[str, str, str | None]] = [
    ("build_link", "require:\n  build_link: {}\n", "attest release records no build link"),
    ("k_of_n", "k_of_n: 2\n", "1 distinct allowed signer(s), the policy needs 2"),
    (
        "publish",
        "require:\n  publish:\n    repository: acme/acme-web\n"
        "    workflow: release.yml\n    issuer: {issuer}\n",
        None,
    ),
    (
        "publish by another workflow",
        "require:\n  publish:\n    repository: acme/acme-web\n"
        "    workflow: publish.yml\n    issuer: {issuer}\n",
        "publish attestation (no publish attestation by the publishing workflow)",
    ),
    (
        "provenance.builder_id",
        "require:\n  provenance:\n    builder_id: https://ci.example/b\n",
        "provenance (acme_web-1.4.0.provenance.sigstore.json: builder id",
    ),
    (
        "provenance.build_type",
        "require:\n  provenance:\n    build_type: https://x.example/t\n",
        "build type",
    ),
    (
        "provenance.source_repository",
        "require:\n  provenance:\n    source_repository: x\n",
        "source repository",
    ),
    ("sbom.denied_packages", "require:\n  sbom:\n    denied_packages: [flask]\n", "flask"),
    ("sbom.denied_licenses", "require:\n  sbom:\n    denied_licenses: [MIT]\n", None),
    (
        "vulnerabilities.waiver_approvers",
        "require:\n  vulnerabilities:\n    slo: true\n"
        "    waiver_approvers: [security@acme.example]\n",
        "vulnerability SLOs",
    ),
    ("vulnerabilities.windows", "require:\n  vulnerabilities:\n    windows: {high: 365}\n", None),
    ("vulnerabilities.max_scan_age", "require:\n  vulnerabilities:\n    max_scan_age: 1d\n", None),
    (
        "vulnerabilities.max_scan_age shorter than a release",
        "require:\n  vulnerabilities:\n    max_scan_age: 1m\n",
        "is from 2026-07-15T00:00:00+00:00, older than 1m); ",
    ),
    ("max_attestation_age", "require:\n  max_attestation_age: 1d\n", None),
    ("max_trust_root_age", "max_trust_root_age: 30d\n", None),
    ("unknown_predicates", "unknown_predicates: ignore\n", None),
    ("mode", "mode: audit\n", None),
]


def _with(policy: Path, addition: str, issuer: str) -> Path:
    """The policy with the keys of `addition` (YAML) set, those under `require` merged."""
    data = yaml.safe_load(policy.read_text())
    added = yaml.safe_load(addition.replace("{issuer}", issuer))
    data["require"].update(added.pop("require", {}))
    data.update(added)
    path = policy.with_name("keyed.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("key", "addition", "refusal"), KEYS, ids=[k[0] for k in KEYS])
def test_each_policy_key_is_refused_before_signing_or_allowed(
    invoke: Callable[..., Result],
    july_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    key: str,
    addition: str,
    refusal: str | None,
) -> None:
    """A release never signs what its gate refuses for a reason of the policy: the gate's
    checks judge the statements about to be signed first (they used to run last, after six
    log entries)."""
    policy = _with(_policy(tmp_path, july_instance), addition, july_instance.issuer)
    before = _log_size(july_instance)
    result = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)))
    if refusal is None:
        assert result.exit_code == 0, result.stderr
        assert "ALLOW 2 artifact(s)" in result.stderr
        assert _log_size(july_instance) > before
        return
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert (
        f"release stopped at policy: {policy}: the gate would deny the release once signed: "
    ) in result.stderr
    assert refusal in result.stderr and "nothing was signed" in result.stderr
    assert "sign          skipped" in result.stderr
    assert _log_size(july_instance) == before
    assert not list((project / "dist").glob("*.sigstore.json"))


def test_release_under_publish_writes_pep740_attestations(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """require.publish is met by construction: the release writes the PEP 740 attestations
    (by the release's one certificate) that the gate asks for."""
    policy = _with(_policy(tmp_path, july_instance), KEYS[2][1], july_instance.issuer)
    result = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)))
    assert result.exit_code == 0, result.stderr
    dist = project / "dist"
    assert sorted(p.name for p in dist.glob("*.publish.attestation")) == [
        "acme_web-1.4.0-py3-none-any.whl.publish.attestation",
        "acme_web-1.4.0.tar.gz.publish.attestation",
    ]


def test_release_writes_pep740_always_and_the_gate_reads_pypi_provenance(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """With no publish requirement the release still writes a PEP 740 attestation per wheel
    and sdist; pypi-attestations verifies each, and wraps it in the provenance object PyPI's
    Integrity API serves, which the gate reads as `<dist>.provenance`."""
    from pypi_attestations import (
        Attestation,
        AttestationBundle,
        Distribution,
        GitHubPublisher,
        Provenance,
        _impl,
    )  # fmt: skip
    from sigstore.verify.policy import Identity

    policy = _policy(tmp_path, july_instance)
    result = _release(invoke, july_instance, project, policy, "--waivers", str(_waivers(tmp_path)))
    assert result.exit_code == 0, result.stderr
    dist = project / "dist"
    made = sorted(dist.glob("*.publish.attestation"))
    assert [p.name for p in made] == [
        "acme_web-1.4.0-py3-none-any.whl.publish.attestation",
        "acme_web-1.4.0.tar.gz.publish.attestation",
    ]
    monkeypatch.setattr(
        _impl.Verifier, "production",
        classmethod(lambda cls, offline=False: july_instance.verifier()),
    )  # fmt: skip
    workflow = "https://github.com/acme/acme-web/.github/workflows/release.yml@refs/heads/main"
    for path in made:
        artifact = path.with_name(path.name.removesuffix(".publish.attestation"))
        attestation = Attestation.model_validate_json(path.read_bytes())
        identity = Identity(identity=workflow, issuer=july_instance.issuer)
        predicate, _ = attestation.verify(identity, Distribution.from_file(artifact))
        assert predicate == "https://docs.pypi.org/attestations/publish/v1"
        publisher = GitHubPublisher(repository="acme/acme-web", workflow="release.yml")
        bundle = AttestationBundle(publisher=publisher, attestations=[attestation])
        provenance = Provenance(attestation_bundles=[bundle])
        artifact.with_name(f"{artifact.name}.provenance").write_text(provenance.model_dump_json())
        path.unlink()
    publish = "require:\n  publish:\n    repository: acme/acme-web\n    workflow: release.yml\n"
    keyed = _with(policy, publish + "    issuer: {issuer}\n", july_instance.issuer)
    wheel, sdist = sorted(p for p in dist.iterdir() if p.suffix in (".whl", ".gz"))
    later = "2026-07-15T01:00:00Z"  # after the release signed, on the instance's clock
    verify = ("verify", "--policy", str(keyed), "--now", later, str(wheel), str(sdist))
    judged = invoke(*verify)
    assert judged.exit_code == 0, judged.stderr
    wheel.with_name(f"{wheel.name}.provenance").unlink()  # the provenance object was the evidence
    judged = invoke(*verify)
    assert judged.exit_code == ExitCode.DENIED
    assert "no publish attestation by the publishing workflow" in judged.stderr


def test_a_build_link_beside_the_artifacts_counts(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """The evidence already beside the artifacts is judged with the release's: a build link
    `attest build` made before meets require.build_link (and the release is allowed)."""
    policy = _with(_policy(tmp_path, july_instance), KEYS[0][1], july_instance.issuer)
    waivers = "--waivers", str(_waivers(tmp_path))
    refused = _release(invoke, july_instance, project, policy, *waivers)
    assert "attest release records no build link" in refused.stderr
    from attest.instance import oidc

    state = july_instance.state
    claims = oidc.github_claims("acme/acme-web")
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    dist = project / "dist"
    remade = "; ".join(f"cp {p} {p}.new && mv {p}.new {p}" for p in sorted(dist.iterdir()))
    built = invoke(
        "build", "--step", "package", "--trust-config", str(july_instance.trust_config),
        "--identity-token", token, "--product", str(dist),
        "--material", str(project / "pyproject.toml"), "--", "sh", "-c", remade,
        env={"CI": "true"},
    )  # fmt: skip
    assert built.exit_code == 0, built.stderr
    result = _release(invoke, july_instance, project, policy, *waivers)
    assert result.exit_code == 0, result.stderr


def test_quiet_release_says_only_where_it_signs_errors_and_the_verdict(
    invoke: Callable[..., Result],
    july_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """-q: no progress lines, no table, no live display even at a terminal; the verdict and
    the error stay."""
    from attest.release import command

    def no_display() -> None:
        raise AssertionError("the live display was started under -q")

    monkeypatch.setattr(command, "fancy", lambda: True)
    monkeypatch.setattr(command, "RichProgress", no_display)
    policy = _policy(tmp_path, july_instance)
    result = _release(invoke, july_instance, project, policy, "-q",
                      "--waivers", str(_waivers(tmp_path)))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("attest: signing against local instance")
    assert len(lines) == 2 and lines[1].startswith("attest: release: ALLOW 2 artifact(s)")
    refused = _release(invoke, july_instance, project, policy, "-q")  # no waivers: overdue
    assert refused.exit_code == ExitCode.DENIED
    assert refused.stderr.splitlines()[1:] == [
        "attest: error: release stopped at scan: 2 findings overdue under the SLO policy"
        + refused.stderr.split("under the SLO policy", 1)[1].splitlines()[0]
    ]


def _default_release(invoke: Callable[..., Result], instance: LocalInstance, project: Path,
                     tmp_path: Path) -> Result:  # fmt: skip
    """The release of dist/* (no artifacts named), under waivers it meets."""
    return _release(invoke, instance, project, _policy(tmp_path, instance),
                    "--waivers", str(_waivers(tmp_path)))  # fmt: skip


def test_release_of_dist_leaves_out_what_is_not_this_version(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """An old version's sdist, a SHA256SUMS and notes in dist/ are left out, and said (they
    used to be signed, then the release failed at provenance with "give --name", an option
    release does not have)."""
    dist = project / "dist"
    for stray in ("acme_web-1.3.0.tar.gz", "SHA256SUMS", "notes.txt"):
        (dist / stray).write_bytes(b"stray\n")
    result = _default_release(invoke, july_instance, project, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert (
        "left out of dist/ (not acme-web 1.4.0): SHA256SUMS, acme_web-1.3.0.tar.gz, notes.txt"
    ) in result.stderr
    assert "--name" not in result.stderr
    assert sorted(p.name for p in dist.glob("*.tar.gz.sigstore.json")) == [
        "acme_web-1.4.0.tar.gz.sigstore.json"
    ]


@pytest.mark.parametrize(
    ("layout", "named", "refusal"),
    [
        ("two versions, dynamic", (), "holds more than one release (acme-web 1.3.0; acme-web 1.4.0)"),
        ("nothing of it", (), "no wheel or sdist of acme-web 1.4.0 in "),
        ("two directories", ("dist/acme_web-1.4.0.tar.gz", "other/x-1.tar.gz"),
         "the artifacts are in 2 directories"),
        ("one name twice", ("dist/acme_web-1.4.0.tar.gz", "dist/../dist/acme_web-1.4.0.tar.gz"),
         "are the same file name"),
        ("same name elsewhere", ("dist/acme_web-1.4.0.tar.gz", "other/acme_web-1.4.0.tar.gz"),
         "the artifacts are in 2 directories"),
        ("not one release", ("dist/acme_web-1.4.0.tar.gz", "dist/notes.txt"),
         "are not the wheels and sdists of one name and version"),
        ("evidence", ("dist/x.sigstore.json",), "is a Sigstore bundle (evidence), not an artifact"),
    ],
)  # fmt: skip
def test_release_refuses_artifacts_it_cannot_release_before_anything(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    layout: str,
    named: tuple[str, ...],
    refusal: str,
) -> None:
    """A set the gate could not judge as one release is refused first, exit 2, naming the files
    (artifacts in two directories used to be signed, then denied: the gate reads the release's
    attestations beside the first artifact only)."""
    dist, other = project / "dist", project / "other"
    other.mkdir()
    (other / "acme_web-1.4.0.tar.gz").write_bytes(b"another\n")
    (other / "x-1.tar.gz").write_bytes(b"x\n")
    (dist / "notes.txt").write_text("notes\n")
    (dist / "x.sigstore.json").write_text("{}")
    if layout == "two versions, dynamic":
        pyproject = project / "pyproject.toml"
        pyproject.write_text(
            pyproject.read_text().replace('version = "1.4.0"', 'dynamic = ["version"]')
        )
        (dist / "acme_web-1.3.0.tar.gz").write_bytes(b"old\n")
    if layout == "nothing of it":
        for built in dist.glob("acme_web-*"):
            built.unlink()
    before = _log_size(instance)
    result = _release(invoke, instance, project, _policy(tmp_path, instance),
                      *(str(project / n) for n in named))  # fmt: skip
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert refusal in result.stderr
    assert "stage " not in result.stderr  # before the checks even started
    assert _log_size(instance) == before


def test_release_refuses_a_policy_root_without_the_instance_logs(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """The policy's root holds the release's CA but not the key of each transparency log it may
    write to, or not its CT log's: refused at the checks (it used to check the CA only, and the gate refused all)."""
    waivers = "--waivers", str(_waivers(tmp_path))
    before = _log_size(instance)
    tlog, ctlogs = "the key of every transparency log it writes to", "a CT log key"
    for swapped, said in (("tlogs", tlog), ("ctlogs", ctlogs)):
        root = json.loads(instance.trusted_root.read_text())
        other = "ctlogs" if swapped == "tlogs" else "tlogs"
        # one log key missing is enough: the instance's v1 and v2 logs share its URL, either
        # may log the release (any one key in common used to pass)
        for log in root[swapped][: 1 if swapped == "tlogs" else None]:
            log["publicKey"] = root[other][0]["publicKey"]
        path = tmp_path / f"no-{swapped}.json"
        path.write_text(json.dumps(root))
        policy = _policy(tmp_path, instance).read_text()
        (tmp_path / "p.yaml").write_text(policy.replace(str(instance.trusted_root), str(path)))
        result = _release(invoke, instance, project, tmp_path / "p.yaml", *waivers)
        assert result.exit_code == ExitCode.DENIED, result.stderr
        assert (
            f"release stopped at checks: {tmp_path / 'p.yaml'}: its trust root would refuse the "
            f"release: it does not hold {said} of local instance {instance.url}, which the "
            "release signs with; nothing was signed"
        ) in result.stderr
    assert _log_size(instance) == before


def test_an_old_bundle_by_another_signer_is_judged_before_signing(
    invoke: Callable[..., Result], instance: LocalInstance, project: Path, tmp_path: Path
) -> None:
    """A bundle already in dist/ that the gate would refuse (an attestation by a signer the
    policy does not allow) refuses the release before it signs, naming the file."""
    from attest.instance import oidc

    state = instance.state
    claims = oidc.github_claims("evil/evil")
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    wheel = project / "dist" / "acme_web-1.4.0-py3-none-any.whl"
    made = invoke("provenance", "--allow-dirty", "--trust-config", str(instance.trust_config),
                  "--identity-token", token, "--name", "old", str(wheel), env={"CI": "true"})  # fmt: skip
    assert made.exit_code == 0, made.stderr
    before = _log_size(instance)
    result = _default_release(invoke, instance, project, tmp_path)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "release stopped at policy: " in result.stderr
    assert "old.provenance.sigstore.json: attestation refused: signed by " in result.stderr
    assert _log_size(instance) == before


def test_an_artifact_changed_during_signing_is_refused_naming_it(
    invoke: Callable[..., Result],
    july_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hashed once at the checks: bytes changed before the signing are refused naming the file,
    nothing signed for it (they used to be signed, and the gate denied the release)."""
    from attest.release import stage

    sdist = project / "dist" / "acme_web-1.4.0.tar.gz"
    opened = stage.open_session

    def open_then_change(*args: object) -> object:
        sdist.write_bytes(b"other bytes\n")  # while the certificate is requested
        return opened(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "open_session", open_then_change)
    before = _log_size(july_instance)
    result = _default_release(invoke, july_instance, project, tmp_path)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"release stopped at sign: {sdist}: changed during the release (sha256 " in (
        result.stderr
    )
    assert not list((project / "dist").glob("*.sigstore.json"))
    # every artifact is hashed again once the certificate is there, before the first upload
    # (the wheel, signed in parallel, used to leave an entry)
    assert _log_size(july_instance) == before


def test_an_interrupt_while_an_artifact_is_logged_starts_no_other_upload(
    invoke: Callable[..., Result],
    july_instance: LocalInstance,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """^C (SIGINT to the release's process) while the sdist's entry is being made: the wheel,
    signed in parallel and not yet uploading, makes no entry, and the error says how many were
    made (a second entry used to follow the interrupt)."""
    from attest.sign.session import SigningSession
    from verify import forked

    release, real = os.getpid(), SigningSession.sign_file

    def upload(self: SigningSession, hashed: Any, what: Path) -> Bundle:
        if what.name.endswith(".tar.gz"):
            bundle = real(self, hashed, what)
            os.kill(release, signal.SIGINT)  # as ^C would, once the entry is made
            _until_stopped()  # the sdist's PEP 740 attestation comes after the interrupt
            return bundle
        _until_stopped()  # the wheel reaches its upload after the interrupt
        return real(self, hashed, what)

    def _until_stopped() -> None:
        deadline = time.monotonic() + 20
        while not forked.stopping() and time.monotonic() < deadline:
            time.sleep(0.01)

    monkeypatch.setattr(SigningSession, "sign_file", upload)
    before = _log_size(july_instance)
    result = _default_release(invoke, july_instance, project, tmp_path)
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert (
        "release stopped at sign: interrupted: 1 entry was logged for artifacts whose release "
        "is not finished; " in result.stderr
    )
    assert _log_size(july_instance) == before + 1
    assert not (project / "dist" / "acme_web-1.4.0-py3-none-any.whl.sigstore.json").exists()


def test_the_gate_step_reads_the_trust_root_read_at_the_checks(
    invoke: Callable[..., Result], july_instance: LocalInstance, project: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The policy's trust root is read once: replacing the file during the release changes
    nothing (the gate step used to read it again)."""
    from attest.release import stage

    root = tmp_path / "root.json"
    root.write_bytes(july_instance.trusted_root.read_bytes())
    policy = _policy(tmp_path, july_instance).read_text()
    (tmp_path / "p.yaml").write_text(policy.replace(str(july_instance.trusted_root), str(root)))
    signing = stage.sign

    def sign_then_swap(*args: object) -> object:
        root.write_text("{}")  # an unreadable root, if it were read again
        return signing(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "sign", sign_then_swap)
    result = _release(invoke, july_instance, project, tmp_path / "p.yaml",
                      "--waivers", str(_waivers(tmp_path)))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "ALLOW 2 artifact(s)" in result.stderr
