"""`attest trust update` against a real TUF repository built here and served on 127.0.0.1: the
refreshed root lands where sigstore-python keeps it, the gate reads it for `trust: production`,
and whatever does not verify is refused with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier
from sigstore.verify.policy import UnsafeNoOp

from tests import signed_release as g
from tests import tuf_repository
from tests.conftest import LocalInstance
from verify.errors import ExitCode
from verify.trust_store import Store, store_for

Invoke = Callable[..., Result]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """sigstore-python's directories for the production repository, in this test's tmp."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return store_for("production")


@pytest.fixture
def repository(tmp_path: Path, instance: LocalInstance) -> Path:
    """A TUF repository whose trusted root is the local instance's; its root.json's path."""
    config = json.loads(instance.trust_config.read_text())
    targets = {
        "trusted_root.json": instance.trusted_root.read_bytes(),
        "signing_config.v0.2.json": json.dumps(config["signingConfig"]).encode(),
    }
    return tuf_repository.build(tmp_path / "repository", targets)


def _update(invoke: Invoke, url: str, bootstrap: Path, *more: str) -> Result:
    return invoke("trust", "update", "--url", url, "--bootstrap-root", str(bootstrap), *more)


def _files(store: Store) -> dict[str, bytes]:
    found = {}
    for top in (store.metadata.parent, store.targets.parent):
        for path in sorted(top.rglob("*")) if top.exists() else ():
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found


def _gate(invoke: Invoke, instance: LocalInstance, release: g.Release, tmp: Path) -> Result:
    policy = g.strict_policy(instance)
    policy["trust"] = "production"
    path = g.write_policy(tmp / "policy.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", str(release.wheel))


def _checks(result: Result) -> dict[str, list[str]]:
    [decision] = json.loads(result.stdout)["decisions"]
    return {c["check"]: c["failures"] for c in decision["checks"]}


@pytest.mark.network
def test_the_gate_reads_the_refreshed_production_root(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    repository: Path,
    store: Store,
    tmp_path: Path,
) -> None:
    """The repository's root is the local instance's: its bundles verify under `trust:
    production` only after the update (the development root is still refused by name)."""
    before = _checks(_gate(invoke, instance, release, tmp_path))
    assert before["bundles verify"], before
    with tuf_repository.serve(repository.parent) as url:
        result = _update(invoke, url, repository, "--json")
    assert result.exit_code == 0, result.stderr
    stored = json.loads(result.stdout)
    assert stored["trusted_root"] == str(store.targets / "trusted_root.json")
    assert f"production trust root updated from {url}" in result.stderr
    assert (store.metadata / "targets.json").is_file()
    after_result = _gate(invoke, instance, release, tmp_path)
    after = _checks(after_result)
    assert after["bundles verify"] == [] and after["signature"] == [], after
    assert after["trust root"] == [
        "the trust root is the local development instance's; the policy does not allow it "
        "(trust.allow_development_root: true)"
    ]
    assert "refreshed through TUF, production" in after_result.stderr
    # sigstore-python reads the same store: its production root is now the instance's too
    bundle = Bundle.from_json((release.dist / f"{g.WHEEL}.sigstore.json").read_bytes())
    verifier = Verifier(trusted_root=ClientTrustConfig.production(offline=True).trusted_root)
    verifier.verify_artifact(release.wheel.read_bytes(), bundle, UnsafeNoOp())


@pytest.mark.network
def test_a_refreshed_root_is_as_old_as_its_update(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    repository: Path,
    store: Store,
    tmp_path: Path,
) -> None:
    policy = g.strict_policy(instance)
    policy["trust"] = "production"
    policy["max_trust_root_age"] = "1d"
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    with tuf_repository.serve(repository.parent) as url:
        assert _update(invoke, url, repository).exit_code == 0
    now = g.utc_now()
    fresh = invoke(
        "verify", "--policy", str(path), "--json", "--now", g.stamp(now), str(release.wheel)
    )
    assert not any("older than" in f for f in _checks(fresh)["trust root"]), _checks(fresh)
    later = g.stamp(now + 3 * g.DAY)
    old = invoke("verify", "--policy", str(path), "--json", "--now", later, str(release.wheel))
    [message] = [f for f in _checks(old)["trust root"] if "older than" in f]
    assert message.startswith("the trust root is 3 days old (current as of ")
    assert message.endswith(
        "older than the policy's max_trust_root_age (1d); run `attest trust update` on a host "
        "with network access to refresh it through Sigstore's TUF repository"
    )


@pytest.mark.network
def test_a_tampered_target_is_refused_and_nothing_is_stored(
    invoke: Invoke, repository: Path, store: Store
) -> None:
    with tuf_repository.serve(repository.parent) as url:
        assert _update(invoke, url, repository).exit_code == 0
        before = _files(store)
        target = repository.parent / "targets" / "trusted_root.json"
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01  # same length, another hash
        target.write_bytes(bytes(data))
        result = _update(invoke, url, repository)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert f"the TUF repository at {url} served what does not verify" in result.stderr
    assert "LengthOrHashMismatchError" in result.stderr and "nothing was stored" in result.stderr
    assert _files(store) == before  # the earlier update whole, nothing of this one


@pytest.mark.network
def test_a_first_update_refused_leaves_no_store(
    invoke: Invoke, repository: Path, store: Store
) -> None:
    (repository.parent / "targets" / "trusted_root.json").write_bytes(b"{}")
    with tuf_repository.serve(repository.parent) as url:
        result = _update(invoke, url, repository)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "nothing was stored" in result.stderr
    assert not store.metadata.exists() and not store.targets.exists()
    assert _files(store) == {}


def test_an_unreachable_repository_is_an_operational_error(
    invoke: Invoke, repository: Path, store: Store
) -> None:
    result = _update(invoke, "http://127.0.0.1:1", repository)
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert "cannot fetch from the TUF repository at http://127.0.0.1:1" in result.stderr
    assert "check the network (or --url) and retry" in result.stderr
    assert not store.metadata.exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{}", "not a TUF root metadata file"),
        (b"not json", "not a TUF root metadata file"),
        (None, "a TUF root not signed by a threshold of its own root keys"),
    ],
)
def test_a_bad_bootstrap_root_is_a_usage_error(
    invoke: Invoke,
    repository: Path,
    store: Store,
    tmp_path: Path,
    content: bytes | None,
    reason: str,
) -> None:
    bootstrap = tmp_path / "root.json"
    if content is None:  # a real root, edited after signing
        root = json.loads(repository.read_text())
        root["signed"]["version"] = 2
        content = json.dumps(root).encode()
    bootstrap.write_bytes(content)
    result = _update(invoke, "http://127.0.0.1:1", bootstrap)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{bootstrap}: {reason}" in result.stderr
    assert not store.metadata.exists()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://", "tuf-repo-cdn.sigstore.dev"])
def test_a_url_that_is_not_http_is_a_usage_error(invoke: Invoke, store: Store, url: str) -> None:
    result = invoke("trust", "update", "--url", url)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"--url {url}: not an http(s) URL with a host" in result.stderr
