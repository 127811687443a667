"""Where the build ran: a GitHub Actions workflow (from its GITHUB_* and RUNNER_* variables)
or a local git checkout (remote, commit, ref, dirty flag)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from attest.urls import without_credentials
from verify.errors import InputError, OperationalError, UsageError

GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
LOCAL_BUILD_TYPE = "https://attest-pipeline.github.io/buildtypes/local/v1"
LOCAL_BUILDER = "https://attest-pipeline.github.io/builders/local/v1"
# Seconds per git command: `git status` on a large tree takes seconds; a minute is a hang (a lock
# held by another git, a hook, a stalled network file system).
GIT_TIMEOUT = 60.0


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


def _run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One git command. A missing git, a hang or output that is not text is a typed error."""
    git = shutil.which("git")
    if git is None:
        raise UsageError(
            "git is not installed (not found on PATH): local provenance reads the commit with it"
        )
    command = " ".join(("git", *args))
    try:
        done = subprocess.run(
            [git, *args], cwd=directory, capture_output=True, timeout=GIT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise OperationalError(
            f"`{command}` in {directory} did not finish within {GIT_TIMEOUT:g} s (another git "
            "holding a lock, or a stalled file system?): retry"
        ) from e
    except OSError as e:
        raise OperationalError(f"cannot run `{command}` in {directory}: {e.strerror or e}") from e
    try:  # what git prints goes into the statement, which is JSON text
        stdout = done.stdout.decode("utf-8")
    except UnicodeDecodeError as e:  # git allows any byte in ref, remote and file names
        raise InputError(
            directory,
            f"`{command}` printed bytes that are not UTF-8 (a branch, tag, remote or file name): "
            "rename it",
        ) from e
    stderr = done.stderr.decode("utf-8", errors="replace")  # only ever shown, in part
    return subprocess.CompletedProcess(done.args, done.returncode, stdout, stderr)


def _git(directory: Path, *args: str) -> str | None:
    """Git's output, or None when git says no: no such ref, tag or remote is an answer."""
    done = _run(directory, *args)
    return done.stdout.rstrip() if done.returncode == 0 else None  # porcelain starts with a space


def tracked(directory: Path, path: Path) -> bool:
    """Whether git tracks `path` (a file in the checkout at `directory`): an ignored or
    untracked file is not in the commit the provenance names."""
    return _git(directory, "ls-files", "--error-unmatch", "--", str(path.resolve())) is not None


def _checked(directory: Path, *args: str) -> str:
    """Git's output where a refusal means git cannot read the repository."""
    done = _run(directory, *args)
    if done.returncode != 0:
        raise _unreadable(directory, done.stderr)
    return done.stdout.rstrip()


def _unreadable(directory: Path, stderr: str) -> InputError:
    said = next(iter(stderr.strip().splitlines()), "no reason given")
    if "safe.directory" in stderr:  # owned by another user: git's own check, not damage
        return InputError(
            directory,
            f"git refuses the repository ({said}): if you trust it, "
            f"`git config --global --add safe.directory {directory}`",
        )
    return InputError(
        directory,
        f"git cannot read the repository ({said}): repair it (`git fsck`) or clone it again",
    )


def _toplevel(directory: Path) -> str:
    done = _run(directory, "rev-parse", "--show-toplevel")
    if done.returncode == 0:
        return done.stdout.rstrip()
    # Git calls a `.git` with a garbage HEAD "not a git repository": the `.git` tells them apart.
    if any((parent / ".git").exists() for parent in (directory, *directory.parents)):
        raise _unreadable(directory, done.stderr)
    raise InputError(directory, "not inside a git repository: provenance needs a commit")


def _head_commit(directory: Path) -> str:
    """HEAD's commit, read from the object store: a ref naming a missing object is caught here."""
    done = _run(directory, "rev-list", "-n", "1", "HEAD", "--")
    if done.returncode == 0:
        return done.stdout.strip()
    if _unborn(directory):
        raise InputError(directory, "the repository has no commit yet: commit, then run again")
    raise _unreadable(directory, done.stderr)


def _unborn(directory: Path) -> bool:
    """HEAD names a branch that does not exist yet (a new repository, `checkout --orphan`). A
    branch file holding garbage exists, so `symbolic-ref` fails on it: damage, not emptiness."""
    on_branch = _git(directory, "symbolic-ref", "-q", "HEAD") is not None
    return on_branch and _git(directory, "rev-parse", "--verify", "-q", "HEAD") is None


def _source_uri(directory: Path, top: str) -> str:
    remote = _git(directory, "remote", "get-url", "origin")
    if not remote:
        return Path(top).resolve().as_uri()
    try:
        return without_credentials(remote)
    except ValueError as e:  # the URL is not repeated: it may carry a token
        raise InputError(
            directory,
            "the URL of the remote 'origin' is malformed: fix it (`git remote set-url origin URL`)",
        ) from e


def local_checkout(directory: Path, allow_dirty: bool) -> LocalCheckout:
    """The git checkout at `directory`; a tree with changes is refused unless allowed."""
    directory = directory.resolve()  # errors name the directory: `.` would say nothing
    top = _toplevel(directory)
    commit = _head_commit(directory)
    ref = _git(directory, "symbolic-ref", "-q", "HEAD")
    if ref is None:
        tag = _git(directory, "describe", "--tags", "--exact-match")
        ref = f"refs/tags/{tag}" if tag else "HEAD"
    source = _source_uri(directory, top)
    status = _checked(directory, "status", "--porcelain")  # a failure is no proof of a clean tree
    dirty = bool(status)
    if dirty and not allow_dirty:
        changed = ", ".join(line[3:] for line in status.splitlines()[:5])
        raise UsageError(
            f"the working tree at {top} has changes ({changed}): commit them, or pass "
            "--allow-dirty to record a dirty build"
        )
    return LocalCheckout(remote=source, commit=commit, ref=ref, dirty=dirty)


def where_built(
    environ: Mapping[str, str], directory: Path, allow_dirty: bool
) -> GitHubRun | LocalCheckout:
    """The GitHub Actions run, else the local checkout (a tree with changes refused unless
    allowed): what the provenance records as the build's source, checked before signing."""
    return github_run(environ) or local_checkout(directory, allow_dirty)
