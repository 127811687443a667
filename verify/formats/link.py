"""The in-toto link predicate v0.3 (`https://in-toto.io/attestation/link/v0.3`): one build
step's name, command, materials and byproducts; its products are the statement's subjects.
`attest build` writes it from in-toto's record of the run; the gate's build-link check reads
it. Schema: schemas/link-v0.3.schema.json."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from verify.formats.predicates import InvalidAttestation
from verify.formats.statement import ResourceDescriptor, resources


@dataclasses.dataclass(frozen=True)
class Link:
    name: str
    command: tuple[str, ...]
    materials: tuple[ResourceDescriptor, ...]  # each a name and its digest
    byproducts: dict[str, Any] | None = None  # in-toto's: return-value, stdout, stderr
    environment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        found = {
            "name": self.name,
            "command": list(self.command),
            "materials": [m.to_dict() for m in self.materials],
            "byproducts": self.byproducts,
            "environment": self.environment,
        }
        return {key: value for key, value in found.items() if value is not None}

    @classmethod
    def from_dict(cls, data: object) -> Link:
        if not isinstance(data, Mapping):
            raise InvalidAttestation("the link predicate is not an object")
        name, command = data.get("name"), data.get("command")
        if not isinstance(name, str) or not name:
            raise InvalidAttestation("the link has no step name")
        if not isinstance(command, list) or not all(isinstance(w, str) for w in command):
            raise InvalidAttestation("the link's command is not a list of words")
        for key in ("byproducts", "environment"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise InvalidAttestation(f"the link's {key} is not an object")
        return cls(
            name,
            tuple(command),
            resources(data.get("materials"), "materials") or (),
            data.get("byproducts"),
            data.get("environment"),
        )
