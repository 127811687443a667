"""The extension points of attest and the gate, each an entry-point group."""

from __future__ import annotations

import click

from verify.plugins import EntryPointGroup, PluginInfo, Registry

STAGES = "attest.stages"
SBOM_SOURCES = "attest.sbom_sources"
VULN_SOURCES = "attest.vuln_sources"
GATE_CHECKS = "verify.checks"

GROUPS: dict[str, str] = {
    STAGES: "CLI stages (click commands)",
    SBOM_SOURCES: "where `attest sbom` reads components from",
    VULN_SOURCES: "where `attest scan` reads vulnerabilities from",
    GATE_CHECKS: "checks the deploy gate runs",
}


def stages() -> Registry[click.Command]:
    return Registry(STAGES, click.Command)


def describe_all() -> dict[str, list[PluginInfo]]:
    """Every installed plugin, by group, without importing any of them."""
    return {group: EntryPointGroup(group).describe() for group in GROUPS}
