"""`attest trust update`: refresh public Sigstore's trusted root through its TUF repository, the
one step of the pipeline that goes online for the gate, and store it where sigstore-python and
the gate read it (verify/trust_store.py).

Everything is fetched and verified in a staging directory beside the store (python-tuf's
ngclient: root rotations, timestamp, snapshot, targets, then the targets' lengths and hashes);
only when all of it verified, and the trusted root is one sigstore can use, do the files move
into place, the targets first, then the metadata that vouches for them, then attest's record of
when. A refusal leaves the store as it was."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.updater import Updater

from attest import __version__
from attest.output import write_atomic
from verify.errors import InputError, OperationalError, PolicyRefusal, UsageError, without_input
from verify.files import NotRegular, TooLarge, read_limited
from verify.sigstore_adapter import TUF_URLS, embedded_tuf_root
from verify.text import shown
from verify.trust import read_root
from verify.trust_store import (
    MAX_METADATA,
    SIGNING_CONFIG,
    TRUSTED_ROOT,
    Store,
    require_own,
    store_for,
)


class UpdateRefused(PolicyRefusal):
    """What the TUF repository served does not verify: nothing of it was stored."""


class UpdateFailed(OperationalError):
    """The TUF repository could not be reached or read, or the store not written: retry."""


@dataclasses.dataclass(frozen=True)
class Updated:
    """What `attest trust update` stored."""

    name: str
    url: str
    path: Path  # the trusted root, where sigstore-python and the gate read it
    sha256: str
    updated: datetime.datetime
    root_version: int  # of the TUF root metadata that vouched for it


def _bootstrap(name: str, given: Path | None, store: Store) -> bytes:
    """The TUF root trust starts from: `given`, else the one stored by the last update (so a
    repository's root rotations are followed, never rolled back), else the one in sigstore."""
    path = given or (
        store.metadata / "root.json" if (store.metadata / "root.json").exists() else None
    )
    if path is None:
        return embedded_tuf_root(name).read_bytes()
    try:
        raw = read_limited(path, MAX_METADATA, "a TUF root")
    except (OSError, TooLarge, NotRegular) as e:
        raise InputError(path, f"cannot read the TUF root: {without_input(e)}") from e
    try:
        root = Metadata.from_bytes(raw)
        if root.signed.type != "root":
            raise ValueError(f"it is {root.signed.type} metadata, not root")
        root.verify_delegate("root", root)
    except tuf_errors.UnsignedMetadataError as e:
        raise InputError(path, "a TUF root not signed by a threshold of its own root keys") from e
    except Exception as e:
        raise InputError(path, f"not a TUF root metadata file: {without_input(e)}") from e
    return raw


@contextmanager
def _staging(store: Store) -> Iterator[Store]:
    """Private directories beside the store's (same file systems, so files move by renaming),
    the metadata copied in so that the update starts from what is stored; removed at the end."""
    for directory in (store.metadata.parent, store.targets.parent):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        require_own(directory)
    meta = Path(tempfile.mkdtemp(prefix=".attest-update-", dir=store.metadata.parent))
    targets = Path(tempfile.mkdtemp(prefix=".attest-update-", dir=store.targets.parent))
    try:
        if store.metadata.is_dir():
            require_own(store.metadata)
            shutil.copytree(store.metadata, meta, symlinks=True, dirs_exist_ok=True)
        yield Store(meta, targets)
    finally:
        shutil.rmtree(meta, ignore_errors=True)
        shutil.rmtree(targets, ignore_errors=True)


def _fetch(url: str, bootstrap: bytes, stage: Store) -> int:
    """Refresh the staged metadata from `url` and download the targets into the stage; the
    version of the TUF root that vouched for them."""
    updater = Updater(
        metadata_dir=str(stage.metadata),
        metadata_base_url=url,
        target_base_url=f"{url}/targets/",
        target_dir=str(stage.targets),
        config=UpdaterConfig(app_user_agent=f"attest/{__version__}"),
        bootstrap=bootstrap,
    )
    updater.refresh()
    for name in (TRUSTED_ROOT, SIGNING_CONFIG):
        info = updater.get_targetinfo(name)
        if info is not None:
            updater.download_target(info, str(stage.targets / name))
        elif name == TRUSTED_ROOT:
            raise UpdateRefused(f"the TUF repository at {url} lists no {TRUSTED_ROOT} target")
    version: int = Metadata.from_file(str(stage.metadata / "root.json")).signed.version
    return version


def _refresh(url: str, bootstrap: bytes, stage: Store) -> int:
    """`_fetch`, its failures turned into the error tree's (what to do next said)."""
    try:
        return _fetch(url, bootstrap, stage)
    except (tuf_errors.RepositoryError, tuf_errors.DownloadLengthMismatchError) as e:
        raise UpdateRefused(
            f"the TUF repository at {url} served what does not verify "
            f"({type(e).__name__}: {without_input(e)}); nothing was stored"
        ) from e
    except tuf_errors.DownloadError as e:
        cause = e.__cause__ or e
        raise UpdateFailed(
            f"cannot fetch from the TUF repository at {url}: {without_input(cause)}; nothing "
            "was stored: check the network (or --url) and retry"
        ) from e
    except OSError as e:
        raise UpdateFailed(f"cannot stage the update: {e.strerror or e}") from e


def _install(stage: Store, store: Store) -> None:
    """Move the staged files into the store: the targets first, then the metadata vouching
    for them (a reader in between finds them disagree and refuses; it never believes a mix)."""
    for source, target in ((stage.targets, store.targets), (stage.metadata, store.metadata)):
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in sorted(source.rglob("*"), key=lambda p: (p.is_symlink(), str(p))):
            destination = target / path.relative_to(source)
            if path.is_dir() and not path.is_symlink():
                destination.mkdir(exist_ok=True, mode=0o700)
            else:
                path.replace(destination)


def update(name: str, url: str | None = None, bootstrap_root: Path | None = None) -> Updated:
    """Refresh the trusted root of `name` (`production` or `staging`) from its TUF repository
    (or `url`, a mirror or a repository of one's own, trusted from `bootstrap_root`)."""
    given = url or TUF_URLS[name]
    parts = urlsplit(given)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {shown(given)}: not an http(s) URL with a host")
    url = given.rstrip("/")
    store = store_for(name)
    bootstrap = _bootstrap(name, bootstrap_root, store)
    with _staging(store) as stage:
        root_version = _refresh(url, bootstrap, stage)
        raw = (stage.targets / TRUSTED_ROOT).read_bytes()
        read_root(raw, f"{url}/targets/{TRUSTED_ROOT}")  # one the gate can use, or refused
        try:
            _install(stage, store)
        except OSError as e:
            raise UpdateFailed(f"cannot store the update: {e.strerror or e}") from e
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    sha256 = hashlib.sha256(raw).hexdigest()
    record = {"updated": now.isoformat(), "url": url, "trusted_root_sha256": sha256}
    write_atomic(store.record, json.dumps(record, sort_keys=True).encode() + b"\n")
    return Updated(name, url, store.targets / TRUSTED_ROOT, sha256, now, root_version)
