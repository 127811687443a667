"""Validation of every SBOM against the CycloneDX 1.6 schema before it is written.

The schemas are the ones cyclonedx-python-lib ships. JSON is checked with jsonschema and a
format checker of our own (`attest.sbom.iri`) for the four formats the schema uses; XML with
the library's XSD validator (lxml). Validators are built once per process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from attest.errors import AttestError
from attest.sbom import iri

# Resource files inside cyclonedx-python-lib (pinned <12): the schema and what it references.
_SCHEMAS = resources.files("cyclonedx.schema._res")
_BOM_SCHEMA = "bom-1.6.SNAPSHOT.schema.json"
_REFERENCED = (
    "spdx.SNAPSHOT.schema.json",
    "jsf-0.82.SNAPSHOT.schema.json",
    "cryptography-defs.SNAPSHOT.schema.json",
)


class InvalidSbom(AttestError):
    """attest produced a document the schema rejects: a bug in attest or a source plugin."""


def _load(name: str) -> Any:
    return json.loads(_SCHEMAS.joinpath(name).read_text(encoding="utf-8"))


def _format_checker() -> FormatChecker:
    """Formats apply to strings only; other types pass, as in jsonschema's own checker."""
    checks: dict[str, Callable[[str], bool]] = {
        "date-time": iri.is_date_time,
        "iri-reference": iri.is_iri_reference,
        "uri": iri.is_uri,
        "idn-email": lambda value: "@" in value,  # jsonschema's own rule
    }
    checker = FormatChecker(formats=())
    for name, check in checks.items():
        checker.checks(name)(functools.partial(_if_string, check))
    return checker


def _if_string(check: Callable[[str], bool], instance: object) -> bool:
    return not isinstance(instance, str) or check(instance)


@functools.cache
def _json_validator() -> Draft7Validator:
    prefix = "http://cyclonedx.org/schema/"
    resources_: list[tuple[str, Resource[Any]]] = [
        (prefix + name, DRAFT7.create_resource(_load(name))) for name in _REFERENCED
    ]
    registry: Registry[Any] = Registry().with_resources(resources_)
    return Draft7Validator(_load(_BOM_SCHEMA), registry=registry, format_checker=_format_checker())


def validate(text: str, fmt: str) -> None:
    """Raise `InvalidSbom` naming the first problem when `text` does not validate."""
    if fmt == "json":
        error = next(_json_validator().iter_errors(json.loads(text)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(document)"
            raise InvalidSbom(
                f"the SBOM does not validate against CycloneDX 1.6 at {where}: {error.message}"
            )
        return
    problem = make_schemabased_validator(OutputFormat.XML, SchemaVersion.V1_6).validate_str(text)
    if problem is not None:
        raise InvalidSbom(f"the SBOM does not validate against CycloneDX 1.6: {problem}")
