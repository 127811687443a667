"""The gate's policy file (YAML, version 1): validated against `policy.schema.json` shipped
beside this module (unknown keys are errors), then turned into frozen models. Identity patterns
are compiled here, once, and always match the WHOLE identity."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import jsonschema
import yaml
from referencing import Registry, Resource

from verify import untrusted_yaml
from verify.errors import ExitCode, VerifyError
from verify.files import MIB, NotRegular, TooLarge, read_limited
from verify.slo import policy as slo_policy

GITHUB = "https://github.com/"
Mode = Literal["enforce", "audit"]
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


MAX_POLICY = 1 * MIB  # a policy is a few KB


class PolicyError(VerifyError):
    """The policy file is missing or malformed: fix the file named in the message."""

    exit_code = ExitCode.USAGE


@dataclasses.dataclass(frozen=True)
class Extensions:
    """Checks on the certificate's GitHub workflow extensions (absent means not checked)."""

    source_repository: str | None = None
    source_ref_pattern: re.Pattern[str] | None = None
    trigger: tuple[str, ...] = ()
    runner_environment: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class IdentityRule:
    """Who may sign: the issuer exactly, and the subject exactly or by an anchored pattern."""

    issuer: str
    subject: str | None
    subject_pattern: re.Pattern[str] | None
    extensions: Extensions
    label: str  # how the rule is shown in explanations

    def matches_subject(self, subject: str) -> bool:
        if self.subject is not None:
            return subject == self.subject
        assert self.subject_pattern is not None
        return self.subject_pattern.fullmatch(subject) is not None


@dataclasses.dataclass(frozen=True)
class Provenance:
    builder_id: str | None = None
    builder_id_pattern: re.Pattern[str] | None = None
    source_repository: str | None = None
    ref_pattern: re.Pattern[str] | None = None
    build_type: str | None = None


@dataclasses.dataclass(frozen=True)
class Sbom:
    denied_licenses: tuple[str, ...] = ()
    denied_packages: tuple[str, ...] = ()  # a name, or name@version


@dataclasses.dataclass(frozen=True)
class Vulnerabilities:
    """The deployer's own SLO rules (`rules`: windows, unknown_severity, clock,
    no_fix_pauses_clock, max_waiver_span, waiver_approvers, and max_db_age for `--db`;
    verify.slo's defaults where the policy names none), by which the signed findings are
    judged: the producer's are evidence."""

    slo: bool = True
    max_scan_age: datetime.timedelta | None = None
    rules: slo_policy.Policy = dataclasses.field(default_factory=slo_policy.Policy)


@dataclasses.dataclass(frozen=True)
class BuildLink:
    step: str | None = None


@dataclasses.dataclass(frozen=True)
class Require:
    signature: bool = True
    provenance: Provenance | None = None
    sbom: Sbom | None = None
    vulnerabilities: Vulnerabilities | None = None
    build_link: BuildLink | None = None
    max_attestation_age: datetime.timedelta | None = None


@dataclasses.dataclass(frozen=True)
class TrustSpec:
    name: str  # production, staging, or "pinned"
    trusted_root: Path | None = None
    allow_development_root: bool = False
    max_age: datetime.timedelta | None = None


@dataclasses.dataclass(frozen=True)
class Policy:
    origin: str
    sha256: str  # of the file's bytes, for the decision log
    mode: Mode
    trust: TrustSpec
    identities: tuple[IdentityRule, ...]
    k_of_n: int
    require: Require


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("verify").joinpath("policy.schema.json").read_text("utf-8")
    slo_schema = Resource.from_contents(slo_policy.schema())  # require/vulnerabilities uses it
    registry: Registry[Any] = Registry().with_resource(slo_policy.SCHEMA_ID, slo_schema)
    return jsonschema.Draft202012Validator(json.loads(text), registry=registry)


def duration(text: str) -> datetime.timedelta:
    return datetime.timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


def human(span: datetime.timedelta) -> str:
    """A duration as a policy writes it (30d, 12h, 90m), or days and hours when not round."""
    minutes = int(span.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return " ".join(p for p in parts if p) or "0m"


def _pattern(text: str, origin: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise PolicyError(
            f"{origin}: {where}: {text!r} is not a valid regular expression: {e}"
        ) from e


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (unknown keys are errors)"
    if error.validator == "oneOf" and "identities" in error.absolute_path:
        return f"{where}: give exactly one of subject, subject_pattern or github"
    return f"{where}: {error.message}"


def _github_rule(item: dict[str, Any], origin: str, where: str) -> re.Pattern[str]:
    """The shorthand as one anchored pattern over the workflow identity Fulcio writes."""
    gh = item["github"]
    workflow = re.escape(gh["workflow"]) if "workflow" in gh else r"[^@]+"
    ref = gh.get("ref_pattern", r".+")
    _pattern(ref, origin, f"{where}/github/ref_pattern")
    return re.compile(f"{re.escape(GITHUB + gh['repository'])}/{workflow}@(?:{ref})")


def _identity(item: dict[str, Any], origin: str, i: int) -> IdentityRule:
    where = f"identities/{i}"
    subject, pattern = item.get("subject"), None
    if "subject_pattern" in item:
        pattern = _pattern(item["subject_pattern"], origin, f"{where}/subject_pattern")
    elif "github" in item:
        pattern = _github_rule(item, origin, where)
    ext = item.get("extensions", {})
    ref = ext.get("source_ref_pattern")
    label = subject or (pattern.pattern if pattern else "")
    return IdentityRule(
        issuer=item["issuer"],
        subject=subject,
        subject_pattern=pattern,
        extensions=Extensions(
            source_repository=ext.get("source_repository"),
            source_ref_pattern=_pattern(ref, origin, f"{where}/extensions") if ref else None,
            trigger=tuple(ext.get("trigger", ())),
            runner_environment=tuple(ext.get("runner_environment", ())),
        ),
        label=f"{label} (issuer {item['issuer']})",
    )


def _trust(data: str | dict[str, Any], max_age: str | None, base: Path) -> TrustSpec:
    age = duration(max_age) if max_age is not None else None
    if isinstance(data, str):
        return TrustSpec(data, max_age=age)
    return TrustSpec(
        "pinned",
        trusted_root=base / data["trusted_root"],
        allow_development_root=data.get("allow_development_root", False),
        max_age=age,
    )


def _optional(table: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = table.get(key)
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def _require(data: dict[str, Any], origin: str) -> Require:
    prov, sbom = _optional(data, "provenance"), _optional(data, "sbom")
    vulns, link = _optional(data, "vulnerabilities"), _optional(data, "build_link")
    where = "require/provenance"
    return Require(
        signature=data.get("signature", True),
        provenance=None
        if prov is None
        else Provenance(
            builder_id=prov.get("builder_id"),
            builder_id_pattern=_pattern(prov["builder_id_pattern"], origin, where)
            if "builder_id_pattern" in prov
            else None,
            source_repository=prov.get("source_repository"),
            ref_pattern=_pattern(prov["ref_pattern"], origin, where)
            if "ref_pattern" in prov
            else None,
            build_type=prov.get("build_type"),
        ),
        sbom=None
        if sbom is None
        else Sbom(tuple(sbom.get("denied_licenses", ())), tuple(sbom.get("denied_packages", ()))),
        vulnerabilities=None if vulns is None else _vulnerabilities(vulns, origin),
        build_link=None if link is None else BuildLink(link.get("step")),
        max_attestation_age=duration(data["max_attestation_age"])
        if "max_attestation_age" in data
        else None,
    )


# The keys of require.vulnerabilities that are verify.slo's policy, parsed by it.
_SLO_KEYS = (
    "windows",
    "unknown_severity",
    "clock",
    "no_fix_pauses_clock",
    "max_waiver_span",
    "waiver_approvers",
    "max_db_age",
)


def _vulnerabilities(data: dict[str, Any], origin: str) -> Vulnerabilities:
    rules = {k: v for k, v in data.items() if k in _SLO_KEYS}
    try:
        parsed = slo_policy.parse_policy(rules, f"{origin}: require/vulnerabilities")
    except slo_policy.SloPolicyError as e:  # e.g. a window over 1000 years
        raise PolicyError(str(e)) from e
    return Vulnerabilities(
        slo=data.get("slo", True),
        max_scan_age=duration(data["max_scan_age"]) if "max_scan_age" in data else None,
        rules=parsed,
    )


def parse_policy(raw: bytes, origin: str, base: Path) -> Policy:
    """The policy in `raw` (read from `origin`; relative paths are resolved from `base`)."""
    try:
        data = untrusted_yaml.load(raw)
    except yaml.YAMLError as e:  # deep nesting included: the loader bounds it first
        raise PolicyError(f"{origin}: not valid YAML: {e}") from e
    if data is None:
        raise PolicyError(f"{origin}: the policy is empty; an empty policy allows nothing")
    try:
        errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    except RecursionError as e:
        raise PolicyError(f"{origin}: the policy is nested too deeply") from e
    if errors:
        problems = "; ".join(_describe(e) for e in errors[:5])
        raise PolicyError(f"{origin}: invalid policy: {problems}")
    return Policy(
        origin=origin,
        sha256=hashlib.sha256(raw).hexdigest(),
        mode=data.get("mode", "enforce"),
        trust=_trust(data["trust"], data.get("max_trust_root_age"), base),
        identities=tuple(_identity(item, origin, i) for i, item in enumerate(data["identities"])),
        k_of_n=data.get("k_of_n", 1),
        require=_require(data.get("require", {}), origin),
    )


def load_policy(path: Path) -> Policy:
    try:
        raw = read_limited(path, MAX_POLICY, "a policy")
    except (TooLarge, NotRegular) as e:
        raise PolicyError(str(e)) from e
    except FileNotFoundError as e:
        raise PolicyError(
            f"{path}: no such policy file; without a policy nothing is allowed"
        ) from e
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the policy: {e.strerror}") from e
    return parse_policy(raw, str(path), path.parent)
