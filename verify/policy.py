"""The gate's policy file (YAML, version 1): validated against `policy.schema.json` shipped
beside this module (unknown keys are errors), then turned into frozen models. Patterns are
compiled here, once, by RE2 (linear time in the text, whatever the pattern), and identity patterns
always match the WHOLE identity. A policy under which an unsigned artifact with no evidence would
pass is refused."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import jsonschema
import re2
import yaml
from packaging.utils import canonicalize_name
from referencing import Registry, Resource

from verify import untrusted_yaml
from verify.errors import UsageError
from verify.files import MIB, NotRegular, TooLarge, read_limited
from verify.slo import policy as slo_policy
from verify.text import quoted

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

GITHUB = "https://github.com/"
Mode = Literal["enforce", "audit"]
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


MAX_POLICY = 1 * MIB  # a policy is a few KB
# Distinct signers one artifact may be required to have: more is a typo that could never be met.
MAX_K_OF_N = 100
_SHOWN = 32  # characters of a value an error quotes (as of an unknown key's name)


def excerpt(text: str) -> str:
    """A value of the policy as an error quotes it: escaped (repr), at most _SHOWN characters
    of it and an ellipsis. A file named as the policy by mistake may hold secrets, and a 400 KB
    value must not make a 400 KB error line."""
    return quoted(text, _SHOWN)


class PolicyError(UsageError):
    """The policy file is missing or malformed: fix the file named in the message."""


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A regular expression of the policy, compiled by RE2: matching takes time linear in the
    text, so no pattern can hang the gate (Python's `re` takes exponential time on `(a+)+$`)."""

    pattern: str
    compiled: Any = dataclasses.field(repr=False, compare=False)

    def fullmatch(self, text: str) -> object | None:
        """A match of the WHOLE text, or None."""
        return self._run(self.compiled.fullmatch, text)

    def search(self, text: str) -> object | None:
        """A match anywhere in the text, or None (for hints only: policies match whole)."""
        return self._run(self.compiled.search, text)

    @staticmethod
    def _run(method: Any, text: str) -> object | None:
        try:
            found: object | None = method(text)
        except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): not text RE2 reads
            return None
        return found


@dataclasses.dataclass(frozen=True)
class Extensions:
    """Checks on the certificate's GitHub workflow extensions (absent means not checked)."""

    source_repository: str | None = None
    source_ref_pattern: Pattern | None = None
    trigger: tuple[str, ...] = ()
    runner_environment: tuple[str, ...] = ()
    # `github.signer_workflow`: the reusable workflow that signed (Build Signer URI), and the
    # caller's workflow the `github` keys name (Build Config URI)
    build_signer_pattern: Pattern | None = None
    build_config_pattern: Pattern | None = None
    # a `github` rule: the workflow ran in this repository (Source Repository URI, as `gh
    # attestation verify --repo` checks), and without `signer_workflow` it ran itself: its Build
    # Config URI is the identity, no other workflow called it as a reusable one
    repository: str | None = None
    ran_itself: bool = False


@dataclasses.dataclass(frozen=True)
class IdentityRule:
    """Who may sign: the issuer exactly, and the subject exactly or by an anchored pattern."""

    issuer: str
    subject: str | None
    subject_pattern: Pattern | None
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
    builder_id_pattern: Pattern | None = None
    source_repository: str | None = None
    ref_pattern: Pattern | None = None
    build_type: str | None = None


_TOO_LONG = "a version holds a number of more than 4,300 digits, which Python cannot read"


@dataclasses.dataclass(frozen=True)
class DeniedPackage:
    """A `denied_packages` entry: a project name (canonical) and the versions denied, a PEP 440
    specifier set (empty: every version). `name@version`, the older form, reads as
    `name==version`, so `requests@2.31` denies 2.31.0 as PEP 440 says; after the `@` comes a
    version, never an operator (`requests@==2.31.0` would read as `===`). Refused as well, since
    they would deny nothing the writer meant: `===`, which compares the text of versions
    (`===2.31` is not 2.31.0), and a set no version satisfies (`>2.32,<2.0`), when its bounds
    alone show it."""

    text: str  # as the policy wrote it
    name: str
    versions: SpecifierSet

    @classmethod
    def parse(cls, text: str) -> DeniedPackage:
        """ValueError saying why when `text` is not a name with an optional specifier."""
        # here, not at the top: it costs every gate run some 15 ms, few policies need it
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.version import InvalidVersion, Version

        name, at, version = text.partition("@")
        if at:
            try:
                Version(version)
            except InvalidVersion as e:
                raise ValueError(
                    "name@version takes a PEP 440 version after the @ (requests@2.31.0); "
                    "write a specifier without the @ (requests==2.31.0, requests<2.32)"
                ) from e
            except ValueError as e:  # the integer-string limit
                raise ValueError(_TOO_LONG) from e
        try:
            requirement = Requirement(f"{name}=={version}" if at else text)
        except InvalidRequirement as e:
            raise ValueError(
                f"not a package name with an optional PEP 440 version specifier "
                f"(e.g. pyyaml<5.4, PyYAML==5.3, requests): {_packaging_problem(e, at)}"
            ) from e
        if requirement.extras or requirement.marker or requirement.url:
            raise ValueError("give a name and a version specifier only: no extras, markers or URL")
        if any(spec.operator == "===" for spec in requirement.specifier):
            raise ValueError(
                "=== compares the text of versions, not versions (===2.31 is not 2.31.0): "
                "use == instead"
            )
        for spec in requirement.specifier:
            try:
                spec.contains("0", prereleases=True)  # reads its version, as the gate will
            except ValueError as e:
                raise ValueError(_TOO_LONG) from e
        if clash := _unsatisfiable(requirement.specifier):
            raise ValueError(f"no version is both {clash}: this entry would deny nothing")
        return cls(text, canonicalize_name(requirement.name), requirement.specifier)


def _packaging_problem(error: Exception, at: str) -> str:
    """packaging's reason, without the entry it quotes whole on its next lines: the first line
    (`Expected end or semicolon ...`) and the character the caret under the quote points at."""
    first, *rest = str(error).split("\n")
    caret = rest[-1].find("^") - 4 if len(rest) == 2 else -1  # the quote is indented by 4
    if at:  # `name@version` was read as `name==version`: the column is of that text
        return first
    return f"{first} (at character {caret + 1})" if caret >= 0 else first


def _unsatisfiable(versions: SpecifierSet) -> str | None:
    """Two specifiers of `versions` no version satisfies together, as seen from their bounds: the
    highest lower bound (>, >=, ~=, ==) above the lowest upper bound (<, <=, ==), or at it with
    either exclusive. Wildcards, != and local versions are left out, so a set refused here is
    empty indeed (PEP 440's exclusions of pre-, post- and local releases only narrow it)."""
    from packaging.version import Version

    lower: tuple[Version, bool, str] | None = None  # (version, exclusive, as written)
    upper: tuple[Version, bool, str] | None = None  # (version, inclusive, as written)
    for spec in versions:
        version = None if spec.version.endswith(".*") else Version(spec.version)
        if version is None or version.local is not None:
            continue
        if spec.operator in (">", ">=", "~=", "==") and (
            lower is None or (version, spec.operator == ">") > lower[:2]
        ):
            lower = (version, spec.operator == ">", str(spec))
        if spec.operator in ("<", "<=", "==") and (
            upper is None or (version, spec.operator != "<") < upper[:2]
        ):
            upper = (version, spec.operator != "<", str(spec))
    if lower is None or upper is None:
        return None
    if lower[0] > upper[0] or (lower[0] == upper[0] and (lower[1] or not upper[1])):
        cut = [t if len(t) <= _SHOWN else f"{t[:_SHOWN]}…" for t in (lower[2], upper[2])]
        return f"{cut[0]} and {cut[1]}"  # PEP 440 specifiers: no character to escape
    return None


@dataclasses.dataclass(frozen=True)
class Sbom:
    denied_licenses: tuple[str, ...] = ()  # SPDX ids, matched without regard to case
    denied_packages: tuple[DeniedPackage, ...] = ()


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
class Vsa:
    """`require.vsa`: a PASSED VSA for this digest from `verifier`, signed by `signer`."""

    verifier: str
    signer: IdentityRule  # believed for VSAs only
    levels: tuple[str, ...] = ()
    max_age: datetime.timedelta | None = None
    policy_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class Require:
    signature: bool = True
    publish: IdentityRule | None = None  # a PEP 740 publish attestation by this workflow
    provenance: Provenance | None = None
    sbom: Sbom | None = None
    vulnerabilities: Vulnerabilities | None = None
    build_link: BuildLink | None = None
    max_attestation_age: datetime.timedelta | None = None
    vsa: Vsa | None = None

    @property
    def evidence_required(self) -> bool:
        """Whether an artifact must prove something to pass: a signature, or an attestation
        (which counts only from a signer the policy allows). Without it an unsigned artifact
        would be allowed; an age limit alone proves nothing: with no evidence there is
        nothing to be old."""
        return self.signature or any(
            rule is not None
            for rule in (
                self.publish,
                self.provenance,
                self.sbom,
                self.vulnerabilities,
                self.build_link,
                self.vsa,
            )
        )


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
    unknown_predicates: Literal["deny", "ignore"] = "deny"
    resolve_tags: bool = False  # images.resolve_tags: judge an image by tag at its digest


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The policy's JSON Schema, as shipped (docs/policy.md is written from it)."""
    text = resources.files("verify").joinpath("policy.schema.json").read_text("utf-8")
    return cast("dict[str, Any]", json.loads(text))


def registry() -> Registry[Any]:
    """The schemas the policy's refers to, by `$id`: the SLO policy's (require/vulnerabilities
    uses it). Nothing else resolves, and nothing is fetched."""
    slo_schema = Resource.from_contents(slo_policy.schema())
    known: Registry[Any] = Registry().with_resource(slo_policy.SCHEMA_ID, slo_schema)
    return known


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    return slo_policy.validator_class()(schema(), registry=registry())


MAX_DURATION = datetime.timedelta(days=365_000)  # 1000 years: longer is a typo, and overflows


_DURATION = re.compile(r"([0-9]+)([dhm])")  # matched whole: no "30d\n"


def duration(text: str, where: str = "a duration") -> datetime.timedelta:
    """`30d`, `12h`, `90m`; PolicyError naming `where` for another form or past MAX_DURATION."""
    found = _DURATION.fullmatch(text)
    if found is None:
        raise PolicyError(f"{where}: not a duration such as 30d, 12h or 90m")
    digits, unit = found[1].lstrip("0"), _UNITS[found[2]]
    limit = MAX_DURATION // datetime.timedelta(**{unit: 1})
    # the length first: int() refuses a string of over 4,300 digits
    if len(digits) > len(str(limit)) or int(digits or 0) > limit:
        shown = text if len(text) <= 40 else f"{text[:12]}...{unit[0]}"
        raise PolicyError(f"{where}: {shown} is over 1000 years")
    return datetime.timedelta(**{unit: int(digits or 0)})


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


def _pattern(text: str, origin: str, where: str) -> Pattern:
    options = re2.Options()
    options.log_errors = False  # the error is ours to report, once
    try:
        return Pattern(text, re2.compile(text, options))
    except re2.error as e:
        raise PolicyError(
            f"{origin}: {where}: {excerpt(text)} is not a valid regular expression: "
            f"{_re2_problem(e)} (patterns are RE2 syntax, matched in linear time: no "
            "backreferences, lookahead or lookbehind)"
        ) from e


def _re2_problem(error: re2.error) -> str:
    """RE2's reason (`missing ): <the pattern>`): its kind, and what it names only when that is
    an operator or an escape (`invalid perl operator: (?=`), never the pattern quoted again."""
    why = error.args[0] if error.args else ""
    why = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
    kind, _, what = why.partition(": ")
    return f"{kind}: {what}" if what and len(what) <= _RE2_NAMED else kind


_RE2_NAMED = 8  # characters of what RE2 names: `(?<=`, `\1`, `{1001}`


def _describe(error: jsonschema.ValidationError) -> str:
    """Said from the schema's side, never quoting the value (see slo_policy.describe)."""
    if error.validator == "oneOf" and "identities" in error.absolute_path:
        where = slo_policy.error_path(error)
        return f"{where}: give exactly one of subject, subject_pattern or github"
    return slo_policy.describe(error)


def _github_rule(item: dict[str, Any], origin: str, where: str) -> tuple[Pattern, Pattern | None]:
    """The shorthand as anchored patterns over the workflow identities Fulcio writes: (the
    identity's, the caller's). Without `signer_workflow` the workflow named signed itself: the
    identity is `repository/workflow@ref`, no caller. With it (gh's --signer-workflow) a reusable
    workflow signed: the identity is `signer_workflow@<any ref>` and the repository, workflow
    and ref name its caller, the certificate's Build Config URI."""
    gh = item["github"]
    workflow = re.escape(gh["workflow"]) if "workflow" in gh else r"[^@]+"
    ref = gh.get("ref_pattern", r".+")
    _pattern(ref, origin, f"{where}/github/ref_pattern")  # its own errors, named as written
    # re.escape's escapes are RE2 syntax too, and keep the rule readable in explanations
    rule = _pattern(
        f"{re.escape(GITHUB + gh['repository'])}/{workflow}@(?:{ref})", origin, f"{where}/github"
    )
    if "signer_workflow" not in gh:
        return rule, None
    signer = re.escape(GITHUB + gh["signer_workflow"])
    return _pattern(f"{signer}@.+", origin, f"{where}/github/signer_workflow"), rule


def _identity(item: dict[str, Any], origin: str, where: str) -> IdentityRule:
    subject, pattern, caller = item.get("subject"), None, None
    if "subject_pattern" in item:
        pattern = _pattern(item["subject_pattern"], origin, f"{where}/subject_pattern")
    elif "github" in item:
        pattern, caller = _github_rule(item, origin, where)
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
            build_signer_pattern=pattern if caller else None,
            build_config_pattern=caller,
            repository=GITHUB + item["github"]["repository"] if "github" in item else None,
            ran_itself="github" in item and caller is None,
        ),
        label=f"{label} (issuer {item['issuer']})",
    )


def _trust(data: str | dict[str, Any], max_age: str | None, base: Path, origin: str) -> TrustSpec:
    age = duration(max_age, f"{origin}: max_trust_root_age") if max_age is not None else None
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


# The issuer of GitHub Actions' OIDC tokens: who PyPI's trusted publishing trusts by default.
GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"


def _publish(data: dict[str, Any] | None, origin: str) -> IdentityRule | None:
    """`require.publish` as the identity rule its attestation's signer must satisfy."""
    if data is None:
        return None
    workflow = data["workflow"]  # as PyPI's trusted publishers name it: the file name
    item = {
        "issuer": data.get("issuer", GITHUB_ACTIONS_ISSUER),
        "github": {
            "repository": data["repository"],
            "workflow": workflow if "/" in workflow else f".github/workflows/{workflow}",
        },
    }
    return _identity(item, origin, "require/publish")


def _require(data: dict[str, Any], origin: str) -> Require:
    prov, sbom = _optional(data, "provenance"), _optional(data, "sbom")
    vulns, link = _optional(data, "vulnerabilities"), _optional(data, "build_link")
    where = "require/provenance"
    return Require(
        signature=data.get("signature", True),
        publish=_publish(_optional(data, "publish"), origin),
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
        sbom=None if sbom is None else _sbom(sbom, origin),
        vulnerabilities=None if vulns is None else _vulnerabilities(vulns, origin),
        build_link=None if link is None else BuildLink(link.get("step")),
        max_attestation_age=duration(
            data["max_attestation_age"], f"{origin}: require/max_attestation_age"
        )
        if "max_attestation_age" in data
        else None,
        vsa=_vsa(_optional(data, "vsa"), origin),
    )


def _vsa(data: dict[str, Any] | None, origin: str) -> Vsa | None:
    if data is None:
        return None
    age = data.get("max_age")
    return Vsa(
        verifier=data["verifier"],
        signer=_identity(data["signer"], origin, "require/vsa/signer"),
        levels=tuple(data.get("levels", ())),
        max_age=duration(age, f"{origin}: require/vsa/max_age") if age is not None else None,
        policy_sha256=data.get("policy_sha256"),
    )


def _sbom(data: dict[str, Any], origin: str) -> Sbom:
    packages = []
    for i, text in enumerate(data.get("denied_packages", ())):
        try:
            packages.append(DeniedPackage.parse(text))
        except ValueError as e:
            where = f"require/sbom/denied_packages/{i}"
            raise PolicyError(f"{origin}: {where}: {excerpt(text)}: {e}") from e
    return Sbom(tuple(data.get("denied_licenses", ())), tuple(packages))


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
        max_scan_age=(
            duration(data["max_scan_age"], f"{origin}: require/vulnerabilities/max_scan_age")
            if "max_scan_age" in data
            else None
        ),
        rules=parsed,
    )


_QUOTED = re.compile(rf"'([^'\n]{{{_SHOWN}}})[^'\n]+'")  # a quote over _SHOWN characters


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's reason on one line, where it is, and what it quotes of the file (a tag, an alias
    name: `could not determine a constructor for the tag '!<a secret>'`) cut to _SHOWN
    characters."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        mark = error.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        text = f"{error.problem}{where}"
    else:
        text = " ".join(str(error).split())
    text = _QUOTED.sub(lambda m: f"'{m[1]}…'", text)
    return text if len(text) <= _YAML_SHOWN else f"{text[:_YAML_SHOWN]}…"


_YAML_SHOWN = 200  # characters of PyYAML's reason: its own words, and a quote cut short


def _k_of_n(k: int, identities: tuple[IdentityRule, ...], origin: str) -> None:
    """PolicyError when no artifact could ever have `k` distinct allowed signers: a policy that
    can never allow is a configuration error, not a deny for ever. An exact subject allows one
    signer (a workflow's identity up to its ref: `signature.signer_key`); a pattern may allow
    many, up to MAX_K_OF_N."""
    if not identities:  # denies every artifact, said by the signature check
        return
    if any(rule.subject is None for rule in identities):
        bound, why = MAX_K_OF_N, f"at most {MAX_K_OF_N} are counted"
    else:
        exact = {(r.issuer, str(r.subject).split("@refs/", 1)[0]) for r in identities}
        bound = len(exact)
        why = f"the identities allow {bound} distinct signer(s) (exact subjects, refs aside)"
    if k > bound:
        raise PolicyError(
            f"{origin}: k_of_n: {excerpt(str(k))} signers could never sign: {why}; a policy "
            "that can never allow is refused"
        )


def parse_policy(raw: bytes, origin: str, base: Path) -> Policy:
    """The policy in `raw` (read from `origin`; relative paths are resolved from `base`)."""
    try:
        data = untrusted_yaml.load(raw)
    except yaml.YAMLError as e:  # deep nesting included: the loader bounds it first
        raise PolicyError(f"{origin}: not valid YAML: {_yaml_problem(e)}") from e
    if data is None:
        raise PolicyError(f"{origin}: the policy is empty; an empty policy allows nothing")
    try:
        errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    except RecursionError as e:
        raise PolicyError(f"{origin}: the policy is nested too deeply") from e
    if errors:
        problems = "; ".join(dict.fromkeys(_describe(e) for e in errors[:5]))
        raise PolicyError(f"{origin}: invalid policy: {problems}")
    policy = Policy(
        origin=origin,
        sha256=hashlib.sha256(raw).hexdigest(),
        mode=data.get("mode", "enforce"),
        trust=_trust(data["trust"], data.get("max_trust_root_age"), base, origin),
        identities=tuple(
            _identity(item, origin, f"identities/{i}") for i, item in enumerate(data["identities"])
        ),
        k_of_n=data.get("k_of_n", 1),
        require=_require(data.get("require", {}), origin),
        unknown_predicates=data.get("unknown_predicates", "deny"),
        resolve_tags=data.get("images", {}).get("resolve_tags", False),
    )
    _k_of_n(policy.k_of_n, policy.identities, origin)
    if policy.k_of_n > 1 and not policy.require.signature:
        raise PolicyError(
            f"{origin}: k_of_n: {policy.k_of_n} counts the signers of signature bundles, and "
            "require.signature is false: nothing would be counted; require signatures or drop "
            "k_of_n"
        )
    if not policy.require.evidence_required:
        raise PolicyError(
            f"{origin}: this policy would allow anything: with require.signature false and no "
            "attestation required, an unsigned artifact with no evidence would pass; require a "
            "signature, publish, provenance, sbom, vulnerabilities, build_link or vsa"
        )
    return policy


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
