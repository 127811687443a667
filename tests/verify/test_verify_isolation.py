"""`verify` never imports `attest`, and imports with only its own small dependency set
installed: the test builds a Python environment holding exactly that set and imports every
module of `verify` there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

from tests.conftest import REPO

VERIFY = REPO / "verify"


def _declared() -> list[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    names: list[str] = data["tool"]["attest"]["verify-dependencies"]
    return names


def _closure(names: list[str]) -> set[str]:
    """The distributions `names` need, following their requirements whose markers hold here
    (extras aside)."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found.add(key)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return found


def _top_level_entries(distribution: str) -> set[str]:
    """The top-level files and directories a distribution installed (packages, dist-info)."""
    files = metadata.files(distribution) or []
    return {f.parts[0] for f in files if not f.parts[0].startswith("..")}


def _verify_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in VERIFY.rglob("*.py")
    )


def test_verify_source_never_imports_attest() -> None:
    for path in VERIFY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            assert not any(n == "attest" or n.startswith("attest.") for n in names), path


@pytest.fixture(scope="module")
def minimal_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv without pip whose site-packages holds only verify and its declared dependencies."""
    root = tmp_path_factory.mktemp("verify-only")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    site = Path(purelib)
    (site / "verify").symlink_to(VERIFY, target_is_directory=True)
    here = Path(sysconfig.get_paths()["purelib"])
    for distribution in _closure(_declared()):
        for entry in _top_level_entries(distribution):
            (site / entry).symlink_to(here / entry)
    return python


def test_verify_imports_with_only_its_own_dependencies(minimal_python: Path) -> None:
    modules = _verify_modules()
    assert "verify.plugins" in modules
    probe = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    done = subprocess.run(
        [str(minimal_python), "-I", "-c", probe, *modules],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("module", ["attest", "cyclonedx", "in_toto", "pip_audit"])
def test_the_minimal_environment_really_lacks_the_rest(minimal_python: Path, module: str) -> None:
    done = subprocess.run(
        [str(minimal_python), "-I", "-c", f"import {module}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr
