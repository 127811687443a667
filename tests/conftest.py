"""Shared test helpers: paths, the CLI runner, subprocess runs of `attest`, plugin packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from attest.cli import cli

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SBOM_FIXTURES = FIXTURES / "sbom"


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """Run the real click group in-process; stdout and stderr are kept apart."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run


def run_attest(
    *args: str, pythonpath: Sequence[Path] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m attest` in a child process (for entry points installed by a test)."""
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        child_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "attest", *args],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=120,
        check=False,
    )


def pip_install_target(source: Path, target: Path) -> Path:
    """Build and install a local package into `target` (offline, no dependencies)."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--target", str(target), str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    return target


@pytest.fixture(scope="session")
def plugin_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each test plugin package under tests/plugins, installed into a directory of its own."""
    root = tmp_path_factory.mktemp("plugins")
    return {
        source.name: pip_install_target(source, root / source.name)
        for source in sorted((REPO / "tests" / "plugins").iterdir())
    }


def load_json(text: str | bytes) -> dict[str, object]:
    data: dict[str, object] = json.loads(text)
    return data
