"""Shared test helpers: paths, the CLI runner, subprocess runs of `attest`, plugin packages, the
local Sigstore instance (once per session), and the markers `slow`, `network` and `interop`."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier

from attest.cli import cli
from attest.instance import lifecycle, oidc
from attest.instance.state import TRUST_CONFIG, TRUSTED_ROOT, State, load_state

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


# How a plugin of tests/plugins/attest-plugin-exits fails (its ATTEST_PLUGIN_FAILS=<when>:<how>
# takes these hows), and how attest says it.
PLUGIN_FAILURES = {
    "exception": "RuntimeError: the plugin broke",
    "exit": "it called sys.exit()",
    "exit0": "it called sys.exit(0)",
    "exit1": "it called sys.exit(1)",
    "exit-message": "it called sys.exit('the plugin needs a missing dependency')",
    "base-exception": "GaveUp: the plugin gave up",
}


def load_json(text: str | bytes) -> dict[str, object]:
    data: dict[str, object] = json.loads(text)
    return data


@pytest.fixture(scope="session", autouse=True)
def _user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user's data and cache directories in the session's tmp, never the real ones: a
    public root refreshed there (`attest trust update`) would change what `trust: production`
    means to the tests."""
    home = tmp_path_factory.mktemp("user-dirs")
    names = ("XDG_DATA_HOME", "XDG_CACHE_HOME")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# --- The local Sigstore instance: started in the background on an ephemeral port, once per test
# session whichever directory asks first, stopped at the end (and by itself after its TTL in any
# case). A test that stops, restarts or re-clocks an instance takes `fresh_instance` instead.

TTL = 1800  # seconds: a forgotten instance stops by itself
# The example advisories' month: the scan of the demo project judges at JULY, and what is
# signed then is signed by an instance whose clock starts there (`instance up --clock`).
JULY = datetime.datetime(2026, 7, 15, tzinfo=datetime.timezone.utc)


@dataclasses.dataclass
class LocalInstance:
    state_dir: Path

    @functools.cached_property
    def state(self) -> State:
        """Read once: keys, CA and port never change, restarts included."""
        return load_state(self.state_dir)

    @property
    def url(self) -> str:
        return self.state.base_url

    @property
    def issuer(self) -> str:
        return self.state.issuer_url

    @property
    def trust_config(self) -> Path:
        return self.state_dir / TRUST_CONFIG

    @property
    def trusted_root(self) -> Path:
        return self.state_dir / TRUSTED_ROOT

    def token(self, subject: str = "https://example.com/ci", **claims: Any) -> str:
        state = self.state
        return oidc.mint(state.keys["issuer"], state.issuer_url, subject, claims)

    def verifier(self) -> Verifier:
        return Verifier(trusted_root=TrustedRoot.from_file(str(self.trusted_root)))

    def entries(self) -> int:
        return sum(1 for _ in (self.state_dir / "log" / "entries.jsonl").open())


def start(
    state_dir: Path, clock: datetime.datetime | None = None, rekor_version: int = 1
) -> LocalInstance:
    """The fixtures announce Rekor v1 (entries with an integrated time) unless they ask for
    v2, as `rekor2_instance` does: the instance's own default."""
    lifecycle.up(state_dir, None, ttl=TTL, clock=clock, rekor_version=rekor_version)
    return LocalInstance(state_dir)


@pytest.fixture(scope="session")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInstance]:
    """The instance the whole session shares: tests only add log entries to it."""
    local = start(tmp_path_factory.mktemp("instance") / "state")
    yield local
    lifecycle.down(local.state_dir)


@pytest.fixture(scope="session")
def rekor2_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInstance]:
    """An instance announcing its Rekor v2 log and its timestamp authority (the default of
    `attest instance up`): its bundles' only time is the RFC 3161 timestamp."""
    local = start(tmp_path_factory.mktemp("rekor2") / "state", rekor_version=2)
    yield local
    lifecycle.down(local.state_dir)


@pytest.fixture(scope="session")
def july_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInstance]:
    """An instance on a clock shifted to JULY: what it signs is dated in the example
    advisories' month, so a scan, a signature and a gate judging in July agree."""
    local = start(tmp_path_factory.mktemp("july") / "state", JULY)
    yield local
    lifecycle.down(local.state_dir)


@pytest.fixture(scope="session")
def other_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInstance]:
    """A second, unrelated instance: its bundles must not verify against the first."""
    local = start(tmp_path_factory.mktemp("other") / "state")
    yield local
    lifecycle.down(local.state_dir)


@pytest.fixture
def fresh_instance(tmp_path: Path) -> Iterator[Callable[..., LocalInstance]]:
    """Start instances of this test's own (`fresh_instance(clock=None)`), stopped when it ends:
    for a test that stops, restarts or re-clocks one, which the shared ones must not see."""
    started: list[LocalInstance] = []

    def fresh(clock: datetime.datetime | None = None) -> LocalInstance:
        started.append(start(tmp_path / f"instance-{len(started)}", clock))
        return started[-1]

    yield fresh
    for local in started:
        lifecycle.down(local.state_dir)


@pytest.fixture(scope="module")
def signed(instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A release signed with the real stages (tests/signed_release.py), once per
    module."""
    from tests import signed_release as g

    return g.make_release(instance, tmp_path_factory.mktemp("release") / "dist")


@pytest.fixture
def release(signed: Any, tmp_path: Path) -> Any:
    """A private copy of the signed release that a test may tamper with."""
    return signed.copy(tmp_path / "dist")


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


# --- Markers (registered in pyproject.toml, where --strict-markers refuses any other). Each
# follows from what a test does, not from where it lives, so a moved test keeps its marks:
# - network: the test needs a local instance (a fixture of NETWORK_FIXTURES, requested directly
#   or through another fixture such as `signed`) or carries @pytest.mark.network; a test that
#   binds an internet socket (a loopback server, an instance's port probe) without it fails.
# - interop: the test carries @pytest.mark.interop; the independent clients' verdicts
#   (tests/clients.py verify_py, verify_js) fail a test without it.
# - slow: the test's name, or a fixture it uses, is listed in tests/slow.txt (measured; the rule
#   is there). `make test-fast` leaves them out.

NETWORK_FIXTURES = frozenset(
    {"instance", "july_instance", "other_instance", "fresh_instance", "rekor2_instance"}
)


def _slow_names() -> frozenset[str]:
    lines = (REPO / "tests" / "slow.txt").read_text().splitlines()
    return frozenset(name for line in lines if (name := line.partition("#")[0].strip()))


SLOW = _slow_names()


def is_slow(item: pytest.Item) -> bool:
    names = {getattr(item, "originalname", item.name), *getattr(item, "fixturenames", ())}
    return not SLOW.isdisjoint(names)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by them
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if NETWORK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.network)
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


_RUNNING: list[pytest.Item] = []


def require_mark(name: str) -> None:
    """Fail the running test unless it carries the mark `name`: what it is doing needs it."""
    if _RUNNING and _RUNNING[-1].get_closest_marker(name) is None:
        pytest.fail(f"{_RUNNING[-1].nodeid} is not marked {name}: add @pytest.mark.{name}")


@pytest.fixture(autouse=True)
def _marks_hold(request: pytest.FixtureRequest) -> Iterator[None]:
    bound: list[object] = []
    real = socket.socket.bind

    def bind(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            bound.append(address)
        real(self, address)

    socket.socket.bind = bind  # type: ignore[method-assign]
    _RUNNING.append(request.node)
    try:
        yield
    finally:
        socket.socket.bind = real  # type: ignore[method-assign]
        _RUNNING.pop()
    if bound and request.node.get_closest_marker("network") is None:
        pytest.fail(f"{request.node.nodeid} binds {bound[0]} but is not marked network")
