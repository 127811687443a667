"""The CycloneDX 1.6 XML document, written from the JSON document's dict (one source of
content for both formats), in the XSD's element order and laid out as cyclonedx-python-lib
laid it out (two-space indent, its escaping), in linear time.

Every text and attribute value is escaped here, and a character XML 1.0 cannot carry at all
(C0 controls other than tab, newline and carriage return, lone surrogates, U+FFFE, U+FFFF) is
refused: no escape makes it legal, and JSON carries it. The fields the XSD types
`xs:normalizedString` (name, version, group, description, license name and expression, property
value) have each tab and line end (CR LF, CR or LF) replaced by a space, as a parser and the
schema read them and as the library wrote them. Elsewhere, unlike the library, a carriage
return is kept (`&#13;`; a parser turns a raw one into a newline), as are tabs and newlines in
attribute values (`&#9;`, `&#10;`; a parser turns raw ones into spaces).
"""

from __future__ import annotations

import re
from typing import Any

NAMESPACE = "http://cyclonedx.org/schema/bom/1.6"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", '"': "&quot;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        '"': "&quot;",
        ">": "&gt;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)
# A line end is one space: a parser reads a raw CR LF as one newline before the schema replaces it.
_WHITESPACE = re.compile("\r\n|[\t\n\r]")
_NORMALIZED_TAGS = frozenset({"group", "name", "version", "description", "expression", "property"})
_INDENT = "  "


class Unwritable(ValueError):
    """A value holds a character XML 1.0 cannot carry."""

    def __init__(self, tag: str, owner: str | None, char: str) -> None:
        self.tag = tag
        self.owner = owner  # the bom-ref of the component, None outside components
        self.code = ord(char)
        super().__init__(f"<{tag}> of {owner} holds U+{self.code:04X}")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.owner: str | None = None

    def _checked(self, tag: str, value: str) -> str:
        bad = _NOT_XML.search(value)
        if bad is not None:
            raise Unwritable(tag, self.owner, bad.group())
        return value

    def _start(self, depth: int, tag: str, attributes: dict[str, str]) -> str:
        pairs = "".join(
            f' {name}="{self._checked(tag, value).translate(_ATTRIBUTE)}"'
            for name, value in attributes.items()
        )
        return f"{_INDENT * depth}<{tag}{pairs}"

    def open(self, depth: int, tag: str, attributes: dict[str, str] | None = None) -> None:
        self.lines.append(self._start(depth, tag, attributes or {}) + ">")

    def close(self, depth: int, tag: str) -> None:
        self.lines.append(f"{_INDENT * depth}</{tag}>")

    def leaf(
        self, depth: int, tag: str, text: str = "", attributes: dict[str, str] | None = None
    ) -> None:
        start = self._start(depth, tag, attributes or {})
        if not text:
            self.lines.append(start + "/>")
            return
        text = self._checked(tag, text)
        if tag in _NORMALIZED_TAGS:
            text = _WHITESPACE.sub(" ", text)
        self.lines.append(f"{start}>{text.translate(_TEXT)}</{tag}>")

    def leaves(self, depth: int, fields: dict[str, Any], tags: tuple[str, ...]) -> None:
        for tag in tags:
            if tag in fields:
                self.leaf(depth, tag, fields[tag])


def _licenses(w: _Writer, depth: int, licenses: list[dict[str, Any]]) -> None:
    w.open(depth, "licenses")
    for entry in licenses:
        if "expression" in entry:
            w.leaf(depth + 1, "expression", entry["expression"])
            continue
        w.open(depth + 1, "license")
        w.leaves(depth + 2, entry["license"], ("id", "name"))
        w.close(depth + 1, "license")
    w.close(depth, "licenses")


def _component(w: _Writer, depth: int, component: dict[str, Any]) -> None:
    """A component's fields in the XSD's order (group, name, version, description, hashes,
    licenses, purl, externalReferences)."""
    w.owner = component["bom-ref"]
    w.open(depth, "component", {"type": component["type"], "bom-ref": component["bom-ref"]})
    w.leaves(depth + 1, component, ("group", "name", "version", "description"))
    if "hashes" in component:
        w.open(depth + 1, "hashes")
        for digest in component["hashes"]:
            w.leaf(depth + 2, "hash", digest["content"], {"alg": digest["alg"]})
        w.close(depth + 1, "hashes")
    if "licenses" in component:
        _licenses(w, depth + 1, component["licenses"])
    w.leaves(depth + 1, component, ("purl",))
    if "externalReferences" in component:
        w.open(depth + 1, "externalReferences")
        for link in component["externalReferences"]:
            w.open(depth + 2, "reference", {"type": link["type"]})
            w.leaves(depth + 3, link, ("url", "comment"))
            w.close(depth + 2, "reference")
        w.close(depth + 1, "externalReferences")
    w.close(depth, "component")
    w.owner = None


def _metadata(w: _Writer, metadata: dict[str, Any]) -> None:
    """timestamp, tools, component, properties: the XSD's order."""
    w.open(1, "metadata")
    w.leaves(2, metadata, ("timestamp",))
    w.open(2, "tools")
    w.open(3, "components")
    for tool in metadata["tools"]["components"]:
        _component(w, 4, tool)
    w.close(3, "components")
    w.close(2, "tools")
    if "component" in metadata:
        _component(w, 2, metadata["component"])
    w.open(2, "properties")
    for item in metadata["properties"]:
        w.leaf(3, "property", item["value"], {"name": item["name"]})
    w.close(2, "properties")
    w.close(1, "metadata")


def _dependencies(w: _Writer, dependencies: list[dict[str, Any]]) -> None:
    w.open(1, "dependencies")
    for entry in dependencies:
        targets = entry.get("dependsOn", [])
        if not targets:
            w.leaf(2, "dependency", attributes={"ref": entry["ref"]})
            continue
        w.open(2, "dependency", {"ref": entry["ref"]})
        for target in targets:
            w.leaf(3, "dependency", attributes={"ref": target})
        w.close(2, "dependency")
    w.close(1, "dependencies")


def write(document: dict[str, Any]) -> str:
    """The XML document for the JSON `document`; `Unwritable` when a value cannot be XML."""
    w = _Writer()
    w.lines.append('<?xml version="1.0" ?>')
    w.open(
        0,
        "bom",
        {
            "xmlns": NAMESPACE,
            "serialNumber": document["serialNumber"],
            "version": str(document["version"]),
        },
    )
    _metadata(w, document["metadata"])
    if "components" in document:
        w.open(1, "components")
        for component in document["components"]:
            _component(w, 2, component)
        w.close(1, "components")
    if "dependencies" in document:
        _dependencies(w, document["dependencies"])
    w.close(0, "bom")
    return "\n".join(w.lines) + "\n"
