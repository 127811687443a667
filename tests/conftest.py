"""Shared test helpers: paths, the CLI runner, subprocess runs of `attest`, plugin packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

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


# --- No identity token anywhere (issue 8): every token minted during the suite is recorded, and
# after each test its captured output, its failure report and every file it left in tmp_path are
# searched for the token and for its payload.

_MINTED: list[str] = []


def _record_minted_tokens() -> None:
    from attest.instance import oidc

    real = oidc.mint

    def mint(*args: Any, **kwargs: Any) -> str:
        token = real(*args, **kwargs)
        _MINTED.append(token)
        return token

    oidc.mint = mint  # type: ignore[assignment]


_record_minted_tokens()


def _secrets(tokens: list[str]) -> set[bytes]:
    found: set[bytes] = set()
    for token in tokens:
        found.add(token.encode())
        found.add(token.split(".")[1].encode())  # the payload alone is as telling
    return found


def _files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < (16 << 20):
            yield path


@pytest.fixture(autouse=True)
def _no_token_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    first = len(_MINTED)
    yield
    secrets = _secrets(_MINTED[first:])
    if not secrets:
        return
    tmp = request.node.funcargs.get("tmp_path")
    leaks = [
        str(path)
        for path in (_files(tmp) if isinstance(tmp, Path) else ())
        if any(secret in path.read_bytes() for secret in secrets)
    ]
    assert not leaks, f"an identity token was written to {leaks}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    text = "".join(content for _, content in report.sections) + str(report.longrepr or "")
    if any(secret.decode() in text for secret in _secrets(_MINTED)):
        report.outcome = "failed"
        report.longrepr = f"an identity token appears in the captured output of {item.nodeid}"
    return report
