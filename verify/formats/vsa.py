"""SLSA Verification Summary Attestation v1 (`https://slsa.dev/verification_summary/v1`): the
gate's verdict on one artifact, as a predicate a downstream gate can require (`require.vsa`)
instead of re-checking everything. `summaries` turns the allowed decisions of `attest verify
--json` into statements (`attest vsa` signs them); `Vsa.from_dict` reads one back for the gate.
Schema: schemas/vsa-v1.schema.json.

Levels (`verifiedLevels`): the gate proves signed provenance from a signer the policy allows,
not that a hosted build platform made it, so an allow that checked provenance is
`SLSA_BUILD_LEVEL_1` and any other allow `SLSA_BUILD_LEVEL_0` (`gate_levels`). Build levels are
read strictly: `SLSA_BUILD_LEVEL_0` to `_3`, spelled exactly so (`_10` or `_02` would compare as
numbers above 2); a VSA with another spelling of a build level is refused, and other tracks'
names are neither required (the policy names build levels only) nor believed.

`summaries` refuses a decision file the gate cannot have written as it stands: a time after
the signing instant (post-dated: fresh forever downstream), levels its checks do not support,
an allow without the trust-root and bundle checks, two allowed artifacts of one file name (one
VSA would replace the other). What it cannot see (the artifact's and policy's bytes) the stage
re-hashes (`claimed_files`)."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from verify.formats.predicates import VSA_V1, InvalidAttestation, short
from verify.formats.statement import ResourceDescriptor, Statement, Subject, resources
from verify.text import quoted

SLSA_VERSION = "1.0"
PASSED = "PASSED"
_BUILD_LEVEL = re.compile(r"SLSA_BUILD_LEVEL_([0-3])")
_SPELLS_BUILD_LEVEL = re.compile(r"build\W*_*\W*level", re.IGNORECASE)
# An allow the gate wrote always passed these (gate: the root loads, every bundle verifies).
REQUIRED_CHECKS = ("trust root", "bundles verify")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Vsa:
    verifier_id: str
    time_verified: datetime.datetime
    resource_uri: str
    policy: ResourceDescriptor
    result: str
    levels: tuple[str, ...]
    inputs: tuple[ResourceDescriptor, ...] = ()
    verifier_version: dict[str, str] | None = None
    dependency_levels: dict[str, int] | None = None
    slsa_version: str | None = SLSA_VERSION

    def to_dict(self) -> dict[str, Any]:
        verifier: dict[str, Any] = {"id": self.verifier_id}
        if self.verifier_version:
            verifier["version"] = dict(self.verifier_version)
        found: dict[str, Any] = {
            "verifier": verifier,
            "timeVerified": self.time_verified.isoformat().replace("+00:00", "Z"),
            "resourceUri": self.resource_uri,
            "policy": self.policy.to_dict(),
            "inputAttestations": [i.to_dict() for i in self.inputs],
            "verificationResult": self.result,
            "verifiedLevels": list(self.levels),
            "dependencyLevels": self.dependency_levels,
            "slsaVersion": self.slsa_version,
        }
        return {key: value for key, value in found.items() if value is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vsa:
        """A predicate its schema accepted (`Statement.from_json` checked it)."""
        try:
            when = datetime.datetime.fromisoformat(data["timeVerified"].replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidAttestation("the VSA's timeVerified is not a date and time") from e
        if when.tzinfo is None:
            raise InvalidAttestation("the VSA's timeVerified has no time zone")
        for level in data["verifiedLevels"]:
            if _SPELLS_BUILD_LEVEL.search(level) and not _BUILD_LEVEL.fullmatch(level):
                raise InvalidAttestation(
                    f"the VSA's verified level {quoted(level, 40)} is not a SLSA build level "
                    "(SLSA_BUILD_LEVEL_0 to SLSA_BUILD_LEVEL_3, spelled exactly so)"
                )
        return cls(
            verifier_id=data["verifier"]["id"],
            time_verified=when,
            resource_uri=data["resourceUri"],
            policy=ResourceDescriptor.from_dict(data["policy"], "the VSA's policy"),
            result=data["verificationResult"],
            levels=tuple(data["verifiedLevels"]),
            inputs=resources(data.get("inputAttestations"), "inputAttestations") or (),
            verifier_version=data["verifier"].get("version"),
            dependency_levels=data.get("dependencyLevels"),
            slsa_version=data.get("slsaVersion"),
        )


def satisfies(verified: tuple[str, ...], required: str) -> bool:
    """Whether the verified levels meet the build level `required` (the policy allows only
    those): a higher build level meets a lower one; other names meet nothing."""
    want = _BUILD_LEVEL.fullmatch(required)
    if want is None:
        raise ValueError(f"not a SLSA build level: {required!r}")
    got = [_BUILD_LEVEL.fullmatch(level) for level in verified]
    return any(match and int(match[1]) >= int(want[1]) for match in got)


def gate_levels(checks: Iterable[str]) -> list[str]:
    """The levels of an allow whose checks are `checks` (by name): build level 1 with signed
    provenance from an allowed signer, else 0. The one place the gate's levels are decided."""
    return [f"SLSA_BUILD_LEVEL_{int('provenance' in checks)}"]


class NotADecision(InvalidAttestation):
    """The file is not what `attest verify --json` writes."""


def _field(data: object, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            raise NotADecision(f"not a decision of `attest verify --json`: no {'.'.join(path)}")
        data = data[key]
    return data


def _allowed(decision: object) -> bool:
    """Whether one decision allowed its artifact, all its checks passing (a decision that says
    ALLOW with a failed check, or none, was not written by the gate)."""
    verdict = _field(decision, "decision")
    checks = _field(decision, "checks")
    if verdict not in ("ALLOW", "DENY") or not isinstance(checks, list):
        raise NotADecision("not a decision of `attest verify --json`: a verdict is not ALLOW/DENY")
    passed = bool(checks) and all(
        isinstance(c, Mapping) and c.get("result") == "PASS" for c in checks
    )
    if verdict == "ALLOW" and not passed:
        raise NotADecision("a decision says ALLOW but not every check passed: not the gate's")
    return bool(verdict == "ALLOW")


def _time(run: object, now: datetime.datetime) -> datetime.datetime:
    """The decision's time: never after `now` (the signing instant), since a VSA post-dated
    would stay fresh for any `max_age` downstream until long after its verdict."""
    try:
        when = datetime.datetime.fromisoformat(str(_field(run, "time")))
    except ValueError as e:
        raise NotADecision("the decision's time is not a date and time") from e
    if when.tzinfo is None:
        raise NotADecision("the decision's time has no time zone: not the gate's")
    if when > now:
        raise NotADecision(
            f"the decision's time {when.isoformat()} is after now ({now.isoformat()}): a "
            "decision not yet made is never signed (a post-dated VSA would stay fresh)"
        )
    return when


def _allowed_decisions(run: object) -> list[Mapping[str, Any]]:
    decisions = _field(run, "decisions")
    if not isinstance(decisions, list):
        raise NotADecision("not a decision of `attest verify --json`: decisions is not a list")
    return [d for d in decisions if _allowed(d)]


def summaries(run: object, verifier_id: str, now: datetime.datetime) -> list[Statement]:
    """One VSA statement per allowed artifact of the run (`gate.Run.to_dict`) made by `now`,
    its subject the artifact's digest; a denied artifact gets none. NotADecision for anything
    else, and for what the gate cannot have written (see the module's docstring)."""
    if _field(run, "verifier", "name") != "attest verify":
        raise NotADecision("not a decision of `attest verify --json` (verifier.name)")
    policy_sha = _field(run, "policy", "sha256")
    if not isinstance(policy_sha, str) or not _HEX64.fullmatch(policy_sha):
        raise NotADecision("the decision names no policy digest (policy.sha256)")
    when = _time(run, now)
    policy = ResourceDescriptor(
        uri=str(_field(run, "policy", "path")), digest={"sha256": policy_sha}
    )
    version = {"attest-verify": str(_field(run, "verifier", "version"))}
    found = [_statement(d, when, policy, verifier_id, version) for d in _allowed_decisions(run)]
    _one_per_name(found)
    return found


def claimed_files(run: object) -> list[tuple[str, str, str]]:
    """(what, path, sha256) of each file a decision `summaries` accepted vouches for: the
    policy and every allowed artifact, to re-hash where they are."""
    files = [("the policy", str(_field(run, "policy", "path")), _field(run, "policy", "sha256"))]
    for decision in _allowed_decisions(run):
        path, sha = _field(decision, "artifact", "path"), _field(decision, "artifact", "sha256")
        files.append(("the artifact", str(path), sha))
    return files


def _one_per_name(found: list[Statement]) -> None:
    """Each VSA is kept as <artifact name>.vsa.sigstore.json: two allowed artifacts of one
    name (from two directories) would have the second replace the first."""
    seen: set[str] = set()
    for statement in found:
        name = statement.subjects[0].name
        if name in seen:
            raise NotADecision(
                f"two allowed artifacts are named {short(name)}: one VSA would replace the "
                "other; judge and sign them in separate runs"
            )
        seen.add(name)


def _checked_levels(decision: Mapping[str, Any], name: object) -> list[str]:
    """The decision's levels, when they are what the gate gives for its checks (`gate_levels`)
    and those include the checks every allow passes; NotADecision for an edited one."""
    levels = _field(decision, "levels")
    checks = [c.get("check") for c in _field(decision, "checks")]
    missing = [check for check in REQUIRED_CHECKS if check not in checks]
    if missing:
        raise NotADecision(
            f"the decision of {short(name)} allows without the {' and '.join(missing)} "
            "check(s) every allow of the gate passes: not the gate's"
        )
    expected = gate_levels(str(check) for check in checks)
    if levels != expected:
        claimed = ", ".join(map(str, levels)) if isinstance(levels, list) else levels
        raise NotADecision(
            f"the decision of {short(name)} claims levels {short(claimed)}, but its checks "
            f"support {', '.join(expected)} only: not the gate's"
        )
    return expected


def _statement(
    decision: Mapping[str, Any],
    when: datetime.datetime,
    policy: ResourceDescriptor,
    verifier_id: str,
    version: dict[str, str],
) -> Statement:
    name, sha = _field(decision, "artifact", "name"), _field(decision, "artifact", "sha256")
    path, inputs = _field(decision, "artifact", "path"), _field(decision, "inputs")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha) or not isinstance(name, str):
        raise NotADecision(f"the decision of {short(name)} has no artifact sha256")
    if not isinstance(path, str) or PurePath(path).name != name:
        raise NotADecision(f"the decision of {short(name)} names another file as its path")
    if not isinstance(inputs, list):
        raise NotADecision(f"the decision of {short(name)} lists no inputs")
    vsa = Vsa(
        verifier_id=verifier_id,
        time_verified=when,
        resource_uri=name,
        policy=policy,
        result=PASSED,
        levels=tuple(_checked_levels(decision, name)),
        inputs=tuple(
            ResourceDescriptor(
                uri=str(_field(i, "name")), digest={"sha256": str(_field(i, "sha256"))}
            )
            for i in inputs
        ),
        verifier_version=version,
    )
    return Statement((Subject(name, sha),), VSA_V1, vsa.to_dict())
