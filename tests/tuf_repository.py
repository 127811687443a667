"""A real TUF repository for the tests, made with python-tuf's Metadata API: root, timestamp,
snapshot and targets metadata signed with keys generated here, and target files (a trusted
root, a signing config) under `targets/`, republished as newer versions by `publish`; served
on 127.0.0.1 by `serve`."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (  # type: ignore[attr-defined]
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from tests.loopback import serving

ROLES = ("root", "timestamp", "snapshot", "targets")


def build(directory: Path, targets: dict[str, bytes], days: int = 30) -> Path:
    """A repository in `directory` serving `targets` (name -> bytes), its metadata expiring in
    `days`; the path of its root.json (what a client bootstraps from)."""
    return Repository.create(directory, targets, days).directory / "root.json"


@dataclasses.dataclass
class Repository:
    """A repository and its keys, to publish new versions of its targets."""

    directory: Path
    signers: dict[str, CryptoSigner]
    expires: datetime.datetime

    @classmethod
    def create(cls, directory: Path, targets: dict[str, bytes], days: int = 30) -> Repository:
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
        repository = cls(
            directory, {role: CryptoSigner.generate_ecdsa() for role in ROLES}, expires
        )
        root = Root(expires=expires, consistent_snapshot=False)
        for role, signer in repository.signers.items():
            root.add_key(signer.public_key, role)
        (directory / "targets").mkdir(parents=True)
        repository._sign(root)
        (directory / "1.root.json").write_bytes((directory / "root.json").read_bytes())
        repository.publish(targets, 1)
        return repository

    def _sign(self, payload: Any) -> None:
        metadata = Metadata(payload)
        metadata.sign(self.signers[payload.type])
        metadata.to_file(str(self.directory / f"{payload.type}.json"))

    def publish(self, targets: dict[str, bytes], version: int) -> None:
        """Serve `targets` as `version` of the targets, snapshot and timestamp metadata."""
        listed = Targets(version=version, expires=self.expires)
        for name, data in targets.items():
            listed.targets[name] = TargetFile.from_data(name, data, ["sha256"])
            (self.directory / "targets" / name).write_bytes(data)
        meta = {"targets.json": MetaFile(version=version)}
        self._sign(listed)
        self._sign(Snapshot(version=version, expires=self.expires, meta=meta))
        self._sign(Timestamp(version, expires=self.expires, snapshot_meta=MetaFile(version)))


Hook = Callable[[SimpleHTTPRequestHandler], bool]


@contextmanager
def serve(directory: Path, lifetime: float = 60, hook: Hook | None = None) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a test doing so is marked `network`); `hook`
    sees each GET first, and answers it itself when it returns True."""

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:
            if hook is None or not hook(self):
                super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler, lifetime) as url:
        yield url
