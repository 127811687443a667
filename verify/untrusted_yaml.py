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
times the text. It costs about half the time of the load itself."""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64  # an advisory record or a policy nests under 10 levels
MAX_EXPANSION = 16  # what a document expands to, at most, per character of its text
_FLOOR = 1 << 20  # a small document may still use aliases freely
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLBomb(yaml.YAMLError):
    """The document nests past MAX_DEPTH, expands past its bound or contains itself."""


def load(text: str | bytes) -> Any:
    """The document in `text`; yaml.YAMLError (YAMLBomb included) when it is not acceptable."""
    expanded_size(text)
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C or Python)


def expanded_size(text: str | bytes) -> int:
    """The size of the document in `text` with every alias expanded (nodes plus scalar
    characters), measured from the parser's events; YAMLBomb past the bounds."""
    budget = max(_FLOOR, MAX_EXPANSION * len(text))
    anchors: dict[str, int] = {}  # the size of each finished anchored node
    open_: list[tuple[str | None, int]] = []  # (anchor, total when it started) per collection
    total = 0
    for event in yaml.parse(text, Loader=_LOADER):
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
