"""SLSA Verification Summary Attestation v1 (`https://slsa.dev/verification_summary/v1`): the
gate's verdict on one artifact, as a predicate a downstream gate can require (`require.vsa`)
instead of re-checking everything. `summaries` turns the allowed decisions of `attest verify
--json` into statements (`attest vsa` signs them); `Vsa.from_dict` reads one back for the gate.
Schema: schemas/vsa-v1.schema.json.

Levels (`verifiedLevels`): the gate proves signed provenance from a signer the policy allows,
not that a hosted build platform made it, so an allow that checked provenance is
`SLSA_BUILD_LEVEL_1` and any other allow `SLSA_BUILD_LEVEL_0` (`gate.Decision.levels`)."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping
from typing import Any

from verify.formats.predicates import VSA_V1, InvalidAttestation, short
from verify.formats.statement import ResourceDescriptor, Statement, Subject, resources

SLSA_VERSION = "1.0"
PASSED = "PASSED"
_LEVEL = re.compile(r"(SLSA_[A-Z]+_LEVEL_)([0-9]+)")
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
    """Whether the verified levels meet `required`: a track's higher level meets a lower one
    (SLSA_BUILD_LEVEL_3 meets SLSA_BUILD_LEVEL_2); any other name only itself."""
    want = _LEVEL.fullmatch(required)
    for level in verified:
        got = _LEVEL.fullmatch(level)
        if level == required or (
            want and got and got[1] == want[1] and int(got[2]) >= int(want[2])
        ):
            return True
    return False


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


def summaries(run: object, verifier_id: str) -> list[Statement]:
    """One VSA statement per allowed artifact of the run (`gate.Run.to_dict`), its subject the
    artifact's digest; a denied artifact gets none. NotADecision for anything else."""
    if _field(run, "verifier", "name") != "attest verify":
        raise NotADecision("not a decision of `attest verify --json` (verifier.name)")
    policy_sha = _field(run, "policy", "sha256")
    decisions = _field(run, "decisions")
    if not isinstance(policy_sha, str) or not _HEX64.fullmatch(policy_sha):
        raise NotADecision("the decision names no policy digest (policy.sha256)")
    if not isinstance(decisions, list):
        raise NotADecision("not a decision of `attest verify --json`: decisions is not a list")
    try:
        when = datetime.datetime.fromisoformat(str(_field(run, "time")))
    except ValueError as e:
        raise NotADecision("the decision's time is not a date and time") from e
    policy = ResourceDescriptor(
        uri=str(_field(run, "policy", "path")), digest={"sha256": policy_sha}
    )
    version = {"attest-verify": str(_field(run, "verifier", "version"))}
    return [_statement(d, when, policy, verifier_id, version) for d in decisions if _allowed(d)]


def _statement(
    decision: object,
    when: datetime.datetime,
    policy: ResourceDescriptor,
    verifier_id: str,
    version: dict[str, str],
) -> Statement:
    name, sha = _field(decision, "artifact", "name"), _field(decision, "artifact", "sha256")
    inputs, levels = _field(decision, "inputs"), _field(decision, "levels")
    if not isinstance(sha, str) or not _HEX64.fullmatch(sha) or not isinstance(name, str):
        raise NotADecision(f"the decision of {short(name)} has no artifact sha256")
    if not isinstance(inputs, list) or not isinstance(levels, list):
        raise NotADecision(f"the decision of {short(name)} lists no inputs and levels")
    vsa = Vsa(
        verifier_id=verifier_id,
        time_verified=when,
        resource_uri=name,
        policy=policy,
        result=PASSED,
        levels=tuple(str(level) for level in levels),
        inputs=tuple(
            ResourceDescriptor(
                uri=str(_field(i, "name")), digest={"sha256": str(_field(i, "sha256"))}
            )
            for i in inputs
        ),
        verifier_version=version,
    )
    return Statement((Subject(name, sha),), VSA_V1, vsa.to_dict())
