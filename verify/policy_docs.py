"""The gate policy's reference, docs/policy.md, written from its JSON Schema alone: every key
with its type and rules, whether it is required, its default and its description, then the
schema's examples. `python -m verify.policy_docs > docs/policy.md` (`make docs`) writes it;
tests/verify/test_policy_docs.py fails when the file differs from what the schema says now.

A key without a description, or a mapping that would accept keys it does not list, is an error
here: the reference promises both."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from referencing import Registry, Resource

from verify import policy

GENERATED = (
    "<!-- Written by `python -m verify.policy_docs` from verify/policy.schema.json: "
    "edit the schema, then `make docs`. -->"
)
Resolver = Any  # referencing's Resolver, which it does not export


@dataclasses.dataclass(frozen=True)
class Row:
    key: str  # dotted path; `[]` marks a list's items
    kind: str  # type and rules, in words
    required: bool
    default: str
    text: str


def _resolved(node: Mapping[str, Any], resolver: Resolver) -> tuple[dict[str, Any], Any]:
    """`node` with its `$ref`s followed: what the referring site says wins (its description, its
    default), the target gives the rest. A type in `$defs` describes a type, never the key that
    uses it: its description is not the key's."""
    merged = dict(node)
    while "$ref" in merged:
        ref = merged.pop("$ref")
        found = resolver.lookup(ref)
        resolver = found.resolver
        target = dict(found.contents)
        if "/$defs/" in ref:
            target.pop("description", None)
        merged = {**target, **merged}
    return merged, resolver


def _inline(value: object) -> str:
    """A value as a policy writes it, on one line."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return str(value)


def _kind(node: Mapping[str, Any], resolver: Resolver) -> str:
    """The type of `node` in words, with its rules."""
    if "const" in node:
        words = f"`{_inline(node['const'])}`"
    elif "enum" in node:
        words = " or ".join(f"`{_inline(v)}`" for v in node["enum"])
    elif node.get("type") == "array":
        words = f"list of {_kind(*_resolved(node['items'], resolver))}"
    elif "type" in node:
        words = {"object": "mapping"}.get(node["type"], node["type"])
    else:
        forms = [_resolved(a, resolver) for a in node.get("oneOf", [])]
        words = " or ".join(_kind(form, r) for form, r in forms) or "any value"
    return node["title"] if "title" in node else _ruled(node, words)


def _ruled(node: Mapping[str, Any], words: str) -> str:
    """`words` with the rules of `node` said."""
    least = [node[k] for k in ("minLength", "minItems", "minProperties") if k in node]
    if least == [1]:
        words = f"non-empty {words}"
    elif least:
        words = f"{words} of at least {least[0]}"
    if "minimum" in node:
        words += f" ≥ {node['minimum']}"
    if "pattern" in node:
        words += f" matching `{node['pattern']}`"
    alternatives = node.get("oneOf", [])
    if alternatives and all(set(a) == {"required", "not"} for a in alternatives):
        words += " with exactly one of " + ", ".join(f"`{a['required'][0]}`" for a in alternatives)
    return words


def _rows(node: Mapping[str, Any], resolver: Resolver, key: str, required: bool) -> Iterator[Row]:
    node, resolver = _resolved(node, resolver)
    if key:
        if not node.get("description"):
            raise ValueError(f"{key}: the schema gives no description")
        default = _inline(node["default"]) if "default" in node else ""
        yield Row(key, _kind(node, resolver), required, default, node["description"])
    if node.get("type") == "array":
        yield from _children(*_resolved(node["items"], resolver), f"{key}[]")
    for alternative in node.get("oneOf", []):
        yield from _children(*_resolved(alternative, resolver), key)
    yield from _children(node, resolver, key)


def _children(node: Mapping[str, Any], resolver: Resolver, key: str) -> Iterator[Row]:
    if "properties" not in node:
        return
    if node.get("additionalProperties") is not False:
        raise ValueError(f"{key or 'the policy'}: a mapping must refuse keys it does not list")
    for name, child in node["properties"].items():
        path = f"{key}.{name}" if key else name
        yield from _rows(child, resolver, path, name in node.get("required", ()))


def _known(schema: Mapping[str, Any], registry: Registry[Any]) -> Registry[Any]:
    known: Registry[Any] = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return known


def rows(schema: Mapping[str, Any], registry: Registry[Any]) -> list[Row]:
    """Every key the policy may give, in the schema's order, parents before their children."""
    return list(_rows(schema, _known(schema, registry).resolver(schema["$id"]), "", True))


def _types(known: Registry[Any]) -> list[str]:
    """The named types the keys use (their `$defs` with a title), each said once."""
    lines = []
    for uri in sorted(known):
        document = known[uri].contents
        for definition in document.get("$defs", {}).values():
            if "title" in definition:
                plain = {k: v for k, v in definition.items() if k != "title"}
                kind = _kind(plain, known.resolver(uri))
                lines.append(f"- **{definition['title']}**: {kind}. {definition['description']}")
    return sorted(lines)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(found: list[Row]) -> list[str]:
    lines = ["| key | type | required | default | meaning |", "|---|---|---|---|---|"]
    for row in found:
        default = f"`{row.default}`" if row.default else ""
        cells = (f"`{row.key}`", row.kind, "yes" if row.required else "", default, row.text)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _summary(example: Mapping[str, Any]) -> str:
    trust = example["trust"] if isinstance(example["trust"], str) else "a pinned root"
    require = example.get("require", {})
    required = [k for k in require if k != "signature"]
    if require.get("signature", True):  # required unless the policy says otherwise
        required.insert(0, "signature")
    return f"trust {trust}; requires " + ", ".join(f"`{k}`" for k in required)


def render(schema: Mapping[str, Any] | None = None, registry: Registry[Any] | None = None) -> str:
    """docs/policy.md for `schema` (the shipped policy schema by default)."""
    schema = policy.schema() if schema is None else schema
    registry = policy.registry() if registry is None else registry
    lines = [
        GENERATED,
        "",
        f"# {schema['title']}",
        "",
        schema["description"],
        "",
        f"JSON Schema: `{schema['$id']}`, shipped as `verify/policy.schema.json`: the gate",
        "reads its own copy and never fetches one. A policy is YAML. A key marked required is",
        "required when its parent is given, and every mapping refuses keys it does not list.",
        "Patterns are RE2 syntax and match the WHOLE text. To see what a policy will check:",
        "`attest verify --explain-policy --policy FILE`.",
        "",
        "## Keys",
        "",
        *_table(rows(schema, registry)),
        "",
        "Types named above:",
        "",
        *_types(_known(schema, registry)),
        "",
        "## Examples",
        "",
        "Each is a whole policy the tests load. Commented ones: "
        "[examples/policies/](../examples/policies/).",
    ]
    for number, example in enumerate(schema.get("examples", []), start=1):
        text = yaml.safe_dump(example, sort_keys=False, allow_unicode=True, width=100)
        lines += ["", f"### Example {number}: {_summary(example)}", "", "```yaml", text + "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
