"""The statement and predicate models in `verify`: what attest writes, the gate reads, and
anything else is refused with a reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from verify.errors import ExitCode
from verify.formats.predicates import (
    CYCLONEDX_BOM,
    LINK_V03,
    SLO_STATUS_V1,
    SLSA_PROVENANCE_V1,
    InvalidAttestation,
)
from verify.formats.statement import Statement

DIGEST = "ab" * 32
GOOD: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "app.whl", "digest": {"sha256": DIGEST}}],
    "predicateType": SLSA_PROVENANCE_V1,
    "predicate": {
        "buildDefinition": {"buildType": "https://example.com/bt/v1", "externalParameters": {}},
        "runDetails": {"builder": {"id": "https://example.com/builder"}},
    },
}


def _with(path: list[str | int], value: object) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()


def test_roundtrip() -> None:
    statement = Statement.from_dict(GOOD)
    assert Statement.from_json(statement.to_json()) == statement
    assert ("sha256", DIGEST) in statement.digests and (
        "sha256",
        "cd" * 32,
    ) not in statement.digests


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["_type"], "https://in-toto.io/Statement/v0.1", "unknown statement type"),
        (["predicateType"], "https://slsa.dev/provenance/v0.2", "unknown predicate type"),
        (["predicateType"], "https://example.com/made-up/v1", "unknown predicate type"),
        (["subject"], [], "at least one subject"),
        (["subject"], "app.whl", "subject must be a list"),
        (["subject", 0, "digest"], {"sha1": "ab" * 20}, "has no digest the gate can match"),
        (["subject", 0, "digest"], {"sha512": DIGEST}, "malformed sha512 digest"),
        (["subject", 0, "digest", "sha256"], "xyz", "malformed sha256 digest"),
        (["subject", 0, "name"], "", "has no name"),
        (["predicate"], [], "predicate must be an object"),
        (["predicate", "runDetails"], _DELETE, "'runDetails' is a required property"),
        (
            ["predicate", "buildDefinition", "buildType"],
            3,
            "buildDefinition/buildType: must be a string",
        ),
        (["predicate", "surprise"], 1, "unknown key 'surprise' \\(unknown keys are errors\\)"),
        (["extra"], 1, "unknown statement fields: extra"),
    ],
)
def test_refusals_say_why(path: list[str | int], value: object, reason: str) -> None:
    with pytest.raises(InvalidAttestation, match=reason) as caught:
        Statement.from_dict(_with(path, value))
    assert caught.value.exit_code == ExitCode.DENIED


def test_not_json() -> None:
    with pytest.raises(InvalidAttestation, match="not JSON"):
        Statement.from_json(b"\xff{")


@pytest.mark.parametrize(
    ("predicate_type", "predicate", "ok"),
    [
        (CYCLONEDX_BOM, {"bomFormat": "CycloneDX", "specVersion": "1.6"}, True),
        (CYCLONEDX_BOM, {"bomFormat": "SPDX", "specVersion": "1.6"}, False),
        (
            CYCLONEDX_BOM,
            {
                "attestByReference": {
                    "name": "s.json",
                    "digest": {"sha256": DIGEST},
                    "mediaType": "application/vnd.cyclonedx+json",
                    "size": 3,
                }
            },
            True,
        ),
        (LINK_V03, {"name": "build", "command": ["make"], "materials": []}, True),
        (LINK_V03, {"name": "build", "command": [], "materials": []}, False),
        (SLO_STATUS_V1, {"scanner": {}}, False),
    ],
)
def test_predicates(predicate_type: str, predicate: dict[str, Any], ok: bool) -> None:
    data = {**GOOD, "predicateType": predicate_type, "predicate": predicate}
    if ok:
        assert Statement.from_dict(json.loads(json.dumps(data))).predicate == predicate
    else:
        with pytest.raises(InvalidAttestation, match=f"invalid {predicate_type} predicate"):
            Statement.from_dict(data)
