"""The SLO policy and its waivers: parsed from a mapping (the caller reads the file) and
validated against the JSON Schema shipped beside this module, so the scan and the deploy gate
accept exactly the same documents."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, cast

from verify.errors import ExitCode, VerifyError

if TYPE_CHECKING:
    import jsonschema

Level = Literal["critical", "high", "medium", "low"]
Clock = Literal["published", "first-seen"]
LEVELS: tuple[Level, ...] = ("critical", "high", "medium", "low")
SCHEMA_ID = "urn:attest:slo-policy:v1"
MAX_DAYS = 365_000  # 1000 years: longer spans are typos, and overflow date arithmetic
DEFAULT_WINDOWS: Mapping[Level, int] = {"critical": 7, "high": 30, "medium": 90, "low": 180}


class SloPolicyError(VerifyError):
    """The SLO policy or a waiver is malformed: fix the file named in the message."""

    exit_code = ExitCode.USAGE


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


def _validator(definition: str | None) -> jsonschema.Draft202012Validator:
    # imported here: a scan without a policy file or waivers never validates one, and
    # jsonschema is a quarter of the scan command's start-up
    import jsonschema
    from referencing import Registry, Resource

    document = schema()
    registry: Registry[Any] = Registry().with_resource(SCHEMA_ID, Resource.from_contents(document))
    target = document if definition is None else {"$ref": f"{SCHEMA_ID}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(target, registry=registry)


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
    plain = _plain(data)
    errors = sorted(_validator(definition).iter_errors(plain), key=lambda e: list(e.path))
    if errors:
        problems = "; ".join(_describe(e) for e in errors[:5])
        raise SloPolicyError(f"{origin}: invalid SLO policy: {problems}")
    return cast("dict[str, Any]", plain)


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "pattern" and error.validator_value == "\\S":
        return f"{where}: must not be empty"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (unknown keys are errors)"
    return f"{where}: {error.message}"


def _days(value: int | float | str) -> int:
    """Whole days: an integer (JSON Schema also counts 7.0 as one, as YAML may write it) or "7d"."""
    return int(value.removesuffix("d")) if isinstance(value, str) else int(value)


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
    windows.update({k: _days(v) for k, v in table.get("windows", {}).items()})
    defaults = Policy()
    spans: dict[str, int] = {
        **{f"windows/{k}": v for k, v in windows.items()},
        **{k: _days(table[k]) for k in ("due_soon", "max_waiver_span", "max_db_age") if k in table},
    }
    for key, days in spans.items():
        if days > MAX_DAYS:  # a due date past the calendar's end cannot be computed
            raise SloPolicyError(
                f"{origin}: invalid SLO policy: {key}: {days} days is over 1000 years"
            )
    return Policy(
        windows=windows,
        unknown_severity=table.get("unknown_severity", defaults.unknown_severity),
        clock=table.get("clock", defaults.clock),
        due_soon=_days(table.get("due_soon", defaults.due_soon)),
        no_fix_pauses_clock=table.get("no_fix_pauses_clock", defaults.no_fix_pauses_clock),
        max_waiver_span=_days(table.get("max_waiver_span", defaults.max_waiver_span)),
        max_db_age=_days(table.get("max_db_age", defaults.max_db_age)),
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
