"""Validation of every SBOM against the CycloneDX 1.6 schema before it is written.

The schemas are the ones cyclonedx-python-lib ships. JSON is checked with jsonschema and a
format checker of our own (`attest.sbom.iri`) for the four formats the schema uses, and a
linear `uniqueItems` (jsonschema's compares every pair of objects: quadratic in the number of
components); XML with the library's XSD validator (lxml). Validators are built once per process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Hashable, Iterator
from importlib import resources
from typing import Any

from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
from jsonschema import Draft7Validator, FormatChecker, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from attest.sbom import iri
from attest.sbom.interface import EXCERPT
from verify.errors import OperationalError

# Resource files inside cyclonedx-python-lib (pinned <12): the schema and what it references.
_SCHEMAS = resources.files("cyclonedx.schema._res")
_BOM_SCHEMA = "bom-1.6.SNAPSHOT.schema.json"
_REFERENCED = (
    "spdx.SNAPSHOT.schema.json",
    "jsf-0.82.SNAPSHOT.schema.json",
    "cryptography-defs.SNAPSHOT.schema.json",
)


class InvalidSbom(OperationalError):
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


def _canonical(value: object) -> Hashable:
    """A hashable form equal exactly when JSON Schema calls two values equal: 1 equals 1.0,
    true does not equal 1, objects compare without regard to key order."""
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _unique_items(
    validator: Draft7Validator, unique: bool, instance: object, schema: object
) -> Iterator[ValidationError]:
    """`uniqueItems` in linear time: one hash per item instead of a comparison per pair. The
    message names the repeated item's index, not the array (thousands of components)."""
    if not unique or not isinstance(instance, list):
        return
    seen: set[Hashable] = set()
    for index, item in enumerate(instance):
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"item {index} repeats an earlier one (non-unique elements)")
            return
        seen.add(key)


_RESOLVED: dict[tuple[str, str], Any] = {}


def _ref(validator: Any, ref: str, instance: object, schema: object) -> Iterator[ValidationError]:
    """`$ref` resolved once per (base URI, reference): the schemas never change, and resolving
    anew for every component was a third of the validation time."""
    resolver = validator._resolver  # the resolver in scope, as jsonschema's own `$ref` uses it
    key = (resolver._base_uri, ref)
    resolved = _RESOLVED.get(key)
    if resolved is None:
        resolved = _RESOLVED[key] = resolver.lookup(ref)
    yield from validator.descend(instance, resolved.contents, resolver=resolved.resolver)


_Validator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft7Validator, {"uniqueItems": _unique_items, "$ref": _ref}
)


@functools.cache
def _json_validator() -> Draft7Validator:
    prefix = "http://cyclonedx.org/schema/"
    resources_: list[tuple[str, Resource[Any]]] = [
        (prefix + name, DRAFT7.create_resource(_load(name))) for name in _REFERENCED
    ]
    registry: Registry[Any] = Registry().with_resources(resources_)
    schema = _load(_BOM_SCHEMA)
    validator: Draft7Validator = _Validator(
        schema, registry=registry, format_checker=_format_checker()
    )
    return validator


_SAID = 120  # characters of a validator's message shown


def _problem(error: ValidationError) -> str:
    """jsonschema's message, which begins with the value whole (a 5,000-character version,
    say), with the value cut to an excerpt, and the whole cut to _SAID characters."""
    message, whole = error.message, repr(error.instance)
    if message.startswith(whole) and len(whole) > EXCERPT:
        message = f"{whole[:EXCERPT]}…{message[len(whole) :]}"
    return message if len(message) <= _SAID else f"{message[:_SAID]}…"


def validate(text: str, fmt: str) -> None:
    """Raise `InvalidSbom` naming the first problem when `text` does not validate."""
    if fmt == "json":
        error = next(_json_validator().iter_errors(json.loads(text)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)  # attest's own keys
            raise InvalidSbom(
                f"the SBOM does not validate against CycloneDX 1.6 at {where or '(document)'}: "
                f"{_problem(error)}"
            )
        return
    problem = make_schemabased_validator(OutputFormat.XML, SchemaVersion.V1_6).validate_str(text)
    if problem is not None:
        said = str(problem)  # lxml quotes the value whole: cut, as an excerpt is
        said = said if len(said) <= _SAID else f"{said[:_SAID]}…"
        raise InvalidSbom(f"the SBOM does not validate against CycloneDX 1.6: {said}")
