"""An artifact's digests, in one streamed read: the one hashing function of the signer and the
gate, so both hash alike, and a 2 GiB artifact never sits in memory. Light on imports: `attest
sign` needs only this of the gate's evidence at start-up."""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from verify.errors import UsageError
from verify.files import NotRegular, open_regular

_CHUNK = 1 << 20

Digests = dict[str, str]  # algorithm -> hex, sha256 always among them


class ArtifactError(UsageError):
    """An artifact named on the command line cannot be read: fix the command line."""


def digest_file(
    path: Path, algorithms: Iterable[str] = ("sha256",), walked: bool = False
) -> Digests:
    """The artifact's digests in one read (sha256 always). `walked`: the caller found the
    directory of `path`, as spelled, in no kernel pseudo file system (files.named_pseudo_root),
    so a `path` that is no symlink is opened without walking every component again (10
    readlinks an artifact); a symlink is walked as ever."""
    hashers = {name: hashlib.new(name) for name in {"sha256", *algorithms}}
    try:
        with _opened(path, walked) as handle:
            while chunk := handle.read(_CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: no such artifact") from e
    except NotRegular as e:
        raise ArtifactError(str(e)) from e
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def _opened(path: Path, walked: bool) -> BinaryIO:
    if walked:
        try:
            return open_regular(path, follow_symlinks=False, walked=True)
        except OSError as e:
            if e.errno != errno.ELOOP:  # ELOOP: a symlink, walked below
                raise
    return open_regular(path)


def sha256_file(path: Path) -> str:
    return digest_file(path)["sha256"]
