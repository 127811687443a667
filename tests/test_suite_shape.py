"""The suite itself: every test module collects a test, every name in tests/slow.txt is a test
or a fixture, and a mark that is not registered in pyproject.toml is refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SLOW
from tests.tools import program


def _pytest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def collected() -> list[str]:
    """The node ids of the whole suite, as `pytest --collect-only` lists them."""
    done = _pytest("--collect-only", "-q", "tests")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_every_test_module_collects_a_test(collected: list[str]) -> None:
    modules = {Path(REPO / node.split("::")[0]) for node in collected}
    empty = sorted(
        str(path.relative_to(REPO))
        for path in (REPO / "tests").rglob("test_*.py")
        if path not in modules and "node_modules" not in path.parts
    )
    assert not empty, f"test modules that collect no test: {empty}"


def test_every_slow_name_is_a_test_or_a_fixture(collected: list[str]) -> None:
    names = {node.split("::")[-1].split("[")[0] for node in collected}
    sources = "\n".join(path.read_text() for path in (REPO / "tests").rglob("*.py"))
    names |= set(re.findall(r"^@pytest\.fixture.*\ndef (\w+)\(", sources, re.MULTILINE))
    assert not sorted(SLOW - names), f"tests/slow.txt names no test: {sorted(SLOW - names)}"


def test_an_unregistered_mark_is_refused(tmp_path: Path) -> None:
    (tmp_path / "test_marked.py").write_text(
        "import pytest\n\n\n@pytest.mark.slwo\ndef test_typo():\n    pass\n"
    )
    done = _pytest("-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path))
    assert done.returncode != 0
    assert "'slwo' not found in `markers` configuration option" in done.stdout
    registered = _pytest("-c", str(REPO / "pyproject.toml"), "--markers", cwd=tmp_path).stdout
    for mark in ("slow", "network", "interop"):
        assert f"@pytest.mark.{mark}:" in registered


def test_the_tests_mirror_the_packages() -> None:
    """tests/attest/<x>/ and tests/verify/<x>/ test the package attest/<x> or verify/<x>: a
    folder of tests for a package that does not exist is a misplaced suite."""
    for top in ("attest", "verify"):
        for folder in (REPO / "tests" / top).rglob("*"):
            if folder.is_dir() and folder.name != "__pycache__":
                package = REPO / folder.relative_to(REPO / "tests")
                assert (package / "__init__.py").is_file(), f"{folder} mirrors no package"


def test_a_missing_program_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kubectl and docker-registry are installed by CI (the lock, .ci/run): a test that needs
    one must fail there when it is missing, never pass as skipped."""
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it, a skip would hide"):
        program("attest-no-such-program", "apt-get install it")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"not installed \(apt-get install it\)"):
        program("attest-no-such-program", "apt-get install it")
    assert Path(program("kubectl", "make setup")).name == "kubectl"
