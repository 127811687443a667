"""The extension points of attest and the gate, each an entry-point group, and the one place
their registries are built (the gate's own in `verify.plugins`, which may not import attest).
A registry imports a plugin only when it is chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from verify.plugins import GATE_CHECKS, ClassRegistry, EntryPointGroup, PluginInfo, Registry

if TYPE_CHECKING:
    from attest.sbom.interface import SbomSource
    from attest.scan.interface import VulnSource

STAGES = "attest.stages"
SBOM_SOURCES = "attest.sbom_sources"
VULN_SOURCES = "attest.vuln_sources"

GROUPS: dict[str, str] = {
    STAGES: "CLI stages (click commands)",
    SBOM_SOURCES: "where `attest sbom` reads components from",
    VULN_SOURCES: "where `attest scan` reads vulnerabilities from",
    GATE_CHECKS: "checks the deploy gate runs",
}


def stages() -> Registry[click.Command]:
    return Registry(STAGES, click.Command)


def sbom_sources() -> ClassRegistry[SbomSource]:
    from attest.sbom.interface import SbomSource  # here: `attest --help` reads no SBOM

    return ClassRegistry(SBOM_SOURCES, SbomSource)


def vuln_sources() -> ClassRegistry[VulnSource]:
    from attest.scan.interface import VulnSource  # here: `attest --help` scans nothing

    return ClassRegistry(VULN_SOURCES, VulnSource)


def describe_all() -> dict[str, list[PluginInfo]]:
    """Every installed plugin, by group, without importing any of them."""
    return {group: EntryPointGroup(group).describe() for group in GROUPS}
