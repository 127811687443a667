"""Where the build ran: a GitHub Actions workflow (from its GITHUB_* and RUNNER_* variables)
or a local git checkout (remote, commit, ref, dirty flag)."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Mapping
from pathlib import Path

from attest.errors import InputError, UsageError
from attest.sbom.build import without_credentials

GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
LOCAL_BUILD_TYPE = "https://attest-pipeline.github.io/buildtypes/local/v1"
LOCAL_BUILDER = "https://attest-pipeline.github.io/builders/local/v1"


@dataclasses.dataclass(frozen=True)
class GitHubRun:
    server: str
    repository: str
    repository_id: str
    owner_id: str
    ref: str
    sha: str
    workflow_ref: str
    event: str
    run_id: str
    run_attempt: str
    runner_environment: str

    @property
    def repository_uri(self) -> str:
        return f"{self.server}/{self.repository}"

    @property
    def workflow_path(self) -> str:
        """`.github/workflows/x.yml` out of `owner/repo/.github/workflows/x.yml@ref`."""
        path = self.workflow_ref.removeprefix(f"{self.repository}/")
        return path[: -len(f"@{self.ref}")] if path.endswith(f"@{self.ref}") else path.split("@")[0]

    @property
    def invocation_id(self) -> str:
        return f"{self.repository_uri}/actions/runs/{self.run_id}/attempts/{self.run_attempt}"


_REQUIRED = {
    "repository": "GITHUB_REPOSITORY",
    "ref": "GITHUB_REF",
    "sha": "GITHUB_SHA",
    "workflow_ref": "GITHUB_WORKFLOW_REF",
    "event": "GITHUB_EVENT_NAME",
    "run_id": "GITHUB_RUN_ID",
    "run_attempt": "GITHUB_RUN_ATTEMPT",
}


def github_run(environ: Mapping[str, str]) -> GitHubRun | None:
    """The workflow run when running under GitHub Actions, else None."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    missing = [var for var in _REQUIRED.values() if not environ.get(var)]
    if missing:
        raise UsageError(f"GITHUB_ACTIONS is set but {', '.join(missing)} is not")
    values = {field: environ[var] for field, var in _REQUIRED.items()}
    return GitHubRun(
        server=environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
        repository_id=environ.get("GITHUB_REPOSITORY_ID", ""),
        owner_id=environ.get("GITHUB_REPOSITORY_OWNER_ID", ""),
        runner_environment=environ.get("RUNNER_ENVIRONMENT", ""),
        **values,
    )


@dataclasses.dataclass(frozen=True)
class LocalCheckout:
    remote: str
    commit: str
    ref: str
    dirty: bool


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError as e:
        raise UsageError("git is not installed: local provenance needs it") from e
    return (
        done.stdout.rstrip() if done.returncode == 0 else None
    )  # porcelain lines start with a space


def local_checkout(directory: Path, allow_dirty: bool) -> LocalCheckout:
    """The git checkout at `directory`; a tree with changes is refused unless allowed."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top is None:
        raise InputError(directory, "not inside a git repository: provenance needs a commit")
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        raise InputError(directory, "the repository has no commit yet")
    ref = _git(directory, "symbolic-ref", "-q", "HEAD")
    if ref is None:
        tag = _git(directory, "describe", "--tags", "--exact-match")
        ref = f"refs/tags/{tag}" if tag else "HEAD"
    remote = _git(directory, "remote", "get-url", "origin")
    status = _git(directory, "status", "--porcelain") or ""
    dirty = bool(status)
    if dirty and not allow_dirty:
        changed = ", ".join(line[3:] for line in status.splitlines()[:5])
        raise UsageError(
            f"the working tree at {top} has changes ({changed}): commit them, or pass "
            "--allow-dirty to record a dirty build"
        )
    return LocalCheckout(
        remote=without_credentials(remote) if remote else Path(top).resolve().as_uri(),
        commit=commit,
        ref=ref,
        dirty=dirty,
    )
