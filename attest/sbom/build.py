"""Turning an inventory into a CycloneDX 1.6 document, reproducibly when asked."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import urllib.parse
import uuid
import warnings
from collections.abc import Iterable
from typing import Literal

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from attest import __version__
from attest.sbom import iri
from attest.sbom.interface import Inventory, Package, normalize
from attest.sbom.project import Project
from attest.sbom.validate import validate

Format = Literal["json", "xml"]
SCHEMA = SchemaVersion.V1_6
_ALGORITHMS = {
    "md5": HashAlgorithm.MD5,
    "sha1": HashAlgorithm.SHA_1,
    "sha256": HashAlgorithm.SHA_256,
    "sha384": HashAlgorithm.SHA_384,
    "sha512": HashAlgorithm.SHA_512,
}
_QUALIFIER = {"registry": "repository_url", "vcs": "vcs_url", "url": "download_url"}
_SERIAL_NAMESPACE = uuid.UUID("6f1c4a52-8a1e-5c3e-9d38-61a7e3f1a9c1")  # attest's own namespace


@dataclasses.dataclass(frozen=True)
class Reproducibility:
    """Reproducible output: a serial number derived from the content, and a fixed timestamp
    (`SOURCE_DATE_EPOCH`) or none at all."""

    enabled: bool
    timestamp: datetime.datetime | None


def without_credentials(url: str) -> str:
    """The URL with any user and password removed: lock files and requirements may carry an
    index token in a URL, and the SBOM is published."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def purl_for(package: Package) -> PackageURL:
    qualifiers = {}
    if package.origin is not None and package.origin.kind in _QUALIFIER:
        qualifiers[_QUALIFIER[package.origin.kind]] = without_credentials(package.origin.location)
    return PackageURL(
        type="pypi", name=package.key, version=package.version, qualifiers=qualifiers or None
    )


def _licenses(values: Iterable[str]) -> list[LicenseExpression | DisjunctiveLicense]:
    factory = LicenseFactory()
    return [factory.make_from_string(v) for v in values]


# Project-URL labels (normalized as PEP 753 does: lowercase, no punctuation or spaces).
_LINK_TYPES = {
    "homepage": ExternalReferenceType.WEBSITE,
    "home": ExternalReferenceType.WEBSITE,
    "source": ExternalReferenceType.VCS,
    "sourcecode": ExternalReferenceType.VCS,
    "repository": ExternalReferenceType.VCS,
    "code": ExternalReferenceType.VCS,
    "github": ExternalReferenceType.VCS,
    "documentation": ExternalReferenceType.DOCUMENTATION,
    "docs": ExternalReferenceType.DOCUMENTATION,
    "issues": ExternalReferenceType.ISSUE_TRACKER,
    "issuetracker": ExternalReferenceType.ISSUE_TRACKER,
    "tracker": ExternalReferenceType.ISSUE_TRACKER,
    "bugtracker": ExternalReferenceType.ISSUE_TRACKER,
    "bugreports": ExternalReferenceType.ISSUE_TRACKER,
    "changelog": ExternalReferenceType.RELEASE_NOTES,
    "changes": ExternalReferenceType.RELEASE_NOTES,
    "releasenotes": ExternalReferenceType.RELEASE_NOTES,
    "download": ExternalReferenceType.DISTRIBUTION,
    "chat": ExternalReferenceType.CHAT,
}


def _external_references(package: Package) -> list[ExternalReference]:
    """The project's links that are valid IRI references (others are left out: the schema
    would reject them), with credentials stripped."""
    references = []
    for label, url in package.links:
        public = without_credentials(url)
        if not iri.is_iri_reference(public):
            continue
        kind = _LINK_TYPES.get(re.sub(r"[^a-z]", "", label.lower()), ExternalReferenceType.OTHER)
        comment = None if kind in _LINK_TYPES.values() else f"Project-URL: {label}"
        references.append(ExternalReference(type=kind, url=XsUri(public), comment=comment))
    return references


def _component(package: Package) -> Component:
    purl = purl_for(package)
    return Component(
        name=package.name,
        version=package.version,
        type=ComponentType.LIBRARY,
        bom_ref=purl.to_string(),
        purl=purl,
        description=package.description,
        hashes=[HashType(alg=_ALGORITHMS[d.algorithm], content=d.value) for d in package.digests],
        licenses=_licenses(package.licenses),
        external_references=_external_references(package),
    )


def _root_component(project: Project) -> Component:
    package = Package(name=project.name, version=project.version)
    return Component(
        name=project.name,
        version=project.version,
        type=ComponentType.APPLICATION,
        bom_ref=f"root:{purl_for(package).to_string()}",
        purl=purl_for(package),
        description=project.description,
        licenses=_licenses(project.licenses),
    )


def _tool() -> Component:
    return Component(
        name="attest",
        version=__version__,
        type=ComponentType.APPLICATION,
        group="attest-pipeline",
        bom_ref=f"attest@{__version__}",
    )


def _direct_names(
    packages: list[Package], recorded: tuple[str, ...] | None, project: Project | None
) -> set[str]:
    """The root's direct dependencies: the lock's own record, else what pyproject.toml declares,
    else every package nothing else depends on."""
    present = {p.key for p in packages}
    if recorded is not None:
        return set(recorded) & present
    declared = set(project.dependencies) & present if project is not None else set()
    if declared:
        return declared
    depended_on = {d for p in packages for d in p.dependencies}
    return present - depended_on


def _merged(packages: Iterable[Package]) -> list[Package]:
    """One package per purl: a lock may list the same release twice (per-platform entries)."""
    by_purl: dict[str, Package] = {}
    for package in packages:
        ref = purl_for(package).to_string()
        seen = by_purl.get(ref)
        if seen is None:
            by_purl[ref] = package
            continue
        by_purl[ref] = dataclasses.replace(
            seen,
            digests=tuple(sorted(set(seen.digests) | set(package.digests))),
            dependencies=tuple(sorted(set(seen.dependencies) | set(package.dependencies))),
        )
    return list(by_purl.values())


def build_bom(
    inventory: Inventory, project: Project | None, reproducibility: Reproducibility
) -> Bom:
    root_key = normalize(project.name) if project is not None else None
    # The project itself (installed, or listed in its own lock) is the root, not a component.
    packages = _merged(p for p in inventory.packages if p.key != root_key)
    by_name: dict[str, list[Component]] = {}
    components: list[tuple[Package, Component]] = []
    for package in packages:
        component = _component(package)
        by_name.setdefault(package.key, []).append(component)
        components.append((package, component))
    root = _root_component(project) if project is not None else None
    metadata = BomMetaData(
        component=root,
        properties=[Property(name="attest:sbom:source", value=inventory.description)],
    )
    # None (reproducible without SOURCE_DATE_EPOCH) leaves the timestamp out of the document.
    metadata.timestamp = reproducibility.timestamp if reproducibility.enabled else _now()  # type: ignore[assignment]
    metadata.tools.components.add(_tool())
    bom = Bom(
        components=[component for _, component in components],
        metadata=metadata,
        serial_number=uuid.UUID(int=0) if reproducibility.enabled else uuid.uuid4(),
    )
    for package, component in components:
        bom.register_dependency(
            component, [c for name in package.dependencies for c in by_name.get(name, [])]
        )
    if root is not None:
        direct = sorted(_direct_names(packages, inventory.direct, project))
        bom.register_dependency(root, [c for name in direct for c in by_name[name]])
    return bom


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _serialize(bom: Bom, fmt: Format) -> str:
    output_format = OutputFormat.JSON if fmt == "json" else OutputFormat.XML
    text: str = make_outputter(bom, output_format, SCHEMA).output_as_string(indent=2)
    return text if text.endswith("\n") else text + "\n"


def render(
    inventory: Inventory, project: Project | None, fmt: Format, reproducibility: Reproducibility
) -> tuple[bytes, tuple[str, ...]]:
    """The finished, schema-validated document, and what the CycloneDX library warned about.

    A reproducible serial number is a UUID derived from the document rendered with a zero
    serial, so equal inputs give equal bytes.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bom = build_bom(inventory, project, reproducibility)
        if reproducibility.enabled:
            digest = hashlib.sha256(_serialize(bom, fmt).encode()).hexdigest()
            bom.serial_number = uuid.uuid5(_SERIAL_NAMESPACE, digest)
        text = _serialize(bom, fmt)
    validate(text, fmt)
    notes = tuple(dict.fromkeys(str(w.message) for w in caught))
    return text.encode(), notes
