"""docs/policy.md is the gate policy's JSON Schema said key by key (verify/policy_docs.py): it is
up to date with the schema, every key has a description, every default it states is the one the
loader applies, and every example policy (the doc's yaml blocks, examples/policies/) is valid
under the schema and loads through verify/policy.py."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from tests.conftest import REPO
from verify import policy, policy_docs
from verify.slo import policy as slo_policy

DOC = REPO / "docs" / "policy.md"
EXAMPLES = sorted((REPO / "examples" / "policies").glob("*.yaml"))
SCHEMA = json.loads((REPO / "verify" / "policy.schema.json").read_text())
SLO_SCHEMA = json.loads((REPO / "verify" / "slo" / "policy.schema.json").read_text())


def _blocks() -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", DOC.read_text(), re.MULTILINE | re.DOTALL)


def _independent_validator() -> jsonschema.Draft202012Validator:
    """The schema files read here, not through verify: what the docs promise, checked apart."""
    slo = Resource.from_contents(SLO_SCHEMA)
    return jsonschema.Draft202012Validator(
        SCHEMA, registry=Registry().with_resource(SLO_SCHEMA["$id"], slo)
    )


def test_the_reference_is_up_to_date() -> None:
    assert DOC.read_text() == policy_docs.render(), "docs/policy.md is stale: run `make docs`"


def test_every_key_is_documented_with_a_description() -> None:
    keys = {row.key: row for row in policy_docs.rows(policy.schema(), policy.registry())}
    assert all(row.text.strip() for row in keys.values())
    text = DOC.read_text()
    for key in keys:
        assert f"| `{key}` |" in text, key
    # the schema's property names, read apart from the generator, all appear
    documented = {part.removesuffix("[]") for key in keys for part in key.split(".")}
    assert _property_names(SCHEMA) - {"waivers"} <= documented
    assert "waivers" not in _property_names(SCHEMA)  # the SLO policy's own, not the gate's


def _property_names(node: object) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names |= set(node.get("properties", {}))
        for child in node.values():
            names |= _property_names(child)
    elif isinstance(node, list):
        for child in node:
            names |= _property_names(child)
    return names


def test_a_key_without_a_description_is_refused() -> None:
    broken = copy.deepcopy(policy.schema())
    del broken["properties"]["require"]["properties"]["build_link"]["properties"]["step"][
        "description"
    ]
    with pytest.raises(
        ValueError, match=r"require\.build_link\.step: the schema gives no description"
    ):
        policy_docs.render(broken)


def test_a_mapping_that_accepts_unlisted_keys_is_refused() -> None:
    broken = copy.deepcopy(policy.schema())
    broken["properties"]["require"]["additionalProperties"] = True
    with pytest.raises(ValueError, match="require: a mapping must refuse keys it does not list"):
        policy_docs.render(broken)


def test_every_slo_policy_property_has_a_description() -> None:
    def walk(node: object, where: str) -> list[str]:
        missing = []
        if isinstance(node, dict):
            for name, child in node.get("properties", {}).items():
                if not child.get("description"):
                    missing.append(f"{where}.{name}")
            for key, child in node.items():
                missing += walk(child, f"{where}.{key}" if key != "properties" else where)
        return missing

    assert walk(SLO_SCHEMA, "slo") == []  # the gate's own keys: checked through the rows


def test_the_examples_are_documented_and_enough() -> None:
    blocks = _blocks()
    assert len(blocks) == len(SCHEMA["examples"]) >= 3
    assert [yaml.safe_load(b) for b in blocks] == SCHEMA["examples"]
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(
    "text", [pytest.param(b, id=f"docs-{i}") for i, b in enumerate(_blocks(), start=1)]
    + [pytest.param(p.read_text(), id=p.name) for p in EXAMPLES],
)  # fmt: skip
def test_every_example_is_valid_and_loads(text: str, tmp_path: Path) -> None:
    errors = list(_independent_validator().iter_errors(yaml.safe_load(text)))
    assert errors == [], [e.message for e in errors]
    loaded = policy.parse_policy(text.encode(), "example.yaml", tmp_path)
    assert loaded.identities and loaded.require.evidence_required


def test_the_examples_policies_load_from_their_files() -> None:
    for path in EXAMPLES:
        assert policy.load_policy(path).origin == str(path)


def _minimal() -> policy.Policy:
    data = {
        "version": 1,
        "trust": {"trusted_root": "root.json"},
        "identities": [{"issuer": "https://issuer.example", "subject": "a@example.com"}],
        "require": {"publish": {"repository": "o/n", "workflow": "r.yml"}, "vulnerabilities": {}},
    }
    return policy.parse_policy(yaml.safe_dump(data).encode(), "p.yaml", Path())


SLO_RULES = ("unknown_severity", "clock", "no_fix_pauses_clock", "max_waiver_span", "max_db_age")
# where the loader keeps each key the schema gives a default for
LOADED: dict[str, Callable[[policy.Policy], object]] = {
    "mode": lambda p: p.mode,
    "trust.allow_development_root": lambda p: p.trust.allow_development_root,
    "k_of_n": lambda p: p.k_of_n,
    "unknown_predicates": lambda p: p.unknown_predicates,
    "images.resolve_tags": lambda p: p.resolve_tags,
    "require.signature": lambda p: p.require.signature,
    "require.publish.issuer": lambda p: p.require.publish and p.require.publish.issuer,
    "require.vulnerabilities.slo": lambda p: (
        p.require.vulnerabilities and p.require.vulnerabilities.slo
    ),
    **{
        f"require.vulnerabilities.windows.{level}": (
            lambda p, level=level: (
                p.require.vulnerabilities and p.require.vulnerabilities.rules.windows[level]
            )
        )
        for level in slo_policy.LEVELS
    },
    **{
        f"require.vulnerabilities.{key}": (
            lambda p, key=key: (
                p.require.vulnerabilities and getattr(p.require.vulnerabilities.rules, key)
            )
        )
        for key in SLO_RULES
    },
}


def test_every_documented_default_is_what_the_loader_applies() -> None:
    """The default the doc states (the schema's) is, written the same way, the value a policy
    that leaves the key out is loaded with."""
    rows = policy_docs.rows(policy.schema(), policy.registry())
    stated = {row.key: row.default for row in rows if row.default}
    assert set(stated) == set(LOADED), "say where the loader keeps each documented default"
    loaded = _minimal()
    for key, read in LOADED.items():
        assert policy_docs._inline(read(loaded)) == stated[key], key


def test_the_slo_policy_defaults_are_the_slo_loaders() -> None:
    defaults = slo_policy.Policy()
    for key, node in SLO_SCHEMA["properties"].items():
        if "default" in node:
            assert getattr(defaults, key) == node["default"], key
    windows = {
        k: v["default"] for k, v in SLO_SCHEMA["properties"]["windows"]["properties"].items()
    }
    assert windows == dict(defaults.windows)


def test_the_readme_links_the_reference() -> None:
    assert "](docs/policy.md)" in (REPO / "README.md").read_text()
