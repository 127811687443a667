"""Resource abuse (issue 8, started): inputs shaped to exhaust the gate's recursion or patience
are judged or refused, never a crash."""

from __future__ import annotations

from typing import Any

from verify.checks.attestations import _sbom_failures
from verify.policy import Sbom


def test_a_deeply_nested_sbom_is_judged_not_a_crash() -> None:
    """A signer's SBOM nesting components 20,000 deep (far past Python's recursion limit) with
    a denied package at the bottom: the check walks it and denies."""
    root: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}
    holder = root
    for depth in range(20_000):
        child: dict[str, Any] = {"type": "library", "name": f"layer-{depth}", "components": []}
        holder["components"].append(child)
        holder = child
    holder["components"].append({"type": "library", "name": "pycrypto", "version": "2.6.1"})
    failures = _sbom_failures(Sbom(denied_licenses=(), denied_packages=("pycrypto",)), root)
    assert any("pycrypto" in failure for failure in failures), failures
