"""The gate reads nothing through /proc, /sys or /dev, whatever the spelling: `/proc/self/fd/3`
resolves to the regular file descriptor 3 is, so neither resolving the path nor the type of the
open file says where it is read through. And an `--attestations` that is not a directory says
what it is."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from tests.attest.scan.helpers import PYPA_FIXTURE
from verify.errors import ExitCode

ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "https://github.com/acme/web/.github/workflows/release.yml@refs/tags/v1.4.0"


def _policy(path: Path) -> Path:
    document = {
        "version": 1,
        "trust": "production",
        "identities": [{"issuer": ISSUER, "subject": SUBJECT}],
        "require": {"vulnerabilities": {}},
    }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def fd_path(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """`/proc/self/fd/N` for a regular file opened here."""
    opened: list[int] = []

    def through_proc(path: Path) -> str:
        opened.append(os.open(path, os.O_RDONLY))
        return f"/proc/self/fd/{opened[-1]}"

    yield through_proc
    for fd in opened:
        os.close(fd)


def _refused(result: Result, path: str, says: str) -> None:
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr == f"attest: error: {path}: {says}\n"


def test_a_policy_through_proc_self_fd_is_refused_by_name(
    invoke: Callable[..., Result], tmp_path: Path, fd_path: Callable[[Path], str]
) -> None:
    """Before: read (the descriptor's file is a regular file outside /proc)."""
    policy = fd_path(_policy(tmp_path / "policy.yaml"))
    (tmp_path / "link").symlink_to(policy)
    for named in (policy, str(tmp_path / "link")):
        result = invoke("verify", "--policy", named, str(tmp_path / "a.whl"))
        _refused(result, named, "is in /proc, a kernel pseudo file system: never read as input")


@pytest.mark.parametrize("db", ["/proc/self", "/proc/self/fd/{fd}", "/sys/kernel", "/dev/shm"])
def test_an_advisory_database_in_a_pseudo_file_system_is_refused_unwalked(
    invoke: Callable[..., Result], tmp_path: Path, fd_path: Callable[[Path], str], db: str
) -> None:
    """Before: `--db /proc/self` was walked as a directory of advisories (and the fixture's
    directory through /proc/self/fd/N read)."""
    policy = _policy(tmp_path / "policy.yaml")
    named = db.format(fd=fd_path(PYPA_FIXTURE).rsplit("/", 1)[-1])
    (tmp_path / "a.whl").write_bytes(b"a wheel")
    result = invoke("verify", "--policy", str(policy), "--db", named, str(tmp_path / "a.whl"))
    root = "/" + named.split("/")[1]
    _refused(result, named, f"is in {root}, a kernel pseudo file system: never read as a database")


def test_attestations_that_are_not_a_directory_say_what_they_are(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: a regular file or a FIFO was "attestation directory does not exist"."""
    policy = _policy(tmp_path / "policy.yaml")
    (tmp_path / "a.whl").write_bytes(b"a wheel")
    os.mkfifo(tmp_path / "fifo")
    cases = {
        str(policy): "is not a directory but a regular file",
        str(tmp_path / "fifo"): "is not a directory but a FIFO, socket or device",
        "/proc/self": "--attestations is in /proc, a kernel pseudo file system: never read",
        "/dev": "--attestations is in /dev, a kernel pseudo file system: never read",
    }
    for named, says in cases.items():
        result = invoke(
            "verify", "--policy", str(policy), "--attestations", named, str(tmp_path / "a.whl")
        )
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert result.stderr.startswith(f"attest: error: {named}: {says}"), result.stderr
        assert result.stderr.count("\n") == 1
    missing = invoke("verify", "--policy", str(policy), "--attestations", str(tmp_path / "none"),
                     str(tmp_path / "a.whl"))  # fmt: skip
    assert "attestation directory does not exist" in missing.stderr
