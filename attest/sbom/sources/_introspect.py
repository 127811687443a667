"""Runs inside the Python environment being described, possibly another interpreter: standard
library only, no attest imports, compatible with Python 3.8+. Prints one JSON document."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from importlib import metadata
from typing import Any


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _marker_environment() -> dict[str, str]:
    info = sys.implementation.version
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def collect() -> dict[str, Any]:
    """Every distribution importlib.metadata finds; the first on sys.path wins, as for imports."""
    seen = set()
    found = []
    for dist in metadata.distributions():
        meta = dist.metadata
        name = meta["Name"]
        if not name or _normalize(name) in seen:
            continue
        seen.add(_normalize(name))
        found.append(
            {
                "name": name,
                "version": meta["Version"],
                "requires": meta.get_all("Requires-Dist") or [],
                "license_expression": meta["License-Expression"],
                "license": meta["License"],
                "classifiers": [
                    c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
                ],
                "summary": meta["Summary"],
                "home_page": meta["Home-page"],
                "download_url": meta["Download-URL"],
                "project_urls": meta.get_all("Project-URL") or [],
                "direct_url": dist.read_text("direct_url.json"),
            }
        )
    return {
        "executable": sys.executable,
        "prefix": sys.prefix,
        "markers": _marker_environment(),
        "distributions": found,
    }


if __name__ == "__main__":
    json.dump(collect(), sys.stdout)
