"""YAML from untrusted hands (policies, waiver and SLO files, advisory records): a bound on
nesting, the safe loader (libyaml's when installed), then a bound on the document as its readers
will see it.

libyaml's composer recurses in C: some tens of thousands of `[` crash the process (a
segmentation fault, not an exception). Its event parser does not recurse, so one pass over the
events refuses nesting deeper than MAX_DEPTH first (about half the time of the load itself).

Aliases let a few hundred bytes describe a graph that every walk expands: nine levels of ten
references are a billion nodes to whoever iterates them ("billion laughs"). The loader itself
shares the nodes and finishes quickly; what follows (a schema check, a JSON dump, a hash) would
not. So the loaded document is measured with each shared node counted every time it is reached,
and refused past MAX_NODES; a node that contains itself is refused too."""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 1_000_000  # an advisory record has hundreds; a long waiver file, thousands
MAX_DEPTH = 64  # an advisory record or a policy nests under 10 levels
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLBomb(yaml.YAMLError):
    """The document nests past MAX_DEPTH, expands past MAX_NODES or refers to itself."""


def load(text: str | bytes) -> Any:
    """The document in `text`; yaml.YAMLError (YAMLBomb included) when it is not acceptable."""
    _bounded_depth(text)
    data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C or Python)
    expanded_size(data)
    return data


def _bounded_depth(text: str | bytes) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YAMLBomb(f"nested too deeply (over {MAX_DEPTH} levels)")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _children(node: list[Any] | dict[Any, Any]) -> list[Any]:
    return list(node.values()) if isinstance(node, dict) else node


def expanded_size(root: Any) -> int:
    """How many nodes a walk of `root` visits, aliases expanded; computed once per shared node
    and without recursion (deep nesting is not an error here)."""
    sizes: dict[int, int] = {}  # a container's expanded size, by id (all alive under root)
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, (list, dict)):
            continue
        key = id(node)
        if finished:
            size = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            if size > MAX_NODES:
                raise YAMLBomb(f"the document expands to over {MAX_NODES:,} nodes (aliases)")
            sizes[key] = size
            active.discard(key)
        elif key in active:
            raise YAMLBomb("the document contains itself (a recursive alias)")
        elif key not in sizes:
            active.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes.get(id(root), 1)
