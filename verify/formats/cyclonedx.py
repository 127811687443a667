"""The one reader of a CycloneDX JSON SBOM's components, for the scan, the provenance stage and
the gate alike: every component, nested ones included, in one linear walk (document order)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from verify.text import quoted

_SHOWN = 80  # characters of a component's name a message quotes
_NOT_SPDX_IDS = {"AND", "OR", "WITH"}


class MalformedBom(ValueError):
    """Components, or their fields, that are not what CycloneDX says. The message names the
    field and quotes at most a component's name, in short: every reader refuses the document."""


@dataclasses.dataclass(frozen=True)
class BomComponent:
    """One component: its text fields as written (None when absent), and the object itself for
    the fields read on demand (hashes, licenses), which few readers need."""

    name: str | None
    version: str | None
    purl: str | None
    data: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)

    @property
    def shown(self) -> str:
        return quoted(self.name, _SHOWN)

    def sha256(self) -> tuple[str, ...]:
        """The SHA-256 digests it lists (a package may list one per distribution file)."""
        entries = self.data.get("hashes", [])
        if not isinstance(entries, list) or not all(
            isinstance(h, dict) and isinstance(h.get("content", ""), str) for h in entries
        ):
            raise MalformedBom(f"component {self.shown}: hashes: expected a list of objects")
        return tuple(
            sorted(h["content"] for h in entries if h.get("alg") == "SHA-256" and "content" in h)
        )

    def licenses(self) -> frozenset[str]:
        """The SPDX ids and license names it declares, those inside expressions included."""
        entries = self.data.get("licenses", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise MalformedBom(f"component {self.shown}: licenses is not a list of objects")
        found: set[str] = set()
        for entry in entries:
            if "expression" in entry:
                if not isinstance(entry["expression"], str):
                    raise MalformedBom(f"component {self.shown}: a non-text expression")
                found |= set(re.findall(r"[A-Za-z0-9.+-]+", entry["expression"])) - _NOT_SPDX_IDS
            if "license" in entry and not isinstance(entry["license"], dict):
                raise MalformedBom(f"component {self.shown}: a license is not an object")
            license_ = entry.get("license", {})
            found |= {v for key in ("id", "name") if isinstance(v := license_.get(key), str)}
        return frozenset(found)


def _component(data: Mapping[str, Any]) -> BomComponent:
    fields = {key: data.get(key) for key in ("name", "version", "purl")}
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            name = fields["name"] if isinstance(fields["name"], str) else None
            raise MalformedBom(f"component {quoted(name, _SHOWN)}: {key} is not text")
    return BomComponent(fields["name"], fields["version"], fields["purl"], data)


def _children(holder: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = holder.get("components", [])
    if not isinstance(items, list):
        raise MalformedBom(f"components: expected a list of objects, got {type(items).__name__}")
    for item in items:
        if not isinstance(item, dict):
            raise MalformedBom(f"components: expected a list of objects, got {type(item).__name__}")
    return items


def components(document: Mapping[str, Any]) -> list[BomComponent]:
    """Every component of a CycloneDX document (the root project in `metadata` apart), nested
    ones included, depth first in document order. Each object is read once, with a stack, not
    recursion: a document nested 10,000 deep is read, never a crash."""
    found: list[BomComponent] = []
    pending = list(reversed(_children(document)))
    while pending:
        data = pending.pop()
        found.append(_component(data))
        pending.extend(reversed(_children(data)))
    return found
