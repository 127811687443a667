"""Reading a CycloneDX JSON document back for assertions; a real venv holding one made-up
distribution."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def fake_venv(target: Path, name: str, version: str) -> Path:
    """A real venv (no pip: quick) whose site-packages holds only `name` `version`'s metadata."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120
    )
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    info = target / "lib" / python / "site-packages" / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return target


class Sbom:
    def __init__(self, text: str | bytes) -> None:
        self.data: dict[str, Any] = json.loads(text)
        self.components: dict[str, dict[str, Any]] = {
            c["purl"]: c for c in self.data.get("components", [])
        }
        self.graph: dict[str, list[str]] = {
            d["ref"]: d.get("dependsOn", []) for d in self.data.get("dependencies", [])
        }

    @property
    def root(self) -> dict[str, Any]:
        root: dict[str, Any] = self.data["metadata"]["component"]
        return root

    def hashes(self, purl: str) -> set[str]:
        return {f"{h['alg']}:{h['content']}" for h in self.components[purl].get("hashes", [])}

    def licenses(self, purl: str) -> list[str]:
        out = []
        for entry in self.components[purl].get("licenses", []):
            if "expression" in entry:
                out.append(entry["expression"])
            else:
                out.append(entry["license"].get("id") or entry["license"].get("name"))
        return out
