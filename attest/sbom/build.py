"""Turning an inventory into a CycloneDX 1.6 document, reproducibly when asked."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any, Literal

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import ExternalReferenceType, HashAlgorithm, XsUri
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from packageurl import PackageURL

from attest import __version__
from attest.sbom import iri, xmlwriter
from attest.sbom.interface import Inventory, Package, excerpt, normalize
from attest.sbom.project import Project
from attest.sbom.validate import InvalidSbom, validate
from attest.urls import without_credentials
from verify.errors import UsageError

Format = Literal["json", "xml"]
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


def purl_for(package: Package) -> PackageURL:
    qualifiers = {}
    if package.origin is not None and package.origin.kind in _QUALIFIER:
        qualifiers[_QUALIFIER[package.origin.kind]] = without_credentials(package.origin.location)
    return PackageURL(
        type="pypi", name=package.key, version=package.version, qualifiers=qualifiers or None
    )


@functools.cache
def _license(value: str) -> LicenseExpression | DisjunctiveLicense:
    """SPDX id, else SPDX expression, else a name (the library's rule); the same few license
    strings recur across thousands of packages, so each is looked up once."""
    return LicenseFactory().make_from_string(value)


def _licenses(values: Iterable[str]) -> list[LicenseExpression | DisjunctiveLicense]:
    return [_license(v) for v in values]


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


_Link = tuple[ExternalReferenceType, str, str | None]  # type, URL (as XsUri writes it), comment


def _links(package: Package) -> list[_Link]:
    """The project's links that are valid IRI references (others are left out: the schema
    would reject them), with credentials stripped."""
    references = []
    for label, url in package.links:
        public = without_credentials(url)
        if not iri.is_iri_reference(public):
            continue
        kind = _LINK_TYPES.get(re.sub(r"[^a-z]", "", label.lower()), ExternalReferenceType.OTHER)
        comment = None if kind in _LINK_TYPES.values() else f"Project-URL: {label}"
        references.append((kind, str(XsUri(public)), comment))
    return references


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


def _merged(packages: Iterable[Package]) -> dict[str, Package]:
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
    return by_purl


def _graph(
    inventory: Inventory, project: Project | None
) -> tuple[list[Package], dict[str, list[str]], list[str] | None]:
    """The components (one per purl, the root project left out), each purl's dependencies as
    purls, and the root's direct dependencies (None without a project). Linear: names are
    looked up in a dict, never by scanning the components."""
    root_key = normalize(project.name) if project is not None else None
    # The project itself (installed, or listed in its own lock) is the root, not a component.
    by_purl = _merged(p for p in inventory.packages if p.key != root_key)
    packages = list(by_purl.values())
    by_name: dict[str, list[str]] = {}
    for ref, package in by_purl.items():
        by_name.setdefault(package.key, []).append(ref)
    depends = {
        ref: [r for name in package.dependencies for r in by_name.get(name, [])]
        for ref, package in by_purl.items()
    }
    if project is None:
        return packages, depends, None
    direct = sorted(_direct_names(packages, inventory.direct, project))
    return packages, depends, [r for name in direct for r in by_name[name]]


# The document is written here rather than by cyclonedx-python-lib, whose Bom sorts its
# components with a costly comparison and scans its dependency list once per component
# (quadratic), and whose serializers cost about 1 ms per component. The JSON is the library's,
# byte for byte (keys and lists in its order); the XML is written from the same dict
# (`xmlwriter`) and equals the library's as canonical XML. The tests compare both with the
# library on random inventories (tests/attest/sbom/library.py).


def _hashes(package: Package) -> list[dict[str, str]]:
    pairs = sorted({(_ALGORITHMS[d.algorithm].value, d.value) for d in package.digests})
    return [{"alg": alg, "content": content} for alg, content in pairs]


def _licenses_json(owner: str, values: Iterable[str]) -> list[dict[str, Any]]:
    """As the library writes them: one expression alone, else licenses by id, then by name."""
    made = set(_licenses(values))
    expressions = sorted(li.value for li in made if isinstance(li, LicenseExpression))
    if expressions and len(made) > 1:
        raise InvalidSbom(f"{owner} has a license expression along with other licenses")
    if expressions:
        return [{"expression": expressions[0]}]
    named = [li for li in made if isinstance(li, DisjunctiveLicense)]
    by_id = sorted(li.id for li in named if li.id is not None)
    by_name = sorted(li.name for li in named if li.id is None and li.name is not None)
    return [{"license": {"id": i}} for i in by_id] + [{"license": {"name": n}} for n in by_name]


def _links_json(package: Package) -> list[dict[str, str]]:
    unique = {(kind.value, url, comment) for kind, url, comment in _links(package)}
    ordered = sorted(unique, key=lambda link: (link[0], link[1], link[2] is None, link[2] or ""))
    return [
        {"comment": comment, "type": kind, "url": url}
        if comment is not None
        else {"type": kind, "url": url}
        for kind, url, comment in ordered
    ]


def _component_json(
    kind: str,
    ref: str,
    purl: str,
    name: str,
    version: str | None,
    description: str | None,
    hashes: list[dict[str, str]],
    licenses: list[dict[str, Any]],
    links: list[dict[str, str]],
) -> dict[str, Any]:
    """A component with the library's keys in the library's (alphabetical) order."""
    fields: dict[str, Any] = {
        "bom-ref": ref,
        "description": description,
        "externalReferences": links or None,
        "hashes": hashes or None,
        "licenses": licenses or None,
        "name": name,
        "purl": purl,
        "type": kind,
        "version": version,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _document(
    inventory: Inventory, project: Project | None, reproducibility: Reproducibility
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The CycloneDX 1.6 JSON document (serial number zero when reproducible), and notes."""
    packages, depends, direct = _graph(inventory, project)
    components = _components_json(packages, depends)
    graph = dict(depends)
    metadata: dict[str, Any] = {}
    notes: tuple[str, ...] = ()
    if project is not None and direct is not None:
        root_ref, purl, metadata["component"] = _root_json(project)
        graph[root_ref] = direct
        if components and not direct:
            notes = (_NO_ROOT_DEPENDENCIES.format(purl=purl),)
    metadata.update(_tool_metadata(inventory, reproducibility))
    dependencies = [
        {"dependsOn": sorted(set(targets)), "ref": ref} if targets else {"ref": ref}
        for ref, targets in sorted(graph.items())
    ]
    serial = uuid.UUID(int=0) if reproducibility.enabled else uuid.uuid4()
    document = {
        "components": components or None,
        "dependencies": dependencies or None,
        "metadata": metadata,
        "serialNumber": serial.urn,
        "version": 1,
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
    }
    return {key: value for key, value in document.items() if value is not None}, notes


def _components_json(
    packages: list[Package], depends: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """A component per package, in the CycloneDX library's order: name, then version (none
    last), then bom-ref."""
    components = []
    for package, ref in zip(packages, depends, strict=True):
        where = f"{package.name} {package.version}"
        components.append(
            _component_json(
                "library",
                ref,
                ref,
                package.name,
                package.version,
                package.description,
                _hashes(package),
                _licenses_json(where, package.licenses),
                _links_json(package),
            )
        )
    components.sort(
        key=lambda c: (c["name"], "version" not in c, c.get("version", ""), c["bom-ref"])
    )
    return components


def _root_json(project: Project) -> tuple[str, str, dict[str, Any]]:
    """The project as the root component: its bom-ref, purl and JSON."""
    purl = purl_for(Package(name=project.name, version=project.version)).to_string()
    root_ref = f"root:{purl}"
    component = _component_json(
        "application",
        root_ref,
        purl,
        project.name,
        project.version,
        project.description,
        [],
        _licenses_json(project.name, project.licenses),
        [],
    )
    return root_ref, purl, component


def _tool_metadata(inventory: Inventory, reproducibility: Reproducibility) -> dict[str, Any]:
    """Where the components came from, when (left out when reproducible without
    SOURCE_DATE_EPOCH), and by which tool."""
    metadata: dict[str, Any] = {
        "properties": [{"name": "attest:sbom:source", "value": inventory.description}]
    }
    moment = reproducibility.timestamp if reproducibility.enabled else _now()
    if moment is not None:
        metadata["timestamp"] = moment.isoformat()
    metadata["tools"] = {
        "components": [
            {
                "bom-ref": f"attest@{__version__}",
                "group": "attest-pipeline",
                "name": "attest",
                "type": "application",
                "version": __version__,
            }
        ]
    }
    return metadata


_NO_ROOT_DEPENDENCIES = (
    "The Component this BOM is describing {purl} has no defined dependencies which means the "
    'Dependency Graph is incomplete - you should add direct dependencies to this "root" '
    "Component to complete the Dependency Graph data."
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _serialize_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _render_xml(
    inventory: Inventory, project: Project | None, reproducibility: Reproducibility
) -> tuple[str, tuple[str, ...]]:
    """The XML document written from the JSON document's dict (see `xmlwriter`)."""
    document, notes = _document(inventory, project, reproducibility)
    try:
        text = xmlwriter.write(document)
    except xmlwriter.Unwritable as e:
        where = f"the <{e.tag}>" + (f" of {excerpt(e.owner)}" if e.owner is not None else "")
        raise UsageError(
            f"{inventory.description}: cannot write the SBOM as XML: {where} holds "
            f"U+{e.code:04X}, which XML 1.0 cannot carry (--format json can)"
        ) from e
    if reproducibility.enabled:
        serial = uuid.uuid5(_SERIAL_NAMESPACE, hashlib.sha256(text.encode()).hexdigest())
        # The root element's start tag comes before any content: the first match is its own.
        text = text.replace(
            f'serialNumber="{uuid.UUID(int=0).urn}"', f'serialNumber="{serial.urn}"', 1
        )
    return text, notes


def _render_json(
    inventory: Inventory, project: Project | None, reproducibility: Reproducibility
) -> tuple[str, tuple[str, ...]]:
    document, notes = _document(inventory, project, reproducibility)
    text = _serialize_json(document)
    if reproducibility.enabled:
        serial = uuid.uuid5(_SERIAL_NAMESPACE, hashlib.sha256(text.encode()).hexdigest())
        # The serial's line is the only one of its kind: every nested line is indented further.
        before, found, after = text.partition(f'\n  "serialNumber": "{uuid.UUID(int=0).urn}",\n')
        if not found:
            raise InvalidSbom("the SBOM has no serialNumber line to fill in")
        text = f'{before}\n  "serialNumber": "{serial.urn}",\n{after}'
    return text, notes


def render(
    inventory: Inventory, project: Project | None, fmt: Format, reproducibility: Reproducibility
) -> tuple[bytes, tuple[str, ...]]:
    """The finished, schema-validated document, and what the CycloneDX library warned about.

    A reproducible serial number is a UUID derived from the document rendered with a zero
    serial, so equal inputs give equal bytes.
    """
    how = _render_json if fmt == "json" else _render_xml
    text, notes = how(inventory, project, reproducibility)
    validate(text, fmt)
    return text.encode(), notes
