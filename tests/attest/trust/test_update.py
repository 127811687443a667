"""`attest trust update` against a real TUF repository built here and served on 127.0.0.1: the
refreshed root lands where sigstore-python keeps it, the gate reads it for `trust: production`,
and whatever does not verify is refused with nothing stored."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier
from sigstore.verify.policy import UnsafeNoOp

from attest.trust.update import update
from tests import loopback, tuf_repository
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.errors import ExitCode
from verify.sigstore_adapter import embedded_trusted_root, embedded_tuf_root
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
    """What the store holds (the updates' lock file, empty, aside)."""
    found = {}
    for top in (store.metadata.parent, store.targets.parent):
        for path in sorted(top.rglob("*")) if top.exists() else ():
            if path.is_file() and not path.name.endswith(".attest-lock"):
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


def _trust_check(result: Result) -> dict[str, str]:
    [decision] = json.loads(result.stdout)["decisions"]
    [check] = [c for c in decision["checks"] if c["check"] == "trust root"]
    return {"expected": check["expected"], "actual": check["actual"]}


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
    # the root expected is the refreshed one, named (not "the embedded production root")
    path, updated = store.targets / "trusted_root.json", stored["updated"]
    assert _trust_check(after_result)["expected"] == (
        f"the production root refreshed through TUF ({path}, updated {updated}) (not development)"
    )
    # sigstore-python reads the same store: its production root is now the instance's too
    bundle = Bundle.from_json((release.dist / f"{g.WHEEL}.sigstore.json").read_bytes())
    verifier = Verifier(trusted_root=ClientTrustConfig.production(offline=True).trusted_root)
    verifier.verify_artifact(release.wheel.read_bytes(), bundle, UnsafeNoOp())


@pytest.mark.network
def test_a_store_a_failed_signing_left_is_not_a_refreshed_root(
    invoke: Invoke, instance: LocalInstance, release: g.Release, store: Store, tmp_path: Path
) -> None:
    """sigstore-python, asked to sign against production on a host without network, leaves its
    TUF root and its embedded targets in the store, and no targets metadata. On an air-gapped
    host nobody can run `attest trust update`: the gate reads the embedded root and says why
    (the bundles of the local instance do not verify under it: denied, not a usage error)."""
    store.metadata.mkdir(parents=True)
    shutil.copy(embedded_tuf_root("production"), store.metadata / "root.json")
    store.targets.mkdir(parents=True)
    shutil.copy(embedded_trusted_root("production"), store.targets / "trusted_root.json")
    result = _gate(invoke, instance, release, tmp_path)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert _checks(result)["bundles verify"], _checks(result)
    trust = _trust_check(result)
    assert trust["expected"] == "the embedded production root (not development)"
    assert trust["actual"].startswith("embedded in sigstore, production (not development, ")
    assert trust["actual"].endswith(
        f"; note: not a refreshed root: {store.metadata} holds no TUF targets metadata (no "
        "update completed there)"
    )


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


@pytest.fixture
def published(tmp_path: Path) -> tuf_repository.Repository:
    """A repository whose trusted root is the embedded staging one (a real root that is not
    production's), to publish newer versions of."""
    raw = embedded_trusted_root("staging").read_bytes()
    return tuf_repository.Repository.create(tmp_path / "published", {"trusted_root.json": raw})


def _stored_version(store: Store) -> int:
    version: int = json.loads((store.metadata / "timestamp.json").read_bytes())["signed"]["version"]
    return version


@pytest.mark.network
def test_updates_at_once_take_turns_and_the_newer_root_stays(
    published: tuf_repository.Repository, store: Store, tmp_path: Path
) -> None:
    """B fetches version 2 from a slow server; A starts meanwhile, from version 3. Without the
    lock both staged the same store, A installed 3 and B, finishing last, installed its 2 over
    it. With it A waits for B, then updates from B's 2 to 3."""
    published.publish({"trusted_root.json": embedded_trusted_root("staging").read_bytes()}, 2)
    old = tmp_path / "version-2"
    shutil.copytree(published.directory, old)
    newer = embedded_trusted_root("production").read_bytes()
    published.publish({"trusted_root.json": newer}, 3)
    bootstrap = published.directory / "root.json"
    b_fetching, b_may_go = threading.Event(), threading.Event()

    def slow(handler: object) -> bool:
        if not b_fetching.is_set():
            b_fetching.set()
            b_may_go.wait(10)
        return False

    done: dict[str, object] = {}

    def run(name: str, url: str) -> None:
        try:
            done[name] = update("production", url, bootstrap)
        except Exception as e:
            done[name] = e

    with (
        tuf_repository.serve(old, hook=slow) as slow_url,
        tuf_repository.serve(published.directory) as url,
    ):
        b = threading.Thread(target=run, args=("B", slow_url))
        b.start()
        assert b_fetching.wait(10)
        a = threading.Thread(target=run, args=("A", url))
        a.start()
        a.join(timeout=2)  # without the lock, A is done by now
        assert a.is_alive(), done
        b_may_go.set()
        b.join(timeout=20)
        a.join(timeout=20)
    assert [type(done["B"]).__name__, type(done["A"]).__name__] == ["Updated", "Updated"], done
    assert _stored_version(store) == 3
    assert (store.targets / "trusted_root.json").read_bytes() == newer


@pytest.mark.network
def test_the_url_credentials_are_sent_never_shown_nor_recorded(
    invoke: Invoke, published: tuf_repository.Repository, store: Store
) -> None:
    bootstrap = published.directory / "root.json"
    sent: list[str | None] = []

    def seen(handler: Any) -> bool:
        sent.append(handler.headers.get("Authorization"))
        return False

    with tuf_repository.serve(published.directory, hook=seen) as url:
        with_credentials = url.replace("http://", "http://alice:S3CRET@")
        result = _update(invoke, with_credentials, bootstrap, "--json")
    assert result.exit_code == 0, result.stderr
    basic = "Basic " + base64.b64encode(b"alice:S3CRET").decode()
    assert sent and set(sent) == {basic}  # sent with every request
    assert f"production trust root updated from {url} (TUF root version 1)" in result.stderr
    assert json.loads(result.stdout)["url"] == url
    assert "S3CRET" not in result.stdout + result.stderr
    assert json.loads(store.record.read_bytes())["url"] == url
    assert stat.S_IMODE(store.record.stat().st_mode) == 0o600
    failed = _update(invoke, "http://alice:S3CRET@127.0.0.1:1", bootstrap)
    assert failed.exit_code == ExitCode.OPERATIONAL, failed.stderr
    assert "cannot fetch from the TUF repository at http://127.0.0.1:1: " in failed.stderr
    assert "S3CRET" not in failed.stderr and "alice" not in failed.stderr


@pytest.mark.parametrize(
    ("tail", "shown"),
    [("/?token=T0KEN", "/"), ("/#T0KEN", "/"), ("?", ""), ("/;x=T0KEN?token=T0KEN", "/")],
)
def test_a_url_with_a_query_or_fragment_is_a_usage_error(
    invoke: Invoke, store: Store, tail: str, shown: str
) -> None:
    """The TUF paths are appended to the URL: a query would end up inside them."""
    result = invoke("trust", "update", "--url", f"http://alice:S3CRET@127.0.0.1:1{tail}")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert (
        f"--url http://127.0.0.1:1{shown}: a query or fragment is refused: the TUF paths"
    ) in result.stderr
    assert "T0KEN" not in result.stderr and "S3CRET" not in result.stderr
    assert not store.metadata.exists()


@pytest.mark.network
def test_a_server_that_drips_is_given_up_at_the_timeout(
    invoke: Invoke, published: tuf_repository.Repository, store: Store
) -> None:
    """A byte every 0.2 s never trips the wait for a byte: only the update's deadline ends it."""
    started = time.monotonic()
    with loopback.dripping() as url:
        result = _update(invoke, url, published.directory / "root.json", "--timeout", "2")
    elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert (
        f"fetching from the TUF repository at {url} ran past the timeout of 2 s (--timeout); "
        "nothing was stored: retry, or give a longer --timeout"
    ) in result.stderr
    assert elapsed < 6, elapsed
    assert _files(store) == {}
