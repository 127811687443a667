"""An installed Python environment: the current one, or another interpreter or venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement

from attest.sbom import licenses
from attest.sbom.interface import (
    Digest,
    Inventory,
    Origin,
    Package,
    SbomSource,
    checked_version,
    excerpt,
    make_digest,
    normalize,
)
from attest.sbom.sources import _introspect
from verify.errors import InputError, OperationalError
from verify.formats import strict_json

TIMEOUT = 120  # seconds for the other interpreter to list its distributions


def interpreter_for(target: Path) -> Path:
    """The interpreter of `target`: itself, or `bin/python` (`Scripts/python.exe`) of a venv."""
    if target.is_dir():
        for candidate in (target / "bin" / "python", target / "Scripts" / "python.exe"):
            if candidate.exists():
                return candidate
        raise InputError(target, "is a directory but not a virtual environment (no bin/python)")
    if not target.exists():
        raise InputError(target, "no such interpreter or virtual environment")
    return target


def _run_introspection(python: Path) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [str(python), "-I", _introspect.__file__],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except PermissionError as e:
        raise InputError(python, "is not executable") from e
    except OSError as e:
        raise InputError(python, f"cannot run it: {e.strerror or e}") from e
    except subprocess.TimeoutExpired as e:
        raise OperationalError(f"{python} did not list its packages within {TIMEOUT} s") from e
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise OperationalError(
            f"{python} failed to list its packages (exit {done.returncode}): "
            f"{detail[-1] if detail else 'no message'}"
        )
    try:
        data: dict[str, Any] = strict_json.loads(done.stdout)
    except strict_json.NotJson as e:
        raise OperationalError(f"{python} printed something other than its package list") from e
    return data


def _dependencies(
    requires: list[str], markers: dict[str, str], where: str, warnings: list[str]
) -> tuple[str, ...]:
    """Names of the base (non-extra) requirements whose markers hold in that environment."""
    names: set[str] = set()
    environment = {**markers, "extra": ""}
    for text in requires:
        try:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(environment):
                names.add(normalize(req.name))
        except (InvalidRequirement, UndefinedEnvironmentName) as e:
            reason = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
            warnings.append(f"{where}: ignored requirement {excerpt(text)}: {reason}")
    return tuple(sorted(names))


def _direct_url(
    raw: str | None, where: str, warnings: list[str]
) -> tuple[Origin | None, set[Digest]]:
    """PEP 610 `direct_url.json`: where a package was installed from, and the archive's hash."""
    if not raw:
        return None, set()
    try:
        data = strict_json.loads(raw)
        url = data["url"]
    except (strict_json.NotJson, KeyError, TypeError):  # NotJson: a 5,000-digit number too
        warnings.append(f"{where}: unreadable direct_url.json")
        return None, set()
    if "vcs_info" in data:
        info = data["vcs_info"]
        return Origin("vcs", f"{info.get('vcs', 'git')}+{url}@{info.get('commit_id', '')}"), set()
    if "dir_info" in data or str(url).startswith("file:"):
        return Origin("path", url), set()
    digests: set[Digest] = set()
    archive = data.get("archive_info", {})
    for algorithm, value in (archive.get("hashes") or {}).items():
        try:
            digests.add(make_digest(algorithm, str(value), Path("direct_url.json")))
        except InputError as e:
            warnings.append(f"{where}: ignored archive hash: {e.problem}")
    return Origin("url", url), digests


def _links(dist: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(label, URL) pairs: `Project-URL: label, url`, plus Home-page and Download-URL."""
    links: list[tuple[str, str]] = []
    for entry in dist.get("project_urls", []):
        label, _, url = entry.partition(",")
        if url.strip():
            links.append((label.strip(), url.strip()))
    for label, key in (("Homepage", "home_page"), ("Download", "download_url")):
        value = (dist.get(key) or "").strip()
        if value and value.upper() != "UNKNOWN":
            links.append((label, value))
    return tuple(dict.fromkeys(links))


class EnvironmentSource(SbomSource):
    """`--python PATH` (another interpreter or venv), or the running interpreter when no
    target is given."""

    kind = "environment"

    def read(self) -> Inventory:
        if self.target == Path(sys.executable):
            data = _introspect.collect()
        else:
            data = _run_introspection(interpreter_for(self.target))
        warnings: list[str] = []
        packages = []
        for dist in data["distributions"]:
            if isinstance(dist["version"], str):  # installed metadata holds any text
                name = f"distribution {excerpt(str(dist['name']))}: "
                checked_version(dist["version"], self.target, where=name, pep440=False)
            where = f"{dist['name']} {dist['version']}"
            origin, digests = _direct_url(dist.get("direct_url"), where, warnings)
            packages.append(
                Package(
                    name=dist["name"],
                    version=dist["version"],
                    digests=tuple(sorted(digests)),
                    licenses=licenses.from_metadata(
                        dist.get("license_expression"), dist.get("license"), dist["classifiers"]
                    ),
                    dependencies=_dependencies(dist["requires"], data["markers"], where, warnings),
                    description=dist.get("summary"),
                    origin=origin,
                    links=_links(dist),
                )
            )
        return Inventory(
            description=f"Python environment {data['prefix']}",
            packages=tuple(packages),
            warnings=tuple(warnings),
        )
