"""YAML from untrusted hands (policies, waiver and SLO files, advisory records): one pass over
the parser's events bounds the document before anything is built from it, then the safe loader
(libyaml's when installed) builds it.

Why the events first: libyaml's composer recurses in C, so some tens of thousands of `[` crash
the process (a segmentation fault, not an exception); and aliases let a few hundred bytes
describe a document that the loader itself (merge keys, `<<: [*a, *a]`) or any later walk (a
schema check, a JSON dump) expands to billions of nodes ("billion laughs"), or a long string
repeated thousands of times. The event parser neither recurses nor expands, so it measures the
document as its readers will see it: nesting up to MAX_DEPTH, and an expanded size (nodes plus
scalar characters, each alias charged the full size of what it names) of at most MAX_EXPANSION
times the text. It costs about half the time of the load itself.

A key given twice in one mapping is refused too, naming the key and both lines: PyYAML keeps the
last silently, so a second `identities:` in a policy, or a second `affected:` in an advisory
record, would replace the first unseen (none of the 7,080 records of the PyPA database repeats a
key). Keys compare as the values they load as (`1` and `0x1` are one key), and a mapping's keys
include those its merge keys (`<<`) bring in: a key that the mapping gives and also merges, or
that two merges bring, is given twice too. YAML would keep one silently (the mapping's own over
a merged one, the first of `<<: [*a, *b]`, the second of two `<<:` entries), so a reader of the
file could not tell which rule applies; each key is written once.

A scalar its tag cannot build (a date that does not exist, an integer of thousands of digits) is
a YAML error naming its line, not a crash."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_DEPTH = 64  # an advisory record or a policy nests under 10 levels
MAX_EXPANSION = 16  # what a document expands to, at most, per character of its text
_FLOOR = 1 << 20  # a small document may still use aliases freely
_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_SHOWN = 32  # characters of a repeated key quoted in the error (a policy's limit for values)


class YAMLBomb(yaml.YAMLError):
    """The document nests past MAX_DEPTH, expands past its bound or contains itself."""


class DuplicateKey(yaml.YAMLError):
    """A mapping gives the same key twice."""


class _Loader(_BASE):  # type: ignore[misc]
    """The safe loader (libyaml's parser when installed), refusing a key given twice."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self._keys(node, 0)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except ValueError as e:  # its text may quote the value: `!!int <a secret>`
            kind = node.tag.rsplit(":", 1)[-1]
            raise ConstructorError(
                None, None, f"this value cannot be loaded as {kind!r}", node.start_mark
            ) from e

    def _keys(self, node: MappingNode, depth: int) -> dict[object, Node]:
        """The keys `node` defines, its own and those its merge keys bring in, each with the
        node giving it; DuplicateKey when one is given twice."""
        if depth > MAX_DEPTH:  # PyYAML's merging recurses as deep
            raise YAMLBomb(f"merge keys nested too deeply (over {MAX_DEPTH} levels)")
        keys: dict[object, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                given = [
                    pair
                    for part in merged
                    if isinstance(part, MappingNode)  # else the loader refuses the merge
                    for pair in self._keys(part, depth + 1).items()
                ]
            else:
                given = [(self.construct_object(key_node, deep=True), key_node)]
            for key, where in given:
                try:
                    first = keys.get(key)
                except TypeError:  # an unhashable key: the loader itself refuses it
                    continue
                if first is not None:
                    raise DuplicateKey(
                        f"the key {_excerpt(key)} is given twice, {_where(first, where)}: "
                        "YAML would silently keep only one"
                    )
                keys[key] = where
        return keys


def _where(first: Node, second: Node) -> str:
    a, b = first.start_mark, second.start_mark
    if first is second:  # one mapping merged twice
        return f"on line {a.line + 1}, merged twice"
    if a.line != b.line:
        return f"on line {a.line + 1} and on line {b.line + 1}"
    return f"both on line {a.line + 1} (columns {a.column + 1} and {b.column + 1})"


def _excerpt(key: object) -> str:
    text = repr(key)  # escapes control characters
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"


def load(text: str | bytes) -> Any:
    """The document in `text`; yaml.YAMLError (YAMLBomb and DuplicateKey included) when it is
    not acceptable."""
    expanded_size(text)
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)


def expanded_size(text: str | bytes) -> int:
    """The size of the document in `text` with every alias expanded (nodes plus scalar
    characters), measured from the parser's events; YAMLBomb past the bounds."""
    budget = max(_FLOOR, MAX_EXPANSION * len(text))
    anchors: dict[str, int] = {}  # the size of each finished anchored node
    open_: list[tuple[str | None, int]] = []  # (anchor, total when it started) per collection
    total = 0
    for event in yaml.parse(text, Loader=_BASE):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                raise YAMLBomb(f"nested too deeply (over {MAX_DEPTH} levels)")
            anchors.pop(event.anchor or "", None)  # an alias to it now would be to itself
            open_.append((event.anchor, total))
            total += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, started = open_.pop()
            if anchor is not None:
                anchors[anchor] = total - started
        elif isinstance(event, yaml.ScalarEvent):
            size = 1 + len(event.value)
            total += size
            if event.anchor is not None:
                anchors[event.anchor] = size
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:  # named while still open: it contains itself
                raise YAMLBomb("the document contains itself (a recursive alias)")
            total += anchors[event.anchor]
        if total > budget:
            raise YAMLBomb(
                f"the document expands to over {budget:,} nodes and characters (aliases)"
            )
    return total
