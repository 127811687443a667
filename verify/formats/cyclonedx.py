"""The one reader of a CycloneDX JSON SBOM's components, for the scan, the provenance stage and
the gate alike: every component, nested ones included, in one linear walk (document order)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from packaging.utils import canonicalize_name

from verify.text import excerpt, quoted

_SHOWN = 80  # characters of a component's name a message quotes
_NOT_SPDX_IDS = {"AND", "OR", "WITH"}


class MalformedBom(ValueError):
    """Components, or their fields, that are not what CycloneDX says. The message names the
    field and quotes at most a component's name, in short: every reader refuses the document."""


@dataclasses.dataclass(frozen=True)
class BomComponent:
    """One component: its name and version (`_identity`: as written, or its PyPI purl's when
    only the purl says them; None when absent) and purl, and the object itself for the fields
    read on demand (hashes, licenses), which few readers need."""

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


def purl_type(purl: str) -> str | None:
    """The type of a package URL, told as packageurl-python (the scan's reader) tells it:
    after `pkg:` and any slashes, lower-cased; None when it is no package URL."""
    scheme, _, rest = purl.partition(":")
    kind, slash, _ = rest.strip().lstrip("/").partition("/")
    return kind.lower() if scheme == "pkg" and slash and kind else None


def _pypi_identity(purl: str) -> tuple[str, str | None] | None:
    """(name, version) a PyPI package URL names, percent-decoded; None for another type or a
    URL that names no package (the scan refuses it as malformed)."""
    if purl_type(purl) != "pypi":
        return None
    path = purl.partition(":")[2].strip().lstrip("/").partition("/")[2]
    path = path.partition("#")[0].partition("?")[0]  # subpath, qualifiers
    path, at, version = path.rpartition("@")
    if not at:
        path, version = version, ""
    segments = [s for s in path.split("/") if s.strip()]
    name = unquote(segments[-1]).strip() if segments else ""
    return (name, unquote(version) or None) if name else None


def _said(name: str | None, version: str | None, between: str) -> str:
    named = excerpt(name, _SHOWN) if name else "(no name)"
    return named + (f"{between}{excerpt(version, _SHOWN)}" if version else "")


def _identity(
    name: str | None, version: str | None, purl: str | None
) -> tuple[str | None, str | None]:
    """The one (name, version) every reader takes a component for: as written, each field its
    PyPI purl says too (name PEP 503 normalized) or leaves unsaid; a field written only in the
    purl is taken from it. A purl saying another package or version is refused: the scan read the
    purl, the gate the fields, and `flask 3.1.3` with `pkg:pypi/flask@2.2.5` was allowed."""
    said = _pypi_identity(purl) if purl else None
    if said is None:
        return name, version
    purl_name, purl_version = said
    if (name and canonicalize_name(name) != canonicalize_name(purl_name)) or (
        version and purl_version and version != purl_version
    ):
        raise MalformedBom(
            f"component {quoted(name, _SHOWN)}: purl says {_said(purl_name, purl_version, '@')}, "
            f"name/version say {_said(name, version, ' ')}"
        )
    return name or purl_name, version or purl_version


def _component(data: Mapping[str, Any]) -> BomComponent:
    fields = {key: data.get(key) for key in ("name", "version", "purl")}
    for key, value in fields.items():
        if value is not None and not isinstance(value, str):
            name = fields["name"] if isinstance(fields["name"], str) else None
            raise MalformedBom(f"component {quoted(name, _SHOWN)}: {key} is not text")
    purl = _lower_scheme(fields["purl"])
    name, version = _identity(fields["name"], fields["version"], purl)
    return BomComponent(name, version, purl, data)


def _lower_scheme(purl: str | None) -> str | None:
    """The purl with its scheme lower-cased, as the purl spec reads it (`PKG:pypi/x` is
    `pkg:pypi/x`): read as written, `PKG:` was no purl to the gate, a malformed one to the scan."""
    if purl is None:
        return None
    scheme, colon, rest = purl.partition(":")
    return "pkg" + colon + rest if colon and scheme.lower() == "pkg" else purl


def _children(holder: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = holder.get("components", [])
    if not isinstance(items, list):
        raise MalformedBom(f"components: expected a list of objects, got {type(items).__name__}")
    for item in items:
        if not isinstance(item, dict):
            raise MalformedBom(f"components: expected a list of objects, got {type(item).__name__}")
    return items


NOT_CYCLONEDX = 'not a CycloneDX SBOM (no "bomFormat": "CycloneDX")'


def document(data: object) -> Mapping[str, Any]:
    """`data` (parsed JSON) as a CycloneDX document: an object saying `"bomFormat":
    "CycloneDX"`, else MalformedBom (every reader of an SBOM file asks this first)."""
    if not isinstance(data, Mapping) or data.get("bomFormat") != "CycloneDX":
        raise MalformedBom(NOT_CYCLONEDX)
    return data


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
