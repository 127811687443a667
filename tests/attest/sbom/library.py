"""cyclonedx-python-lib's rendering of an inventory, as attest rendered it before it wrote the
documents itself (the library's Bom sorts with a costly comparison and scans its dependency
list once per component: quadratic). The reference the writers in `attest.sbom.build` are
compared with on random inventories; use it on small inventories only."""

from __future__ import annotations

import hashlib
import uuid
import warnings
from typing import Any

from cyclonedx.model import ExternalReference, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion

from attest import __version__
from attest.sbom import build
from attest.sbom.interface import Inventory, Package
from attest.sbom.project import Project


def _component(package: Package) -> Component:
    purl = build.purl_for(package)
    return Component(
        name=package.name,
        version=package.version,
        type=ComponentType.LIBRARY,
        bom_ref=purl.to_string(),
        purl=purl,
        description=package.description,
        hashes=[
            HashType(alg=build._ALGORITHMS[d.algorithm], content=d.value) for d in package.digests
        ],
        licenses=build._licenses(package.licenses),
        external_references=[
            ExternalReference(type=kind, url=XsUri(url), comment=comment)
            for kind, url, comment in build._links(package)
        ],
    )


def _root_component(project: Project) -> Component:
    package = Package(name=project.name, version=project.version)
    return Component(
        name=project.name,
        version=project.version,
        type=ComponentType.APPLICATION,
        bom_ref=f"root:{build.purl_for(package).to_string()}",
        purl=build.purl_for(package),
        description=project.description,
        licenses=build._licenses(project.licenses),
    )


def _tool() -> Component:
    return Component(
        name="attest",
        version=__version__,
        type=ComponentType.APPLICATION,
        group="attest-pipeline",
        bom_ref=f"attest@{__version__}",
    )


def _bom(inventory: Inventory, project: Project | None, moment: Any) -> Bom:
    """The library's model, dependencies registered one by one."""
    packages, depends, direct = build._graph(inventory, project)
    root = _root_component(project) if project is not None else None
    metadata = BomMetaData(
        component=root,
        properties=[Property(name="attest:sbom:source", value=inventory.description)],
    )
    metadata.timestamp = moment
    metadata.tools.components.add(_tool())
    bom = Bom(
        components=[_component(package) for package in packages],
        metadata=metadata,
        serial_number=uuid.UUID(int=0),
    )
    components = {str(c.bom_ref): c for c in bom.components}
    for ref, targets in depends.items():
        bom.register_dependency(components[ref], [components[t] for t in targets])
    if root is not None and direct is not None:
        bom.register_dependency(root, [components[t] for t in direct])
    return bom


def _serialize(bom: Bom, fmt: OutputFormat) -> str:
    text: str = make_outputter(bom, fmt, SchemaVersion.V1_6).output_as_string(indent=2)
    return text if text.endswith("\n") else text + "\n"


def rendered(
    inventory: Inventory, project: Project | None, moment: Any, fmt: OutputFormat
) -> tuple[str, tuple[str, ...]]:
    """The reproducible document (serial from the digest of the zero-serial text) and the
    library's warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bom = _bom(inventory, project, moment)
        digest = hashlib.sha256(_serialize(bom, fmt).encode()).hexdigest()
        bom.serial_number = uuid.uuid5(build._SERIAL_NAMESPACE, digest)
        text = _serialize(bom, fmt)
    return text, tuple(dict.fromkeys(str(w.message) for w in caught))
