"""Faults in the git checkout that local provenance reads: every one is a typed error that says
what went wrong (git missing, git hanging, a damaged repository, no repository, no commit), never
a misleading message, a crash or a silent "clean tree"."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.provenance import source
from attest.provenance.source import local_checkout
from tests.conftest import LocalInstance
from verify.errors import ExitCode, InputError, OperationalError, UsageError

MISSING = "1234567890123456789012345678901234567890"  # a commit id no repository holds


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _repo(tmp_path: Path, commit: bool = True) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    if commit:
        (repo / "app.py").write_text("print('acme')\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "release")
    return repo


def _garbage_head(repo: Path) -> None:
    (repo / ".git" / "HEAD").write_text("garbage\n")


def _branch_names_a_missing_commit(repo: Path) -> None:
    (repo / ".git" / "refs" / "heads" / "main").write_text(f"{MISSING}\n")


def _branch_holds_garbage(repo: Path) -> None:
    (repo / ".git" / "refs" / "heads" / "main").write_text("not a commit id\n")


def _garbage_index(repo: Path) -> None:
    (repo / ".git" / "index").write_text("garbage\n")


CORRUPTIONS = {
    "garbage HEAD": (_garbage_head, "not a git repository"),
    "branch names a missing commit": (_branch_names_a_missing_commit, "bad object HEAD"),
    "branch holds garbage": (_branch_holds_garbage, "bad revision 'HEAD'"),
    "garbage index": (_garbage_index, "index file smaller than expected"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_damaged_repository_is_named_with_gits_reason(
    tmp_path: Path, corruption: tuple[Callable[[Path], None], str]
) -> None:
    """Not "no commit yet", "not a repository", or (for the index) a tree taken for clean."""
    damage, git_said = corruption
    repo = _repo(tmp_path)
    damage(repo)
    with pytest.raises(InputError) as raised:
        local_checkout(repo, allow_dirty=False)
    message = str(raised.value)
    assert message.startswith(f"{repo}: git cannot read the repository (fatal: "), message
    assert git_said in message
    assert "git fsck" in message


def test_an_empty_repository_has_no_commit_yet(tmp_path: Path) -> None:
    repo = _repo(tmp_path, commit=False)
    with pytest.raises(InputError, match="the repository has no commit yet: commit, then run"):
        local_checkout(repo, allow_dirty=False)


def test_an_orphan_branch_has_no_commit_yet(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "--orphan", "fresh")
    with pytest.raises(InputError, match="the repository has no commit yet"):
        local_checkout(repo, allow_dirty=True)


def test_a_plain_directory_is_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not inside a git repository: provenance needs a commit"):
        local_checkout(tmp_path, allow_dirty=False)


def test_git_missing_from_path_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(UsageError, match=r"git is not installed \(not found on PATH\)"):
        local_checkout(repo, allow_dirty=False)


def _fake_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = bin_dir / "git"
    git.write_text(content)
    git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_hanging_git_is_an_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exec`: the process the timeout kills is the sleep itself, none is left behind."""
    repo = _repo(tmp_path)
    _fake_git(tmp_path, monkeypatch, "#!/bin/sh\nexec sleep 30\n")
    monkeypatch.setattr(source, "GIT_TIMEOUT", 1.0)
    with pytest.raises(OperationalError) as raised:
        local_checkout(repo, allow_dirty=False)
    assert raised.value.exit_code == ExitCode.OPERATIONAL
    assert f"`git rev-parse --show-toplevel` in {repo} did not finish within 1 s" in str(
        raised.value
    )


def test_a_git_that_cannot_run_is_an_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    _fake_git(tmp_path, monkeypatch, "\x7fELF not really\n")
    with pytest.raises(OperationalError, match="cannot run `git rev-parse --show-toplevel` in"):
        local_checkout(repo, allow_dirty=False)


def test_credentials_and_odd_ref_characters(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "remote", "add", "origin", "https://deploy:t0ken@git.example/acme/web.git")
    _git(repo, "checkout", "-q", "-b", "feat/ü;$(id)\"q'&|<>")
    checkout = local_checkout(repo, allow_dirty=False)
    assert checkout.remote == "https://git.example/acme/web.git"
    assert checkout.ref == "refs/heads/feat/ü;$(id)\"q'&|<>"


def test_a_malformed_remote_url_is_refused_without_repeating_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "remote", "add", "origin", "https://deploy:s3cret@[broken/acme/web.git")
    with pytest.raises(InputError, match="the URL of the remote 'origin' is malformed") as raised:
        local_checkout(repo, allow_dirty=False)
    assert "s3cret" not in str(raised.value)


def test_a_branch_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "-b", os.fsdecode(b"feat/\xff"))
    with pytest.raises(InputError, match=r"printed bytes that are not UTF-8 \(a branch, tag"):
        local_checkout(repo, allow_dirty=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a repository away needs root")
def test_a_repository_of_another_user_says_how_to_trust_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Git's own ownership check (common in containers) is not damage: no `git fsck` advice."""
    repo = _repo(tmp_path)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))
    os.chown(repo, 65534, -1)
    with pytest.raises(InputError) as raised:
        local_checkout(repo, allow_dirty=False)
    said = str(raised.value)
    assert "git refuses the repository (fatal: detected dubious ownership" in said, said
    assert f"`git config --global --add safe.directory {repo}`" in said
    assert "git fsck" not in said


@pytest.mark.parametrize(
    ("damage", "git_said"),
    [
        (_garbage_head, "not a git repository"),
        (_branch_names_a_missing_commit, "bad object HEAD"),
    ],
)
def test_the_cli_refuses_a_damaged_repository(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[Path], None],
    git_said: str,
) -> None:
    repo = _repo(tmp_path)
    (repo / "a.whl").write_text("a wheel")
    damage(repo)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)  # a local build, even in CI
    result = invoke(
        "provenance",
        "--trust-config",
        str(instance.trust_config),
        "--identity-token",
        instance.token("https://example.com/ci"),
        "--allow-dirty",
        "a.whl",
    )
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "git cannot read the repository (fatal: " in result.stderr
    assert git_said in result.stderr
    assert "no commit yet" not in result.stderr
    assert not list(repo.rglob("*.sigstore.json"))
