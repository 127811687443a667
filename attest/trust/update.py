"""`attest trust update`: refresh public Sigstore's trusted root through its TUF repository, the
one step of the pipeline that goes online for the gate, and store it where sigstore-python and
the gate read it (verify/trust_store.py).

Everything is fetched and verified in a staging directory beside the store (python-tuf's
ngclient: root rotations, timestamp, snapshot, targets, then the targets' lengths and hashes);
only when all of it verified, and the trusted root is one sigstore can use, do the files move
into place, the targets first, then the metadata that vouches for them, then attest's record of
when. A refusal leaves the store as it was.

One update at a time per store (a lock file beside it, held from reading the stored root to the
record): two at once would each stage from the same stored metadata, and the one finishing last
would install its copy over the other's newer one. The whole update has one deadline
(`--timeout`): every wait on the network lasts at most what is left of it, and a read returns
what has arrived, so a server sending a byte at a time cannot hold it. The URL's credentials
(user and password, sent as HTTP basic authentication) are never printed nor recorded."""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import urllib3
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata
from tuf.ngclient.updater import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from attest import __version__
from attest.output import write_atomic
from attest.urls import redacted, without_credentials
from verify.errors import InputError, OperationalError, PolicyRefusal, UsageError, without_input
from verify.files import NotRegular, TooLarge, read_limited
from verify.sigstore_adapter import TUF_URLS, embedded_tuf_root
from verify.text import shown
from verify.timeouts import spoken
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


TIMEOUT = datetime.timedelta(minutes=5)  # `--timeout`'s default: public Sigstore's is ~50 KB
_GAP = 30.0  # seconds without a byte before a download is given up (python-tuf's own)
_POLL = 0.1  # seconds between attempts at another update's lock


class PastDeadline(tuf_errors.SlowRetrievalError):
    """The update's `--timeout` passed while it waited on the network."""


class _Fetcher(Urllib3Fetcher):
    """python-tuf's fetcher under one deadline (a `time.monotonic()` value) for the whole
    update: a connection and each wait for a byte last at most what is left of it (and at most
    _GAP; no retry starts the wait again), and a read returns what has arrived, so that the
    deadline is checked as often as a byte comes. The URL's user and password are sent as basic
    authentication."""

    def __init__(self, deadline: float) -> None:
        super().__init__(app_user_agent=f"attest/{__version__}")
        self.deadline = deadline

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise PastDeadline("the update's deadline passed")
        return min(left, _GAP)

    def _fetch(self, url: str) -> Iterator[bytes]:
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
        headers = urllib3.make_headers(basic_auth=unquote(userinfo)) if userinfo else {}
        try:
            response = self._proxy_env.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                timeout=urllib3.Timeout(self._left()),
                retries=urllib3.Retry(connect=0, read=0, redirect=3),  # a retry restarts the wait
            )
        except urllib3.exceptions.MaxRetryError as e:
            if isinstance(e.reason, urllib3.exceptions.TimeoutError):
                self._left()  # the deadline, if that is what passed
                raise tuf_errors.SlowRetrievalError from e
            raise
        if response.status >= 400:
            response.close()
            raise tuf_errors.DownloadHTTPError(
                f"HTTP error occurred with status {response.status}", response.status
            )
        return self._chunks(response)

    def _chunks(self, response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
        try:
            while True:
                left = self._left()
                # the connection keeps its socket unless the server closes after the response
                # (HTTP/1.0): then each wait is bounded by what was left at the request
                sock = getattr(response.connection, "sock", None)
                if sock is not None:
                    sock.settimeout(left)
                chunk = response.read1(self.chunk_size)
                if not chunk:
                    return
                yield chunk
        except urllib3.exceptions.TimeoutError as e:
            self._left()
            raise tuf_errors.SlowRetrievalError from e
        finally:
            response.release_conn()


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
def _locked(store: Store, deadline: float, timeout: datetime.timedelta) -> Iterator[None]:
    """Hold the store's lock (a file beside its metadata directory) for the block, waiting for
    another update holding it until the deadline."""
    store.metadata.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    require_own(store.metadata.parent)
    lock = store.metadata.parent / f".{store.metadata.name}.attest-lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise UpdateFailed(f"cannot open the store's lock {lock}: {e.strerror or e}") from e
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UpdateFailed(
                        f"another `attest trust update` held {lock} past the timeout of "
                        f"{spoken(timeout)} (--timeout); nothing was stored: retry when it "
                        "has finished"
                    ) from None
                time.sleep(_POLL)
        yield
    finally:
        os.close(fd)  # releases the lock


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


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where the update fetches from: `url` as given (its credentials sent), `shown` without
    them (what is printed and recorded), and the deadline of the whole update."""

    url: str
    shown: str
    deadline: float
    timeout: datetime.timedelta


def _fetch(source: _Source, bootstrap: bytes, stage: Store) -> int:
    """Refresh the staged metadata from the source and download the targets into the stage;
    the version of the TUF root that vouched for them."""
    updater = Updater(
        metadata_dir=str(stage.metadata),
        metadata_base_url=source.url,
        target_base_url=f"{source.url}/targets/",
        target_dir=str(stage.targets),
        fetcher=_Fetcher(source.deadline),
        bootstrap=bootstrap,
    )
    updater.refresh()
    for name in (TRUSTED_ROOT, SIGNING_CONFIG):
        info = updater.get_targetinfo(name)
        if info is not None:
            updater.download_target(info, str(stage.targets / name))
        elif name == TRUSTED_ROOT:
            raise UpdateRefused(
                f"the TUF repository at {source.shown} lists no {TRUSTED_ROOT} target"
            )
    version: int = Metadata.from_file(str(stage.metadata / "root.json")).signed.version
    return version


def _refresh(source: _Source, bootstrap: bytes, stage: Store) -> int:
    """`_fetch`, its failures turned into the error tree's (what to do next said, no
    credential of the URL quoted)."""
    at = f"the TUF repository at {source.shown}"
    try:
        return _fetch(source, bootstrap, stage)
    except PastDeadline as e:
        raise UpdateFailed(
            f"fetching from {at} ran past the timeout of {spoken(source.timeout)} (--timeout); "
            "nothing was stored: retry, or give a longer --timeout"
        ) from e
    except (tuf_errors.RepositoryError, tuf_errors.DownloadLengthMismatchError) as e:
        reason = redacted(without_input(e), source.url)
        raise UpdateRefused(
            f"{at} served what does not verify ({type(e).__name__}: {reason}); nothing was stored"
        ) from e
    except tuf_errors.DownloadError as e:
        reason = redacted(without_input(e.__cause__ or e), source.url)
        raise UpdateFailed(
            f"cannot fetch from {at}: {reason}; nothing was stored: check the network (or "
            "--url) and retry"
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


def _source(name: str, url: str | None, timeout: datetime.timedelta) -> _Source:
    given = url or TUF_URLS[name]
    parts = urlsplit(given)
    public = without_credentials(given)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {shown(public)}: not an http(s) URL with a host")
    if parts.query or parts.fragment or given.endswith(("?", "#")):
        raise UsageError(
            f"--url {shown(public)}: a query or fragment is refused: the TUF paths "
            "(/timestamp.json, /targets/…) are appended to the URL, so it would end up inside "
            "them; give the repository's base URL"
        )
    deadline = time.monotonic() + timeout.total_seconds()
    return _Source(given.rstrip("/"), public.rstrip("/"), deadline, timeout)


def update(
    name: str,
    url: str | None = None,
    bootstrap_root: Path | None = None,
    timeout: datetime.timedelta = TIMEOUT,
) -> Updated:
    """Refresh the trusted root of `name` (`production` or `staging`) from its TUF repository
    (or `url`, a mirror or a repository of one's own, trusted from `bootstrap_root`), all of it
    within `timeout`."""
    source = _source(name, url, timeout)
    store = store_for(name)
    with _locked(store, source.deadline, timeout):
        bootstrap = _bootstrap(name, bootstrap_root, store)
        with _staging(store) as stage:
            root_version = _refresh(source, bootstrap, stage)
            raw = (stage.targets / TRUSTED_ROOT).read_bytes()
            read_root(raw, f"{source.shown}/targets/{TRUSTED_ROOT}")  # one the gate can use
            try:
                _install(stage, store)
            except OSError as e:
                raise UpdateFailed(f"cannot store the update: {e.strerror or e}") from e
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        sha256 = hashlib.sha256(raw).hexdigest()
        record = {"updated": now.isoformat(), "url": source.shown, "trusted_root_sha256": sha256}
        write_atomic(store.record, json.dumps(record, sort_keys=True).encode() + b"\n")
        store.record.chmod(0o600)  # no secret in it (the URL without credentials): private anyway
    return Updated(name, source.shown, store.targets / TRUSTED_ROOT, sha256, now, root_version)
