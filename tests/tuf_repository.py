"""A real TUF repository for the tests, made with python-tuf's Metadata API: root, timestamp,
snapshot and targets metadata signed with keys generated here, and target files (a trusted
root, a signing config) under `targets/`; served on 127.0.0.1 by `serve`."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
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
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    signers = {role: CryptoSigner.generate_ecdsa() for role in ROLES}
    root = Root(expires=expires, consistent_snapshot=False)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)
    listed = Targets(expires=expires)
    (directory / "targets").mkdir(parents=True)
    for name, data in targets.items():
        listed.targets[name] = TargetFile.from_data(name, data, ["sha256"])
        (directory / "targets" / name).write_bytes(data)
    snapshot = Snapshot(expires=expires, meta={"targets.json": MetaFile(version=1)})
    timestamp = Timestamp(expires=expires, snapshot_meta=MetaFile(version=1))
    signed: dict[str, Any] = {"root": root, "targets": listed, "snapshot": snapshot}
    signed["timestamp"] = timestamp
    for role, payload in signed.items():
        metadata = Metadata(payload)
        metadata.sign(signers[role])
        metadata.to_file(str(directory / f"{role}.json"))
    (directory / "1.root.json").write_bytes((directory / "root.json").read_bytes())
    return directory / "root.json"


@contextmanager
def serve(directory: Path, lifetime: float = 60) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a test doing so is marked `network`)."""

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler, lifetime) as url:
        yield url
