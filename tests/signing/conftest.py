"""A real local instance for the signing tests: started in the background on an ephemeral port
by a session fixture, stopped at the end (and by itself after its TTL in any case)."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from attest.instance import lifecycle, oidc
from attest.instance.state import TRUST_CONFIG, TRUSTED_ROOT, State, load_state
from tests.conftest import REPO
from verify.sigstore_adapter import hashed_digest

INTEROP = REPO / "tests" / "interop"
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


def start(state_dir: Path, clock: datetime.datetime | None = None) -> LocalInstance:
    lifecycle.up(state_dir, None, ttl=TTL, clock=clock)
    return LocalInstance(state_dir)


@pytest.fixture(scope="session")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInstance]:
    local = start(tmp_path_factory.mktemp("instance") / "state")
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


@pytest.fixture(scope="module")
def signed(instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A release signed with the real stages (tests/signing/test_gate_support.py), once per
    module."""
    from tests.signing import test_gate_support as g

    return g.make_release(instance, tmp_path_factory.mktemp("release") / "dist")


@pytest.fixture
def release(signed: Any, tmp_path: Path) -> Any:
    """A private copy of the signed release that a test may tamper with."""
    return signed.copy(tmp_path / "dist")


def verify_py(
    local: LocalInstance, bundle: Path, artifact: Path, identity: str, issuer: str | None = None
) -> str | None:
    """sigstore-python's verdict: None when the bundle verifies, else the reason."""
    import hashlib

    try:
        hashed = hashed_digest(hashlib.sha256(artifact.read_bytes()).hexdigest())
        local.verifier().verify_artifact(
            hashed, Bundle.from_json(bundle.read_bytes()),
            Identity(identity=identity, issuer=issuer or local.issuer),
        )  # fmt: skip
    except Exception as e:  # every refusal is a verdict here
        return f"{type(e).__name__}: {e}"
    return None


def verify_dsse_py(local: LocalInstance, bundle: Path, identity: str) -> dict[str, Any]:
    """sigstore-python's verify_dsse: the verified statement (raises when refused)."""
    payload_type, payload = local.verifier().verify_dsse(
        Bundle.from_json(bundle.read_bytes()), Identity(identity=identity, issuer=local.issuer)
    )
    assert payload_type == "application/vnd.in-toto+json"
    statement: dict[str, Any] = json.loads(payload)
    return statement


def verify_js(
    root: Path, bundle: Path, artifact: Path | None, identity: str, issuer: str
) -> str | None:
    """sigstore-js's verdict (tests/interop/verify.mjs): None when verified, else the reason."""
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "@sigstore" / "verify").is_dir():
        pytest.fail("sigstore-js is not installed: run `make test` (npm ci in tests/interop)")
    done = subprocess.run(
        [node, str(INTEROP / "verify.mjs"), str(root), str(bundle),
         str(artifact) if artifact else "-", identity, issuer],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode == 0 and done.stdout.strip() == "OK":
        return None
    return (done.stdout + done.stderr).strip() or f"exit {done.returncode}"


def statement(subject_name: str, digest: str) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject_name, "digest": {"sha256": digest}}],
        "predicateType": "https://example.com/test-predicate/v1",
        "predicate": {"built": True},
    }


def dumps(data: object) -> str:
    return json.dumps(data, indent=2)
