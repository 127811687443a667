"""An artifact's digests, in one streamed read: the one hashing function of the signer and the
gate, so both hash alike, and a 2 GiB artifact never sits in memory. Light on imports: `attest
sign` needs only this of the gate's evidence at start-up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from verify.errors import UsageError
from verify.files import NotRegular, open_regular

_CHUNK = 1 << 20

Digests = dict[str, str]  # algorithm -> hex, sha256 always among them


class ArtifactError(UsageError):
    """An artifact named on the command line cannot be read: fix the command line."""


def digest_file(path: Path, algorithms: Iterable[str] = ("sha256",)) -> Digests:
    """The artifact's digests in one read (sha256 always)."""
    hashers = {name: hashlib.new(name) for name in {"sha256", *algorithms}}
    try:
        with open_regular(path) as handle:
            while chunk := handle.read(_CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: no such artifact") from e
    except NotRegular as e:
        raise ArtifactError(str(e)) from e
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def sha256_file(path: Path) -> str:
    return digest_file(path)["sha256"]
