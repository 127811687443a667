"""The exchange formats' JSON Schemas (`verify/formats/schemas/`), each loaded once, and the one
way a refusal names what a document breaks: the rule and where, never the value."""

from __future__ import annotations

import functools
import json
from importlib import resources

import jsonschema
from referencing import Registry

from verify.slo.policy import describe


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """The validator of the schema file `name` in `schemas/` (formats checked too). Its registry
    holds no schema but this one: a `$ref` elsewhere is an error, never fetched (without a
    registry, jsonschema fetches an unknown `$ref` URL over the network)."""
    text = resources.files("verify.formats").joinpath("schemas").joinpath(name)
    return jsonschema.Draft202012Validator(
        json.loads(text.read_text(encoding="utf-8")),
        registry=Registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def problem(name: str, document: object) -> str | None:
    """Where and how `document` breaks the schema `name` (said from the schema's side: the
    document is input and is never quoted), or None when it is valid."""
    error = jsonschema.exceptions.best_match(validator(name).iter_errors(document))
    return None if error is None else describe(error)
