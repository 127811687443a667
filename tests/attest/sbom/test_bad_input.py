"""Every bad input: a message naming the file and the problem, the documented exit code, no
traceback, and no output file."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import SBOM_FIXTURES
from verify.errors import ExitCode

GOOD_HASH = "sha256:" + "a" * 64

LOCK_CASES = {
    "uv.lock": [
        ("version = 1\n[[package]\n", "not valid TOML"),
        ("version = 2\n", "unsupported uv.lock version 2 (expected 1)"),
        ("version = 1\npackage = 3\n", "'package' must be an array of tables"),
        ("version = 1\n[[package]]\nversion = '1'\n", "package #1: 'name' is missing"),
        ("version = 1\n[[package]]\nname = 'a'\nversion = 1\n", "package 'a': 'version' is not a string"),
        ("version = 1\n[[package]]\nname = 'a'\nsource = { ftp = 'x' }\n", "package 'a': unknown source"),
        (
            "version = 1\n[[package]]\nname = 'a'\nsdist = { hash = 'sha256:zz' }\n",
            "malformed sha256 digest 'zz'",
        ),
        (
            "version = 1\n[[package]]\nname = 'a'\nsdist = { hash = 'crc32:00' }\n",
            "unsupported hash algorithm 'crc32'",
        ),
    ],
    "pylock.toml": [
        ("[[packages]]\nname = 'a'\n", "unsupported lock-version None (expected 1.x)"),
        ("lock-version = '2.0'\n", "unsupported lock-version '2.0'"),
        ("lock-version = '1.0'\n[[packages]]\nversion = '1'\n", "package #1: 'name' is missing"),
        (
            "lock-version = '1.0'\n[[packages]]\nname = 'a'\n[packages.sdist]\nhashes = 'x'\n",
            "package 'a': 'hashes' must be a table",
        ),
        (
            "lock-version = '1.0'\n[[packages]]\nname = 'a'\ndependencies = [{ version = '1' }]\n",
            "package 'a' dependency: 'name' is missing",
        ),
    ],
    "poetry.lock": [
        ("[metadata]\nlock-version = '2.0'\n", "has no [[package]] entries"),
        ("[[package]]\nname = 'a'\n", "package 'a': 'version' is missing"),
        (
            "[[package]]\nname = 'a'\nversion = '1'\nfiles = [{ file = 'a.whl' }]\n",
            "package 'a' file: 'hash' is missing",
        ),
        (
            "[[package]]\nname = 'a'\nversion = '1'\n[package.source]\ntype = 'svn'\nurl = 'x'\n",
            "unknown source type 'svn'",
        ),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [(name, content, problem) for name, cases in LOCK_CASES.items() for content, problem in cases],
)
def test_malformed_lock_files(
    invoke: Callable[..., Result], tmp_path: Path, name: str, content: str, problem: str
) -> None:
    lock = tmp_path / name
    lock.write_text(content)
    out = tmp_path / "out.json"
    result = invoke("sbom", "--lock", str(lock), "--output", str(out))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"attest: error: {lock}: " in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


REQUIREMENTS_CASES = [
    ("requests==2.0 --hash=sha256:abc\n", "malformed sha256 digest 'abc'"),
    ("requests==2.0 --hash=md4:" + "a" * 32 + "\n", "unsupported hash algorithm 'md4'"),
    ("requests==2.0 --frobnicate\n", "line 1: unknown option '--frobnicate'"),
    ("--frobnicate\n", "line 1: unknown option '--frobnicate'"),
    ("requests>>2.0\n", "line 1: not a valid requirement 'requests>>2.0'"),
    ("-r\n", "line 1: -r needs a file name"),
    ("-r missing.txt\n", "line 1: -r 'missing.txt': no such file"),
    ("-e ../somewhere\n", "cannot tell the name of editable '../somewhere'"),
    ("ok==1 \\\n  --hash\n", "line 1: --hash needs a value"),
]


@pytest.mark.parametrize(("content", "problem"), REQUIREMENTS_CASES)
def test_malformed_requirements(
    invoke: Callable[..., Result], tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(content)
    result = invoke("sbom", "--requirements", str(path))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr


def test_requirements_include_cycle(invoke: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("--requirement=a.txt\n")
    result = invoke("sbom", "--requirements", str(tmp_path / "a.txt"))
    assert result.exit_code == ExitCode.USAGE
    assert "b.txt: line 1: -r (not shown: from a file not named): " in result.stderr
    assert "includes a file that includes it (a cycle)" in result.stderr


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("--lock", "no such file"),
        ("--requirements", "no such file"),
        ("--python", "no such interpreter or virtual environment"),
    ],
)
def test_missing_inputs(
    invoke: Callable[..., Result], tmp_path: Path, option: str, problem: str
) -> None:
    missing = tmp_path / "uv.lock"
    result = invoke("sbom", option, str(missing))
    assert result.exit_code == ExitCode.USAGE
    assert f"{missing}: {problem}" in result.stderr


def test_input_that_is_a_directory(invoke: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "uv.lock").mkdir()
    result = invoke("sbom", "--lock", str(tmp_path / "uv.lock"))
    assert result.exit_code == ExitCode.USAGE
    assert "is a directory, expected a file" in result.stderr


def test_input_that_is_not_utf8(invoke: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"caf\xe9==1.0\n")
    result = invoke("sbom", "--requirements", str(path))
    assert result.exit_code == ExitCode.USAGE
    assert "not UTF-8 text" in result.stderr


def test_unknown_lock_format(invoke: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "Pipfile.lock"
    path.write_text("{}")
    result = invoke("sbom", "--lock", str(path))
    assert result.exit_code == ExitCode.USAGE
    assert "unknown lock file format; known: uv.lock, pylock.toml" in result.stderr


def test_source_option_checks_the_kind(invoke: Callable[..., Result]) -> None:
    lock = SBOM_FIXTURES / "uv-project" / "uv.lock"
    wrong = invoke("sbom", "--lock", str(lock), "--source", "requirements")
    assert wrong.exit_code == ExitCode.USAGE
    assert "source 'requirements' reads requirements input, not lock" in wrong.stderr
    unknown = invoke("sbom", "--lock", str(lock), "--source", "nope")
    assert unknown.exit_code == ExitCode.USAGE
    assert "no plugin 'nope' in group attest.sbom_sources" in unknown.stderr
    named = invoke("sbom", "--lock", str(lock), "--source", "uv-lock")
    assert named.exit_code == 0


def test_more_than_one_source(invoke: Callable[..., Result]) -> None:
    lock = str(SBOM_FIXTURES / "uv-project" / "uv.lock")
    result = invoke("sbom", "--lock", lock, "--requirements", lock)
    assert result.exit_code == ExitCode.USAGE
    assert "give at most one of --python, --requirements and --lock" in result.stderr


def test_bad_source_date_epoch(invoke: Callable[..., Result]) -> None:
    lock = str(SBOM_FIXTURES / "uv-project" / "uv.lock")
    result = invoke("sbom", "--lock", lock, env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert result.exit_code == ExitCode.USAGE
    assert "SOURCE_DATE_EPOCH='yesterday' is not a Unix time in seconds" in result.stderr


def test_bad_project(invoke: Callable[..., Result], tmp_path: Path) -> None:
    lock = str(SBOM_FIXTURES / "uv-project" / "uv.lock")
    missing = invoke("sbom", "--lock", lock, "--project", str(tmp_path / "nope"))
    assert missing.exit_code == ExitCode.USAGE
    assert "project directory does not exist" in missing.stderr
    no_pyproject = invoke("sbom", "--lock", lock, "--project", str(tmp_path))
    assert no_pyproject.exit_code == ExitCode.USAGE
    assert f"{tmp_path / 'pyproject.toml'}: no such file" in no_pyproject.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.other]\nx = 1\n")
    nameless = invoke("sbom", "--lock", lock, "--project", str(tmp_path))
    assert "has no [project] name (nor [tool.poetry] name)" in nameless.stderr
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['a b c']\n")
    bad_dep = invoke("sbom", "--lock", lock, "--project", str(tmp_path))
    assert bad_dep.exit_code == ExitCode.USAGE
    assert "invalid dependency 'a b c'" in bad_dep.stderr


def test_output_directory_missing(invoke: Callable[..., Result], tmp_path: Path) -> None:
    lock = str(SBOM_FIXTURES / "uv-project" / "uv.lock")
    out = tmp_path / "no" / "sbom.json"
    result = invoke("sbom", "--lock", lock, "--output", str(out))
    assert result.exit_code == ExitCode.USAGE
    assert f"directory {out.parent} does not exist" in result.stderr


def test_python_directory_that_is_not_a_venv(invoke: Callable[..., Result], tmp_path: Path) -> None:
    result = invoke("sbom", "--python", str(tmp_path))
    assert result.exit_code == ExitCode.USAGE
    assert "is a directory but not a virtual environment" in result.stderr


def test_python_that_is_not_executable(invoke: Callable[..., Result], tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("not a program")
    fake.chmod(0o644)
    result = invoke("sbom", "--python", str(fake))
    assert result.exit_code == ExitCode.USAGE
    assert f"{fake}: is not executable" in result.stderr


def _script(python: Path, script: str) -> Path:
    """`python` as a shell script: a stand-in for a broken or hostile interpreter."""
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f"#!/bin/sh\n{script}\n")
    python.chmod(0o755)
    return python


def test_python_that_fails(invoke: Callable[..., Result], tmp_path: Path) -> None:
    broken = _script(tmp_path / "python", "echo 'cannot import site' >&2\nexit 7")
    result = invoke("sbom", "--python", str(broken))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "failed to list its packages (exit 7): cannot import site" in result.stderr


def test_python_that_prints_garbage(invoke: Callable[..., Result], tmp_path: Path) -> None:
    liar = _script(tmp_path / "python", "echo 'hello'")
    result = invoke("sbom", "--python", str(liar))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "printed something other than its package list" in result.stderr


def test_an_io_error_is_operational(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The device reporting EIO (/proc/self/mem did, but /proc is no longer read at all).
    path = tmp_path / "uv.lock"
    path.write_text("version = 1\n")

    def failing(*args: object, **kwargs: object) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))

    monkeypatch.setattr("attest.inputs.read_limited", failing)
    result = invoke("sbom", "--lock", str(path))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert f"cannot read {path}: Input/output error" in result.stderr


def test_a_hanging_interpreter_is_abandoned(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threat D5: a broken interpreter never hangs the stage."""
    from attest.sbom.sources import environment

    monkeypatch.setattr(environment, "TIMEOUT", 1)
    venv = _script(tmp_path / "venv" / "bin" / "python", "exec sleep 30").parents[1]
    result = invoke("sbom", "--python", str(venv), "--output", str(tmp_path / "sbom.json"))
    assert result.exit_code == ExitCode.OPERATIONAL
    assert f"{venv / 'bin' / 'python'} did not list its packages within 1 s" in result.stderr
    assert not (tmp_path / "sbom.json").exists()


def test_the_interpreter_runs_isolated(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threat E7: `-I`, so PYTHONPATH (a sitecustomize planted in it) and the user's site-packages
    of the caller's environment do not run in the interpreter being described."""
    import sys

    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "sitecustomize.py").write_text(
        f"open({str(tmp_path / 'ran')!r}, 'w').write('planted code ran')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(planted))
    args = tmp_path / "args"
    script = f'echo "$@" > {args}\nexec {sys.executable} "$@"'
    venv = _script(tmp_path / "venv" / "bin" / "python", script).parents[1]
    result = invoke("sbom", "--python", str(venv))
    assert result.exit_code == ExitCode.OK, result.stderr
    assert args.read_text().split()[0] == "-I"
    assert not (tmp_path / "ran").exists()
