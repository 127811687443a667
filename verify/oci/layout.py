"""OCI image layout directories (image-spec `image-layout.md`): `oci-layout`, `index.json` and
`blobs/sha256/<hex>`, read offline. The image is the one manifest `index.json` lists, or the one
named `DIR@sha256:<hex>`; every blob read is checked against its digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from verify.errors import InputError
from verify.files import MIB, NotRegular, TooLarge, read_limited
from verify.oci.client import MANIFEST_TYPES, MAX_MANIFEST, Manifest
from verify.oci.reference import DIGEST, is_oci


def is_layout(argument: str) -> bool:
    """Whether `argument` names an OCI layout directory (`DIR` or `DIR@sha256:<hex>`)."""
    directory = Path(argument.partition("@")[0] if "@sha256:" in argument else argument)
    return (directory / "oci-layout").is_file()


def is_image(argument: str) -> bool:
    """Whether a command-line argument names an image: `oci://…` or a layout directory."""
    return is_oci(argument) or is_layout(argument)


def _read(directory: Path, relative: str, limit: int) -> bytes:
    try:
        return read_limited(directory / relative, limit, relative)
    except FileNotFoundError as e:
        raise InputError(directory, f"not a complete OCI image layout: no {relative}") from e
    except (TooLarge, NotRegular, OSError) as e:
        raise InputError(directory, f"{relative}: {e}") from e


def _json(directory: Path, relative: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise InputError(directory, f"{relative}: not JSON") from e


def blob(directory: Path, digest: str, limit: int = MAX_MANIFEST) -> bytes:
    relative = "blobs/" + digest.replace(":", "/", 1)
    data = _read(directory, relative, limit)
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise InputError(directory, f"{relative}: its content does not have its digest")
    return data


def image(argument: str) -> tuple[Path, Manifest]:
    """The layout directory and the image manifest `argument` names."""
    path, _, wanted = argument.partition("@") if "@sha256:" in argument else (argument, "", "")
    directory = Path(path)
    if wanted and not DIGEST.fullmatch(wanted):
        raise InputError(directory, "the digest must be sha256:<64 lowercase hex>")
    layout = _json(directory, "oci-layout", _read(directory, "oci-layout", 4096))
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise InputError(directory, "oci-layout: not imageLayoutVersion 1.0.0")
    index = _json(directory, "index.json", _read(directory, "index.json", 4 * MIB))
    listed = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(listed, list):
        raise InputError(directory, "index.json: not an image index")
    images = [
        d
        for d in listed
        if isinstance(d, dict)
        and d.get("mediaType") in MANIFEST_TYPES
        and isinstance(d.get("digest"), str)
        and DIGEST.fullmatch(d["digest"])
    ]
    if wanted:
        images = [d for d in images if d["digest"] == wanted]
    if len(images) != 1:
        which = f"no image {wanted}" if wanted else f"{len(images)} images"
        raise InputError(directory, f"index.json lists {which}: name one as DIR@sha256:<hex>")
    digest = images[0]["digest"]
    return directory, Manifest(digest, images[0]["mediaType"], blob(directory, digest))
