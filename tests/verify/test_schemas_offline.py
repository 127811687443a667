"""Every JSON Schema attest ships is named by an https `$id` on the project's site (never a
urn), and every validator the code builds from them resolves each `$ref` offline: the shipped
schemas are found by their `$id`, and a reference to any other is an error, never a download
(jsonschema, given no registry, fetches an unknown `$ref` URL over the network)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from referencing.exceptions import Unresolvable

from tests.conftest import REPO
from verify import policy
from verify.formats import schema
from verify.slo import policy as slo_policy

SITE = "https://attest-pipeline.github.io/"
SCHEMAS = sorted((REPO / "verify").rglob("*.schema.json"))


def _validators() -> dict[str, jsonschema.protocols.Validator]:
    """The validator the code builds for each shipped schema, by its path in the repository."""
    built: dict[str, jsonschema.protocols.Validator] = {
        f"verify/formats/schemas/{path.name}": schema.validator(path.name)
        for path in (REPO / "verify" / "formats" / "schemas").glob("*.schema.json")
    }
    built["verify/policy.schema.json"] = policy._validator()
    built["verify/slo/policy.schema.json"] = slo_policy._validator(None)
    return built


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs anything tried to open (jsonschema's remote retrieval uses urlopen)."""
    tried: list[str] = []

    def urlopen(request: Any, *args: object, **kwargs: object) -> None:
        tried.append(getattr(request, "full_url", str(request)))
        raise OSError("no network in the tests")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return tried


def test_every_schema_has_an_https_id_on_the_projects_site() -> None:
    assert len(SCHEMAS) >= 9
    ids = [json.loads(path.read_text())["$id"] for path in SCHEMAS]
    assert all(i.startswith(SITE) for i in ids), ids
    assert len(set(ids)) == len(ids)
    for path in SCHEMAS:
        assert "urn:" not in "".join(_refs(json.loads(path.read_text()))), path


def test_every_shipped_schema_has_a_validator() -> None:
    assert set(_validators()) == {str(p.relative_to(REPO)) for p in SCHEMAS}


def test_every_reference_resolves_offline(no_network: list[str]) -> None:
    for name, validator in _validators().items():
        document = json.loads((REPO / name).read_text())
        for ref in _refs(document):
            target = urllib.parse.urljoin(document["$id"], ref)
            # raises Unresolvable if the code's registry cannot find the schema it names
            list(validator.evolve(schema={"$ref": target}).iter_errors(None))
    assert no_network == []


@pytest.mark.parametrize("name", sorted(_validators()))
def test_a_schema_not_shipped_is_an_error_never_a_download(
    name: str, no_network: list[str]
) -> None:
    absent = {"$ref": f"{SITE}schemas/absent/v1.json"}
    with pytest.raises(Unresolvable, match=r"absent/v1\.json"):
        list(_validators()[name].evolve(schema=absent).iter_errors(None))
    assert no_network == []
