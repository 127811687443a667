"""The SLO policy and its waivers: parsed from a mapping (the caller reads the file) and
validated against the JSON Schema shipped beside this module, so the scan and the deploy gate
accept exactly the same documents."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, cast

from verify.errors import UsageError

if TYPE_CHECKING:
    import jsonschema

Level = Literal["critical", "high", "medium", "low"]
Clock = Literal["published", "first-seen"]
LEVELS: tuple[Level, ...] = ("critical", "high", "medium", "low")
SCHEMA_ID = "https://attest-pipeline.github.io/schemas/slo-policy/v1.json"
MAX_DAYS = 365_000  # 1000 years: longer spans are typos, and overflow date arithmetic
DEFAULT_WINDOWS: Mapping[Level, int] = {"critical": 7, "high": 30, "medium": 90, "low": 180}


class SloPolicyError(UsageError):
    """The SLO policy or a waiver is malformed: fix the file named in the message."""


@dataclasses.dataclass(frozen=True)
class Waiver:
    """An accepted risk: `id` matches the vulnerability id or any alias; `package`, when set,
    limits it to one package. It applies up to and including the day `expires` (UTC)."""

    id: str
    reason: str
    expires: datetime.date
    package: str | None = None
    approver: str | None = None
    granted: datetime.date | None = None
    origin: str = ""  # the file it came from, for messages


@dataclasses.dataclass(frozen=True)
class Policy:
    windows: Mapping[Level, int] = dataclasses.field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    unknown_severity: Level = "high"
    clock: Clock = "published"
    due_soon: int = 7
    no_fix_pauses_clock: bool = False
    max_waiver_span: int = 90
    max_db_age: int = 7
    # Who may waive: None, anyone; otherwise a waiver applies only with an approver listed here
    # (an empty list: no waiver applies).
    waiver_approvers: tuple[str, ...] | None = None
    waivers: tuple[Waiver, ...] = ()
    origin: str = "defaults"

    def to_json(self) -> dict[str, Any]:
        """The effective policy (waivers apart), for reports and attestations."""
        return {
            "windows": dict(self.windows),
            "unknown_severity": self.unknown_severity,
            "clock": self.clock,
            "due_soon": self.due_soon,
            "no_fix_pauses_clock": self.no_fix_pauses_clock,
            "max_waiver_span": self.max_waiver_span,
            "max_db_age": self.max_db_age,
            "waiver_approvers": (
                None if self.waiver_approvers is None else list(self.waiver_approvers)
            ),
            "origin": self.origin,
        }


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The policy's JSON Schema (the gate's `require.vulnerabilities` refers to its parts)."""
    text = resources.files("verify.slo").joinpath("policy.schema.json").read_text("utf-8")
    return cast("dict[str, Any]", json.loads(text))


@functools.lru_cache(maxsize=1)
def validator_class() -> type[jsonschema.protocols.Validator]:
    """JSON Schema draft 2020-12, `pattern` matched by RE2: its `$` is the end of the text, as in
    the ECMA-262 expressions JSON Schema speaks, where Python's `re` also lets `$` match before
    a final newline (`^[0-9]+d$` would accept "30d\\n"). Its errors never quote the value."""
    # imported here: a scan without a policy file or waivers never validates one, and
    # jsonschema is a quarter of the scan command's start-up
    import jsonschema
    import re2

    compiled = functools.lru_cache(maxsize=None)(re2.compile)  # the schemas' few patterns

    def pattern(
        validator: jsonschema.protocols.Validator, expected: str, instance: object, _: object
    ) -> Iterator[jsonschema.ValidationError]:
        if not isinstance(instance, str):
            return
        text = instance.encode("utf-8", "replace").decode()  # RE2 reads UTF-8: no lone surrogates
        if compiled(expected).search(text) is None:
            yield jsonschema.ValidationError(f"does not match {expected!r}")

    extended = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"pattern": pattern}
    )
    return cast("type[jsonschema.protocols.Validator]", extended)


def _validator(definition: str | None) -> jsonschema.protocols.Validator:
    from referencing import Registry, Resource

    document = schema()
    registry: Registry[Any] = Registry().with_resource(SCHEMA_ID, Resource.from_contents(document))
    target = document if definition is None else {"$ref": f"{SCHEMA_ID}#/$defs/{definition}"}
    return validator_class()(target, registry=registry)


def _plain(value: object) -> object:
    """YAML and TOML turn unquoted dates into date objects; the schema speaks JSON."""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check(data: object, origin: str, definition: str | None) -> dict[str, Any]:
    plain: Any = _plain(data)
    errors = sorted(_validator(definition).iter_errors(plain), key=lambda e: list(e.path))
    if errors:
        problems = "; ".join(dict.fromkeys(describe(e) for e in errors[:5]))
        what = "waivers file" if definition == "waiver_file" else "SLO policy"
        hint = " (empty: write `waivers: []`)" if data is None else ""
        raise SloPolicyError(f"{origin}: invalid {what}{hint}: {problems}")
    return cast("dict[str, Any]", plain)


def error_path(error: jsonschema.ValidationError) -> str:
    """Where in the document the error is, as a path of keys and indexes."""
    return "/".join(str(p)[:32] for p in error.absolute_path) or "(top level)"  # keys: input


def describe(error: jsonschema.ValidationError) -> str:
    """The error said from the schema's side only (the rule, its expected value, the path):
    jsonschema's messages quote the value (`'AWS_SECRET_ACCESS_KEY=...' is not of type
    'object'`), and a file given by mistake may hold secrets. Of the input, only the names of
    unknown keys are shown, escaped and cut short."""
    return f"{error_path(error)}: {_rule(error.validator, error.validator_value, error)}"


_KINDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_KEY_SHOWN = 32  # characters of an unknown key's name


def _rule(keyword: object, expected: Any, error: jsonschema.ValidationError) -> str:
    instance = error.instance
    if keyword == "type":
        return f"must be {_kind(expected)}"
    if keyword == "required" and isinstance(instance, dict):
        missing = [key for key in expected if key not in instance]
        return "; ".join(f"{key!r} is a required property" for key in missing)
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        unknown = [key for key in instance if key not in known]
        names = ", ".join(_key(key) for key in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return f"unknown key {names}{more} (unknown keys are errors)"
    if keyword in ("const", "enum"):
        values = [expected] if keyword == "const" else expected
        return f"must be {' or '.join(repr(v) for v in values)}"
    if keyword == "oneOf":
        return f"must be {' or '.join(_form(alternative) for alternative in expected)}"
    if keyword == "pattern":
        return "must not be empty" if expected == "\\S" else f"must match {expected!r}"
    if keyword in ("minLength", "minItems", "minProperties"):
        return "must not be empty" if expected == 1 else f"must have at least {expected} entries"
    if keyword == "minimum":
        return f"must be at least {expected}"
    return f"does not satisfy the schema's {keyword!r} rule"


def _kind(types: str | list[str]) -> str:
    return " or ".join(_KINDS.get(t, t) for t in ([types] if isinstance(types, str) else types))


def _form(alternative: dict[str, Any]) -> str:
    """One alternative of a oneOf, in words."""
    if "enum" in alternative:
        return " or ".join(repr(v) for v in alternative["enum"])
    if "type" not in alternative:
        return "another form"
    words = _kind(alternative["type"])
    if "minimum" in alternative:
        words += f" of at least {alternative['minimum']}"
    if "pattern" in alternative:
        words += f" matching {alternative['pattern']!r}"
    return words


def _key(key: object) -> str:
    text = repr(str(key))  # escapes control and bidirectional characters
    return text if len(text) <= _KEY_SHOWN else f"{text[:_KEY_SHOWN]}..."


def _days(value: int | float | str, origin: str, key: str) -> int:
    """Whole days: an integer (JSON Schema also counts 7.0 as one, as YAML may write it) or "7d";
    SloPolicyError past MAX_DAYS (a due date past the calendar's end cannot be computed)."""
    digits = (value.removesuffix("d") if isinstance(value, str) else str(int(value))).lstrip("0")
    # the length first: int() refuses a string of over 4,300 digits
    if len(digits) > len(str(MAX_DAYS)) or int(digits or 0) > MAX_DAYS:
        shown = digits if len(digits) <= 40 else f"{digits[:12]}..."
        raise SloPolicyError(
            f"{origin}: invalid SLO policy: {key}: {shown} days is over 1000 years"
        )
    return int(digits or 0)


def _date(text: str, origin: str, where: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as e:
        raise SloPolicyError(f"{origin}: {where}: {text!r} is not a valid date") from e


def _waivers(items: list[dict[str, Any]], origin: str, key: str) -> tuple[Waiver, ...]:
    return tuple(
        Waiver(
            id=item["id"].strip(),
            reason=item["reason"].strip(),
            expires=_date(item["expires"], origin, f"{key}/{i}/expires"),
            package=item.get("package"),
            approver=item.get("approver"),
            granted=(
                _date(item["granted"], origin, f"{key}/{i}/granted") if "granted" in item else None
            ),
            origin=origin,
        )
        for i, item in enumerate(items)
    )


def parse_policy(data: object, origin: str) -> Policy:
    """The policy in `data` (a mapping read from `origin`), validated; SloPolicyError if bad."""
    table = _check(data if data is not None else {}, origin, None)
    windows = dict(DEFAULT_WINDOWS)
    windows.update(
        {k: _days(v, origin, f"windows/{k}") for k, v in table.get("windows", {}).items()}
    )
    defaults = Policy()
    spans = {
        k: _days(table[k], origin, k) if k in table else getattr(defaults, k)
        for k in ("due_soon", "max_waiver_span", "max_db_age")
    }
    return Policy(
        windows=windows,
        unknown_severity=table.get("unknown_severity", defaults.unknown_severity),
        clock=table.get("clock", defaults.clock),
        due_soon=spans["due_soon"],
        no_fix_pauses_clock=table.get("no_fix_pauses_clock", defaults.no_fix_pauses_clock),
        max_waiver_span=spans["max_waiver_span"],
        max_db_age=spans["max_db_age"],
        waiver_approvers=(
            tuple(a.strip() for a in table["waiver_approvers"])
            if "waiver_approvers" in table
            else None
        ),
        waivers=_waivers(table.get("waivers", []), origin, "waivers"),
        origin=origin,
    )


def parse_waivers(data: object, origin: str) -> tuple[Waiver, ...]:
    """A waiver file: a mapping with one key, `waivers`, a list of waivers."""
    table = _check(data, origin, "waiver_file")
    return _waivers(table["waivers"], origin, "waivers")


def with_waivers(policy: Policy, extra: tuple[Waiver, ...]) -> Policy:
    return dataclasses.replace(policy, waivers=(*policy.waivers, *extra))
