"""Checks on the signed attestations: SLSA provenance, the SBOM, the build link, and how old
the log says each piece of evidence is. Only attestations from allowed signers are believed."""

from __future__ import annotations

from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from verify.checks import names, trusted
from verify.evidence import Evidence, Signed
from verify.formats import cyclonedx
from verify.formats.link import Link
from verify.formats.predicates import CYCLONEDX_BOM, LINK_V03, SLSA_PROVENANCE_V1, short
from verify.formats.provenance import SlsaProvenance
from verify.formats.statement import Statement
from verify.interface import Check, Context, Outcome
from verify.once import Kept
from verify.policy import DeniedPackage, Provenance, Sbom, human
from verify.text import excerpt, quoted


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


_SIGNED = 100  # characters of a signed value a refusal quotes: a builder id is shorter


def _signed(value: str | None) -> str:
    """A signed value as a refusal quotes it: bounded and escaped, whatever the signer wrote
    (a builder id of 300,000 characters made stderr, --json and the log record 1.2 MB)."""
    return quoted(value, _SIGNED) if value is not None else "None"


def _provenance_failures(rule: Provenance, provenance: SlsaProvenance) -> list[str]:
    builder, build_type = provenance.builder.id, provenance.build_type
    repository, ref = provenance.source
    failures = []
    if rule.builder_id is not None and builder != rule.builder_id:
        failures.append(f"builder id {_signed(builder)} is not {rule.builder_id!r}")
    if rule.builder_id_pattern is not None and not rule.builder_id_pattern.fullmatch(builder or ""):
        failures.append(
            f"builder id {_signed(builder)} does not match {rule.builder_id_pattern.pattern!r}"
        )
    if rule.build_type is not None and build_type != rule.build_type:
        failures.append(f"build type {_signed(build_type)} is not {rule.build_type!r}")
    if rule.source_repository is not None and repository != rule.source_repository:
        failures.append(
            f"source repository {_signed(repository)} is not {rule.source_repository!r}"
        )
    if rule.ref_pattern is not None and not rule.ref_pattern.fullmatch(ref or ""):
        failures.append(f"source ref {_signed(ref)} does not match {rule.ref_pattern.pattern!r}")
    return failures


def _judged_provenance(
    rule: Provenance, statement: Statement
) -> tuple[SlsaProvenance, tuple[str, ...]]:
    """The provenance `statement` holds and why `rule` refuses it, read once per statement and
    rule (a release's one provenance covers each of its artifacts, and was read again for
    every one): kept with the statement, as an SBOM's are (see `_JUDGED`)."""
    key = ("provenance", id(statement), rule)
    found = _JUDGED.get(key)
    if found is None or found[0] is not statement:
        provenance = SlsaProvenance.from_dict(statement.predicate)
        found = (statement, provenance, tuple(_provenance_failures(rule, provenance)))
        _JUDGED.put(key, found)
    return found[1], found[2]


def _describe_provenance(rule: Provenance) -> str:
    parts = [
        f"builder id {rule.builder_id}" if rule.builder_id else "",
        f"builder id ~ {rule.builder_id_pattern.pattern}" if rule.builder_id_pattern else "",
        f"build type {rule.build_type}" if rule.build_type else "",
        f"source {rule.source_repository}" if rule.source_repository else "",
        f"ref ~ {rule.ref_pattern.pattern}" if rule.ref_pattern else "",
    ]
    return "SLSA v1 provenance" + (": " + ", ".join(p for p in parts if p) if any(parts) else "")


class ProvenanceCheck(Check):
    name = "provenance"
    order = 40

    def applies(self, context: Context) -> bool:
        return context.policy.require.provenance is not None

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        rule = context.policy.require.provenance
        assert rule is not None
        found = trusted(evidence, context, SLSA_PROVENANCE_V1)
        failures = [] if found else ["no SLSA v1 provenance from an allowed signer covers it"]
        read = [(a, *_judged_provenance(rule, a.statement)) for a in found]
        for attestation, _, whys in read:
            failures += [f"{attestation.path.name}: {why}" for why in whys]
        actual = "; ".join(
            "builder {} from {}@{}".format(
                *(excerpt(v, _SIGNED) for v in (provenance.builder.id, *provenance.source))
            )
            for _, provenance, _ in read
        )
        return Outcome(self.name, self.expect(context), actual or "none", tuple(failures))

    def expect(self, context: Context) -> str:
        rule = context.policy.require.provenance
        assert rule is not None
        return _describe_provenance(rule)


# an SBOM or a provenance judged by one rule, kept: a release's one SBOM covers each of its
# artifacts, and its components were walked again for every one (the statement is kept with its
# result, so an id reused after it is gone never finds another's)
_JUDGED = Kept(256)


def _judged_sbom(rule: Sbom, statement: Statement) -> list[str]:
    key = ("sbom", id(statement), rule)
    found = _JUDGED.get(key)
    if found is None or found[0] is not statement:
        found = (statement, _sbom_failures(rule, statement.predicate))
        _JUDGED.put(key, found)
    return list(found[1])


def _sbom_failures(rule: Sbom, predicate: dict[str, Any]) -> list[str]:
    if "attestByReference" in predicate:
        if not (rule.denied_licenses or rule.denied_packages):
            return []
        return ["the SBOM is attested by reference: its components cannot be checked here"]
    try:  # its components are read even with nothing denied: a malformed SBOM is no SBOM
        return _component_failures(rule, predicate)
    except cyclonedx.MalformedBom as e:
        return [f"malformed SBOM: {e}"]


def _component_failures(rule: Sbom, predicate: dict[str, Any]) -> list[str]:
    failures = []
    licenses = {spdx.casefold() for spdx in rule.denied_licenses}  # SPDX ids ignore case
    for component in cyclonedx.components(predicate):
        name, version = component.name or "", component.version or ""
        said = f"{excerpt(name, _SIGNED)} {excerpt(version, _SIGNED)}"  # `f-_-_-…-_-lask` too
        failures += [
            f"denied package {said} (policy: {entry.text}{why})"
            for entry in rule.denied_packages
            if (why := _denial(entry, name, version)) is not None
        ]
        bad = sorted(found for found in component.licenses() if found.casefold() in licenses)
        if bad:
            failures.append(f"{said} has denied license {', '.join(bad)}")
    return failures


def _denial(entry: DeniedPackage, name: str, version: str) -> str | None:
    """None when `entry` does not deny this component; else what to add to the reason. A
    version that is not PEP 440 cannot be shown to lie outside the denied ones: denied."""
    if canonicalize_name(name) != entry.name:
        return None
    if not entry.versions:
        return ""
    try:
        parsed = Version(version)
    except ValueError:  # InvalidVersion, or a number past Python's 4,300 digits
        shown = f"version {short(version)}" if version else "no version"
        return f"; {shown} is not a PEP 440 version, so it cannot be shown outside {entry.versions}"
    return "" if entry.versions.contains(parsed, prereleases=True) else None


class SbomCheck(Check):
    name = "sbom"
    order = 50

    def applies(self, context: Context) -> bool:
        return context.policy.require.sbom is not None

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        rule = context.policy.require.sbom
        assert rule is not None
        found = trusted(evidence, context, CYCLONEDX_BOM)
        failures = [] if found else ["no CycloneDX SBOM attestation from an allowed signer"]
        for attestation in found:
            failures += [
                f"{attestation.path.name}: {why}"
                for why in _judged_sbom(rule, attestation.statement)
            ]
        return Outcome(self.name, self.expect(context), names(found), tuple(failures))

    def expect(self, context: Context) -> str:
        rule = context.policy.require.sbom
        assert rule is not None
        expected = "a signed CycloneDX SBOM"
        if rule.denied_packages:
            expected += ", no package " + ", ".join(p.text for p in rule.denied_packages)
        if rule.denied_licenses:
            expected += ", no license " + ", ".join(rule.denied_licenses)
        return expected


class BuildLinkCheck(Check):
    """The artifact's digest is among the products of a signed in-toto build link."""

    name = "build link"
    order = 70

    def applies(self, context: Context) -> bool:
        return context.policy.require.build_link is not None

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        rule = context.policy.require.build_link
        assert rule is not None
        links = trusted(evidence, context, LINK_V03)
        steps = [
            a
            for a in links
            if rule.step is None or Link.from_dict(a.statement.predicate).name == rule.step
        ]
        step = f"step {rule.step!r}" if rule.step else "a build step"
        failures = (
            ()
            if steps
            else (
                f"not a product of {step} in any signed build link "
                f"(links covering it: {names(links)})",
            )
        )
        return Outcome(self.name, self.expect(context), names(steps), failures)

    def expect(self, context: Context) -> str:
        rule = context.policy.require.build_link
        assert rule is not None
        step = f"step {rule.step!r}" if rule.step else "a build step"
        return f"a product (subject) of {step} in a signed in-toto build link"


class AttestationAgeCheck(Check):
    """Every bundle used was made (its verified time) no longer ago than the policy allows.
    Evidence from after the judging instant never reaches a check (verify/evidence.py). With
    nothing to judge it fails: it applies only when the policy requires some evidence."""

    name = "attestation age"
    order = 80

    def applies(self, context: Context) -> bool:
        require = context.policy.require
        return require.max_attestation_age is not None and require.evidence_required

    def run(self, evidence: Evidence, context: Context) -> Outcome:
        limit = context.policy.require.max_attestation_age
        assert limit is not None
        used: list[Signed] = [*evidence.signatures, *evidence.attestations]
        failures = [
            f"{item.path.name}: made {item.time.isoformat()}, {human(context.now - item.time)} "
            f"before the judging instant; the policy allows {human(limit)}"
            for item in used
            if context.now - item.time > limit
        ]
        if not used:
            failures.append("no verified bundle to judge the age of")
        oldest = min((i.time for i in used), default=None)
        actual = f"oldest made {oldest.isoformat()}" if oldest else "no bundle"
        return Outcome(self.name, self.expect(context), actual, tuple(failures))

    def expect(self, context: Context) -> str:
        limit = context.policy.require.max_attestation_age
        assert limit is not None
        return f"every bundle made within {human(limit)} before the judging instant"
