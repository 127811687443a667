"""SLSA provenance v1 (predicate `https://slsa.dev/provenance/v1`): the model attest's
provenance stage builds the predicate from and the gate's provenance check reads it into.
Schema: schemas/slsa-provenance-v1.schema.json (the gate validates every predicate with it
before any model reads it; `from_dict` still refuses a value of the wrong type)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from verify.formats.predicates import InvalidAttestation
from verify.formats.statement import ResourceDescriptor, resources


def _text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidAttestation(f"{where}.{key} is not text")
    return value


def _object(data: object, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidAttestation(f"{where} is not an object")
    return data


def _descriptors(items: tuple[ResourceDescriptor, ...] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [item.to_dict() for item in items]


def _present(pairs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in pairs.items() if value is not None}


@dataclasses.dataclass(frozen=True)
class Builder:
    id: str
    version: dict[str, str] | None = None
    builder_dependencies: tuple[ResourceDescriptor, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _present(
            {
                "id": self.id,
                "version": self.version,
                "builderDependencies": _descriptors(self.builder_dependencies),
            }
        )

    @classmethod
    def from_dict(cls, data: object) -> Builder:
        data = _object(data, "runDetails.builder")
        builder_id = _text(data, "id", "runDetails.builder")
        if not builder_id:
            raise InvalidAttestation("runDetails.builder has no id")
        version = data.get("version")
        if version is not None and not isinstance(version, dict):
            raise InvalidAttestation("runDetails.builder.version is not an object")
        dependencies = resources(
            data.get("builderDependencies"), "runDetails.builder.builderDependencies"
        )
        return cls(builder_id, version, dependencies)


@dataclasses.dataclass(frozen=True)
class BuildMetadata:
    invocation_id: str | None = None
    started_on: str | None = None  # RFC 3339, as signed
    finished_on: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _present(
            {
                "invocationId": self.invocation_id,
                "startedOn": self.started_on,
                "finishedOn": self.finished_on,
            }
        )

    @classmethod
    def from_dict(cls, data: object) -> BuildMetadata:
        data, where = _object(data, "runDetails.metadata"), "runDetails.metadata"
        return cls(
            _text(data, "invocationId", where),
            _text(data, "startedOn", where),
            _text(data, "finishedOn", where),
        )


@dataclasses.dataclass(frozen=True)
class SlsaProvenance:
    """A build: what ran it (builder), how (buildType and its parameters), from what
    (resolved dependencies). Parameters are the buildType's own, kept as signed."""

    build_type: str
    external_parameters: dict[str, Any]
    builder: Builder
    internal_parameters: dict[str, Any] | None = None
    resolved_dependencies: tuple[ResourceDescriptor, ...] | None = None
    metadata: BuildMetadata | None = None
    byproducts: tuple[ResourceDescriptor, ...] | None = None

    @property
    def source(self) -> tuple[str | None, str | None]:
        """(repository, ref) of a GitHub workflow build (externalParameters.workflow) or of a
        local checkout build (externalParameters.source); None where it names no text."""
        params = self.external_parameters
        where = (params.get("workflow") or params.get("source")) if params else None
        if not isinstance(where, dict):
            return None, None
        repository = where.get("repository")
        repository = repository if isinstance(repository, str) else None
        uri, ref = where.get("uri"), where.get("ref")
        return (
            repository or (uri if isinstance(uri, str) else None),
            ref if isinstance(ref, str) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        definition = _present(
            {
                "buildType": self.build_type,
                "externalParameters": self.external_parameters,
                "internalParameters": self.internal_parameters,
                "resolvedDependencies": _descriptors(self.resolved_dependencies),
            }
        )
        run = _present(
            {
                "builder": self.builder.to_dict(),
                "metadata": None if self.metadata is None else self.metadata.to_dict(),
                "byproducts": _descriptors(self.byproducts),
            }
        )
        return {"buildDefinition": definition, "runDetails": run}

    @classmethod
    def from_dict(cls, data: object) -> SlsaProvenance:
        data = _object(data, "the provenance predicate")
        definition = _object(data.get("buildDefinition"), "buildDefinition")
        run = _object(data.get("runDetails"), "runDetails")
        build_type = _text(definition, "buildType", "buildDefinition")
        if not build_type:
            raise InvalidAttestation("buildDefinition has no buildType")
        external = definition.get("externalParameters")
        internal = definition.get("internalParameters")
        if not isinstance(external, dict):
            raise InvalidAttestation("buildDefinition.externalParameters is not an object")
        if internal is not None and not isinstance(internal, dict):
            raise InvalidAttestation("buildDefinition.internalParameters is not an object")
        metadata = run.get("metadata")
        return cls(
            build_type=build_type,
            external_parameters=external,
            builder=Builder.from_dict(run.get("builder")),
            internal_parameters=internal,
            resolved_dependencies=resources(
                definition.get("resolvedDependencies"), "buildDefinition.resolvedDependencies"
            ),
            metadata=None if metadata is None else BuildMetadata.from_dict(metadata),
            byproducts=resources(run.get("byproducts"), "runDetails.byproducts"),
        )
