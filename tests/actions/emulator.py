"""Running a workflow file as written under nektos/act, offline: the workflow with a few inputs
added (an offline advisory set, a fixed clock, the local Sigstore instance's trust config, a
policy on its root), in a throwaway git repository, with act's artifact server on 127.0.0.1 and
the pinned actions/upload-artifact and actions/download-artifact replaced by stand-ins that use
the real actions' client library (tests/actions/artifact). Used by test_example_workflows.py and
test_own_workflows.py; test_workflows.py runs the per-stage test workflow the same way."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from attest.instance import oidc
from tests.actions.test_workflows import (
    ACT,
    REQUEST_TOKEN,
    _environment,
    _git,
    _run,
    token_endpoint,
)
from tests.conftest import REPO, LocalInstance

ARTIFACT = REPO / "tests" / "actions" / "artifact"
UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
DOWNLOAD = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
RUN_ID = "1"  # act's run id: the artifact server keeps each run's artifacts under it


@dataclasses.dataclass
class Emulated:
    code: int
    log: str
    seconds: float
    workspace: Path  # what the last step copied out of act's workspace
    artifacts: Path  # act's artifact server storage
    minted: list[str]

    def artifact(self, name: str) -> dict[str, bytes]:
        """The files of the uploaded artifact `name`, by their path inside it."""
        with zipfile.ZipFile(self.artifacts / RUN_ID / name / f"{name}.zip") as archive:
            return {item: archive.read(item) for item in archive.namelist()}


def offline(source: Path, inputs: dict[str, dict[str, str]], *, keep: str) -> str:
    """`source` with `inputs` added to the steps they name (by id or name), and a last step that
    copies `keep` (a space-separated list of workspace paths) to $TEST_RESULTS. Nothing else
    changes: every step of the file still runs, in its order."""
    data: dict[Any, Any] = yaml.safe_load(source.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    [job] = data["jobs"].values()
    for key, extra in inputs.items():
        [step] = [s for s in job["steps"] if key in (s.get("id"), s.get("name"))]
        step.setdefault("with", {}).update(extra)
    job["steps"].append(
        {
            "name": "Hand the workspace to the test",
            "if": "${{ !cancelled() }}",
            "shell": "bash",
            "run": f'cp -R {keep} "$TEST_RESULTS/" 2>/dev/null || true',
        }
    )
    return yaml.safe_dump(data, sort_keys=False, width=1000)


def repository(target: Path, files: Iterable[str], workflows: dict[str, str], remote: str) -> str:
    """A git repository at `target` with this checkout's `files` and the `workflows` (path to
    text), remote github.com/<remote>, one commit; its sha."""
    for name in files:
        source, destination = REPO / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    for path, text in workflows.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text(text)
    _git(target, "init", "--quiet", "--initial-branch=main")
    _git(target, "add", "--all")
    _git(target, "commit", "--quiet", "--message", "release")
    _git(target, "remote", "add", "origin", f"https://github.com/{remote}.git")
    return _git(target, "rev-parse", "HEAD")


def tracked(*tops: str) -> list[str]:
    """This checkout's files under `tops` that git would commit (tracked, or new and not ignored)."""
    listed = _git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "--", *tops)
    return [name for name in listed.splitlines() if (REPO / name).is_file()]


def policy(source: Path, target: Path, instance: LocalInstance) -> Path:
    """The policy `source` as it is, but trusting `instance` (its development root and issuer)
    instead of public Sigstore and GitHub's issuer."""
    data: dict[str, Any] = yaml.safe_load(source.read_text())
    data["trust"] = {"trusted_root": str(instance.trusted_root), "allow_development_root": True}
    for identity in data["identities"]:
        identity["issuer"] = instance.issuer
    target.write_text(json.dumps(data, indent=2))  # JSON is YAML
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclasses.dataclass
class Emulator:
    """act for one repository: each run() is one `act <event>` of one workflow in it."""

    repo: Path
    home: Path
    artifacts: Path
    instance: LocalInstance
    repository: str

    def run(self, workflow: str, event: str, payload: dict[str, Any], ref: str) -> Emulated:
        if not ACT.exists():
            pytest.fail(f"act is not installed ({ACT}): run `make setup`")
        if not (ARTIFACT / "node_modules").is_dir():
            pytest.fail(f"{ARTIFACT}/node_modules is missing: run `make test` (npm ci there)")
        results = self.repo.parent / f"results-{Path(workflow).stem}"
        results.mkdir()
        (event_file := self.repo.parent / f"{event}.json").write_text(json.dumps(payload))
        sha = _git(self.repo, "rev-parse", "HEAD")
        claims = oidc.github_claims(self.repository, ref=ref, sha=sha, workflow=workflow,
                                    event=event)  # fmt: skip
        with token_endpoint(self.instance, claims) as (url, minted):
            variables = {
                "ACTIONS_ID_TOKEN_REQUEST_URL": url,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
                "GITHUB_WORKFLOW_REF": f"{self.repository}/{workflow}@{ref}",
                "TEST_RESULTS": str(results),
                "NODE_PATH": str(ARTIFACT / "node_modules"),  # for the artifact stand-ins
            }
            command = [
                str(ACT), event, "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
                "-W", workflow, "-e", str(event_file),
                "--artifact-server-path", str(self.artifacts),
                "--artifact-server-addr", "127.0.0.1", "--artifact-server-port", str(_free_port()),
                "--local-repository", f"{UPLOAD}={ARTIFACT / 'upload'}",
                "--local-repository", f"{DOWNLOAD}={ARTIFACT / 'download'}",
                *(arg for name, value in variables.items() for arg in ("--env", f"{name}={value}")),
            ]  # fmt: skip
            began = time.monotonic()
            code, log = _run(command, self.repo, _environment(self.home))
            seconds = time.monotonic() - began
        (results.parent / f"act-{Path(workflow).stem}.log").write_text(log)
        return Emulated(code, log, seconds, results, self.artifacts, minted)


def emulator(base: Path, instance: LocalInstance, repository_name: str) -> Emulator:
    home, artifacts = base / "home", base / "artifacts"
    home.mkdir()
    artifacts.mkdir()
    return Emulator(base / "repo", home, artifacts, instance, repository_name)
