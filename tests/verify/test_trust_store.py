"""The gate's reading of a refreshed root (verify/trust_store.py), offline: it believes the
stored trusted root only as the stored TUF metadata vouches for it, else refuses naming the
fix; with no store, the root embedded in sigstore."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests import tuf_repository
from verify.sigstore_adapter import embedded_trusted_root
from verify.trust import load_trust
from verify.trust_store import Store, StoreError, store_for


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store as `attest trust update` leaves it, from a repository built here whose trusted
    root is the embedded staging one (a real root that is not production's)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    raw = embedded_trusted_root("staging").read_bytes()
    repository = tuf_repository.build(tmp_path / "repo", {"trusted_root.json": raw}).parent
    found = store_for("production")
    found.metadata.mkdir(parents=True, mode=0o700)
    found.targets.mkdir(parents=True, mode=0o700)
    for name in ("root.json", "timestamp.json", "snapshot.json", "targets.json"):
        shutil.copy(repository / name, found.metadata / name)
    (found.targets / "trusted_root.json").write_bytes(raw)
    return found


def test_the_vouched_root_is_read(store: Store) -> None:
    trust = load_trust("production", None)
    assert trust.origin == "refreshed through TUF, production"
    assert trust.sha256 == load_trust("staging", None).sha256  # the stored bytes, not production's
    assert trust.updated is None  # no record of attest's: the root's own dates decide its age


def test_without_a_store_the_embedded_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "nothing"))
    assert load_trust("production", None).origin == "embedded in sigstore, production"


def test_a_stored_root_the_metadata_does_not_vouch_for_is_refused(store: Store) -> None:
    target = store.targets / "trusted_root.json"
    target.write_bytes(target.read_bytes().replace(b"sigstage", b"sigstagf", 1))
    with pytest.raises(StoreError) as refused:
        load_trust("production", None)
    assert str(refused.value) == (
        "the refreshed production trust root cannot be believed: trusted_root.json: its length "
        "or hashes are not those the TUF targets metadata lists; run `attest trust update` to "
        "fetch it again"
    )


def test_targets_metadata_from_another_repository_is_refused(store: Store, tmp_path: Path) -> None:
    other = tuf_repository.build(tmp_path / "other", {"trusted_root.json": b"{}"}).parent
    shutil.copy(other / "targets.json", store.metadata / "targets.json")
    with pytest.raises(StoreError, match="not signed by the keys of the TUF root beside it"):
        load_trust("production", None)


def test_a_store_others_can_write_to_is_refused(store: Store) -> None:
    store.targets.chmod(0o777)
    with pytest.raises(StoreError, match=r"has mode 0777: others could plant another trust root"):
        load_trust("production", None)


@pytest.mark.parametrize(
    ("missing", "why"),
    [
        ("metadata/targets.json", "{metadata} holds no TUF targets metadata"),
        ("targets/trusted_root.json", "{targets} holds no trusted_root.json"),
        ("targets", "{targets} holds no trusted_root.json"),
    ],
)
def test_a_store_no_update_completed_in_is_not_a_refreshed_root(
    store: Store, missing: str, why: str
) -> None:
    """What sigstore-python leaves when it cannot reach its repository (a signing attempt on an
    offline host): its TUF root, its embedded targets, no targets metadata. That is no
    refreshed root: the embedded one is read, and the decision says why (an offline host could
    never run the `attest trust update` a refusal would ask for)."""
    kind, _, name = missing.partition("/")
    gone = getattr(store, kind) / name if name else getattr(store, kind)
    shutil.rmtree(gone) if gone.is_dir() else gone.unlink()
    store.targets.mkdir(exist_ok=True)
    store.targets.chmod(0o777)  # nothing is read from it: who may write there does not matter
    trust = load_trust("production", None)
    assert trust.origin == "embedded in sigstore, production"
    assert (
        trust.sha256 == hashlib.sha256(embedded_trusted_root("production").read_bytes()).hexdigest()
    )
    assert trust.refreshed is None
    where = why.format(metadata=store.metadata, targets=store.targets)
    assert trust.note == f"not a refreshed root: {where} (no update completed there)"


def test_a_complete_store_that_does_not_verify_is_still_refused(store: Store) -> None:
    """Fail closed: targets metadata and trusted root both there, but the metadata names
    another file (the stored root edited): refused, never the embedded root instead."""
    target = store.targets / "trusted_root.json"
    target.write_bytes(embedded_trusted_root("production").read_bytes())
    with pytest.raises(StoreError, match="its length or hashes are not those the TUF targets"):
        load_trust("production", None)
