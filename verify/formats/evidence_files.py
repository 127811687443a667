"""Evidence files that hold several bundles, in the layouts users already keep them in:

- `gh attestation download`'s `<algorithm>:<hex>.jsonl` (`<algorithm>-<hex>.jsonl` where a colon
  cannot be in a file name, as gh writes it on Windows): one Sigstore bundle JSON per line, the
  attestations GitHub holds for the artifact of that digest;
- PyPI's provenance object, the Integrity API's response
  (`https://pypi.org/integrity/<project>/<version>/<dist>/provenance`) saved beside the
  distribution under the last two segments of that URL, `<dist>.provenance`: PEP 740
  attestations grouped by publisher.

Each item is read bounded and handed on as bytes, labelled with where it is in the file, to be
verified as every bundle is; what the file says beside the items (gh's file name, PyPI's
`publisher`) is never believed. A file not in its layout (a line that is not JSON or is over the
limit, a provenance object of another shape) is an InputError naming the file and the line."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from verify import bundle_form
from verify.errors import InputError
from verify.files import MIB, open_regular
from verify.formats import strict_json

# `sha256:<64 hex>.jsonl`, `sha512-<128 hex>.jsonl`: the digest gh downloaded the file for
_GH_JSONL = re.compile(r"(?:(sha256)[:-]([0-9a-f]{64})|(sha512)[:-]([0-9a-f]{128}))\.jsonl")
PROVENANCE_SUFFIX = ".provenance"
MAX_ITEM = 64 * MIB  # one bundle, as `evidence.MAX_BUNDLE`
MAX_FILE = 256 * MIB  # a whole jsonl file: gh downloads at most 1,000 attestations (--limit)
MAX_ITEMS = 1_000


@dataclasses.dataclass(frozen=True)
class Item:
    where: str  # `line 3`, `attestation_bundles[0].attestations[1]`
    raw: bytes  # the bundle's JSON, or (pep740) a PEP 740 attestation's
    pep740: bool


def gh_digest(file_name: str) -> tuple[str, str] | None:
    """The (algorithm, hex) a gh attestation file is named for, or None for another name."""
    found = _GH_JSONL.fullmatch(file_name)
    if found is None:
        return None
    algorithm, hexdigest = found[1] or found[3], found[2] or found[4]
    return algorithm, hexdigest


def is_evidence_file(file_name: str) -> bool:
    return gh_digest(file_name) is not None or file_name.endswith(PROVENANCE_SUFFIX)


def _json(raw: bytes, shown: Path, where: str) -> Any:
    """The JSON in `raw`, bounded as a bundle is; InputError naming the file and place."""
    try:
        bundle_form.bounded(raw)
        return strict_json.loads(raw)  # a repeated key refused: one reading, as everywhere
    except bundle_form.Malformed as e:
        raise InputError(shown, f"{where}: {e}") from e
    except strict_json.NotJson as e:  # its message, never the text it read
        raise InputError(shown, f"{where}: not JSON: {e}") from e


def is_version_1(data: dict[str, Any]) -> bool:
    """`"version": 1`, the integer: not `true` or `1.0`, which Python finds equal to it."""
    version = data.get("version")
    return type(version) is int and version == 1


def jsonl_items(read: Path, shown: Path, follow_symlinks: bool) -> tuple[list[Item], str]:
    """The bundles of a gh attestation file and the sha256 of its bytes: each line read at
    most MAX_ITEM bytes at a time, the file at most MAX_FILE; blank lines skipped. OSError when
    it cannot be read."""
    items: list[Item] = []
    total = 0
    whole = hashlib.sha256()
    with open_regular(read, follow_symlinks) as handle:
        number = 0
        while line := handle.readline(MAX_ITEM + 1):
            number += 1
            total += len(line)
            whole.update(line)
            if len(line) > MAX_ITEM:
                limit = f"{MAX_ITEM / MIB:g} MiB"
                raise InputError(shown, f"line {number}: over the {limit} limit for a bundle")
            if total > MAX_FILE:
                raise InputError(shown, f"over the {MAX_FILE / MIB:g} MiB limit for a gh file")
            if not line.strip():
                continue
            if len(items) == MAX_ITEMS:
                raise InputError(shown, f"more than {MAX_ITEMS:,} bundles (line {number})")
            if not isinstance(_json(line, shown, f"line {number}"), dict):
                raise InputError(shown, f"line {number}: not a JSON object (a bundle)")
            items.append(Item(f"line {number}", line.strip(), pep740=False))
    return items, whole.hexdigest()


def provenance_items(raw: bytes, shown: Path) -> list[Item]:
    """The PEP 740 attestations of a PyPI provenance object (its `publisher` is PyPI's word,
    not evidence: each attestation's certificate says who signed)."""
    data = _json(raw, shown, "provenance object")
    groups = data.get("attestation_bundles") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not is_version_1(data) or not isinstance(groups, list):
        raise InputError(
            shown,
            "not a PyPI provenance object (version 1 with attestation_bundles): save the "
            "response of https://pypi.org/integrity/<project>/<version>/<dist>/provenance",
        )
    items = []
    for i, group in enumerate(groups):
        attestations = group.get("attestations") if isinstance(group, dict) else None
        if not isinstance(attestations, list):
            raise InputError(shown, f"attestation_bundles[{i}]: no list of attestations")
        for j, attestation in enumerate(attestations):
            where = f"attestation_bundles[{i}].attestations[{j}]"
            items.append(Item(where, json.dumps(attestation).encode(), pep740=True))
    if not items:  # an empty set never allows, nor is it evidence of anything
        raise InputError(shown, "a provenance object with no attestation")
    if len(items) > MAX_ITEMS:
        raise InputError(shown, f"more than {MAX_ITEMS:,} attestations")
    return items
