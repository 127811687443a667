"""Public Sigstore trust roots refreshed through TUF (`attest trust update`), kept where
sigstore-python keeps them, so both read the same files: the TUF metadata under the user data
directory and the targets under the user cache directory (platformdirs: `$XDG_DATA_HOME` and
`$XDG_CACHE_HOME` on Linux), in a directory per repository named by its URL.

The gate reads a refreshed root from there offline, and believes it only as the stored TUF
metadata vouches for it: the targets metadata signed by the keys the stored TUF root names, the
file's length and hashes those the targets metadata lists. A store that says otherwise is
refused (never a fall back to the older embedded root). A store without targets metadata or
without the trusted root holds no refreshed root: sigstore-python leaves one so when it cannot
reach its repository (a signing attempt offline); the embedded root is used then, and the gate
says why. The directories must be the user's own (or root's) and writable by nobody else: what
is in them is believed."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import platformdirs
from tuf.api.exceptions import LengthOrHashMismatchError, UnsignedMetadataError
from tuf.api.metadata import Metadata

from verify.errors import UsageError, without_input
from verify.files import MIB, NotRegular, TooLarge, read_limited
from verify.sigstore_adapter import TUF_URLS, tuf_directory_name

TRUSTED_ROOT = "trusted_root.json"  # the TUF target names sigstore-python fetches
SIGNING_CONFIG = "signing_config.v0.2.json"
RECORD = "attest-update.json"  # when `attest trust update` verified which root: attest's own
MAX_METADATA = 4 * MIB
MAX_TARGET = 4 * MIB  # public Sigstore's trusted root is ~10 KB

# sigstore-python's application name and author for platformdirs (sigstore/_internal/tuf.py)
_APP, _AUTHOR = "sigstore-python", "sigstore"


class StoreError(UsageError):
    """The refreshed trust root's store cannot be believed: run `attest trust update` again."""


@dataclasses.dataclass(frozen=True)
class Store:
    """The two directories of one TUF repository's files."""

    metadata: Path  # root.json (root_history/), timestamp, snapshot and targets metadata
    targets: Path  # the target files: trusted_root.json, the signing config

    @property
    def record(self) -> Path:
        return self.metadata / RECORD


def store_for(name: str) -> Store:
    """Where the files of public Sigstore's `production` or `staging` repository are kept,
    whichever URL `attest trust update` fetched them from (a mirror, a test's repository)."""
    directory = tuf_directory_name(TUF_URLS[name])
    data = Path(platformdirs.user_data_dir(_APP, _AUTHOR)) / "tuf"
    cache = Path(platformdirs.user_cache_dir(_APP, _AUTHOR)) / "tuf"
    return Store(data / directory, cache / directory)


@dataclasses.dataclass(frozen=True)
class Refreshed:
    """A trusted root the stored TUF metadata vouches for."""

    path: Path
    raw: bytes
    updated: datetime.datetime | None  # when `attest trust update` verified these bytes


@dataclasses.dataclass(frozen=True)
class Incomplete:
    """A store no update completed in: no refreshed root, and why (for the decision)."""

    why: str


def require_own(directory: Path) -> None:
    """StoreError unless `directory` is the user's (or root's) and only its owner may write."""
    info = directory.stat()
    if info.st_uid not in (os.geteuid(), 0):
        raise StoreError(
            f"{directory} belongs to uid {info.st_uid}, not to you (uid {os.geteuid()}) nor "
            "root: its owner could plant another trust root"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise StoreError(
            f"{directory} has mode {mode:04o}: others could plant another trust root; run "
            f"`chmod 700 {directory}`, then `attest trust update`"
        )


def _read(path: Path, limit: int, what: str) -> bytes:
    try:
        return read_limited(path, limit, what)
    except FileNotFoundError as e:
        raise StoreError(f"{path}: missing, so {what} cannot be checked") from e
    except (TooLarge, NotRegular) as e:
        raise StoreError(str(e)) from e
    except OSError as e:
        raise StoreError(f"{path}: cannot read {what}: {e.strerror or e}") from e


def vouched_target(metadata: Path, name: str, raw: bytes) -> None:
    """StoreError unless the TUF metadata in `metadata` vouches for `raw` as target `name`:
    targets metadata signed by a threshold of the targets keys its root names, listing `name`
    with these bytes' length and hashes. Expiry is not judged: the gate is offline, and the
    policy's `max_trust_root_age` says how old a root may be."""
    try:
        root = Metadata.from_bytes(_read(metadata / "root.json", MAX_METADATA, "TUF root"))
        targets = Metadata.from_bytes(
            _read(metadata / "targets.json", MAX_METADATA, "TUF targets metadata")
        )
        if root.signed.type != "root" or targets.signed.type != "targets":
            raise ValueError("root.json or targets.json holds metadata of another role")
        root.verify_delegate("targets", targets)
    except UnsignedMetadataError as e:
        raise StoreError(
            f"{metadata}: the TUF targets metadata is not signed by the keys of the TUF root "
            "beside it"
        ) from e
    except StoreError:
        raise
    except Exception as e:  # not TUF metadata at all
        raise StoreError(f"{metadata}: unreadable TUF metadata: {without_input(e)}") from e
    signed: Any = targets.signed  # a Targets, checked above
    info = signed.targets.get(name)
    if info is None:
        raise StoreError(f"{metadata}: the TUF targets metadata lists no {name}")
    try:
        info.verify_length_and_hashes(raw)
    except LengthOrHashMismatchError as e:
        raise StoreError(
            f"{name}: its length or hashes are not those the TUF targets metadata lists"
        ) from e


def _updated(store: Store, sha256: str) -> datetime.datetime | None:
    """When `attest trust update` verified the root of digest `sha256`, if it did (another
    client may have refreshed the store since: then nobody says when, and the root's own dates
    decide its age)."""
    try:
        record = json.loads(read_limited(store.record, 64 * 1024, "an update record"))
        if record["trusted_root_sha256"] != sha256:
            return None
        updated = datetime.datetime.fromisoformat(record["updated"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return updated if updated.tzinfo is not None else None


def _incomplete(store: Store) -> Incomplete | None:
    """Why the store holds no refreshed root, if it holds none: no TUF targets metadata, or no
    trusted root file (what sigstore-python leaves when its refresh fails offline)."""
    targets = store.metadata / "targets.json"
    if not os.path.lexists(targets):
        return Incomplete(
            f"{store.metadata} holds no TUF targets metadata (no update completed there)"
        )
    if not store.targets.is_dir() or not os.path.lexists(store.targets / TRUSTED_ROOT):
        return Incomplete(f"{store.targets} holds no {TRUSTED_ROOT} (no update completed there)")
    return None


def refreshed_root(name: str) -> Refreshed | Incomplete | None:
    """The refreshed trusted root of `production` or `staging`, vouched for by the stored TUF
    metadata; None when no TUF metadata was ever stored for it, Incomplete when no update
    completed in the store (the embedded root then); StoreError when what is stored does not
    verify."""
    store = store_for(name)
    if not store.metadata.is_dir():
        return None
    incomplete = _incomplete(store)  # nothing of it read: who may write there does not matter
    if incomplete is not None:
        return incomplete
    require_own(store.metadata)
    require_own(store.targets)
    path = store.targets / TRUSTED_ROOT
    raw = _read(path, MAX_TARGET, "the refreshed trusted root")
    try:
        vouched_target(store.metadata, TRUSTED_ROOT, raw)
    except StoreError as e:
        raise StoreError(
            f"the refreshed {name} trust root cannot be believed: {e}; run `attest trust "
            "update` to fetch it again"
        ) from e
    return Refreshed(path, raw, _updated(store, hashlib.sha256(raw).hexdigest()))
