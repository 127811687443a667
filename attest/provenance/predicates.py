"""Building the predicates: SLSA v1 provenance (GitHub Actions or local), the SBOM, the
vulnerability scan (in-toto vulns v0.2) and attest's SLO status."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import re
import socket
from pathlib import Path
from typing import Any

from attest import __version__
from attest.provenance.source import (
    GITHUB_BUILD_TYPE,
    LOCAL_BUILD_TYPE,
    LOCAL_BUILDER,
    GitHubRun,
    LocalCheckout,
)
from attest.sbom.interface import read_text
from verify.errors import InputError

SCANNER_URI = "pkg:pypi/attest-pipeline"
MAX_INLINE_SBOM = 10 << 20  # bytes: a larger SBOM is attested by reference
_SCAN_REPORT = "urn:attest:scan-report:v1"


def _time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def github_provenance(
    run: GitHubRun, builder_id: str | None, dependencies: list[dict[str, Any]]
) -> dict[str, Any]:
    """What actions/attest-build-provenance writes for a workflow run."""
    internal = {
        "github": {
            "event_name": run.event,
            "repository_id": run.repository_id,
            "repository_owner_id": run.owner_id,
            "runner_environment": run.runner_environment,
        }
    }
    return {
        "buildDefinition": {
            "buildType": GITHUB_BUILD_TYPE,
            "externalParameters": {
                "workflow": {
                    "ref": run.ref,
                    "repository": run.repository_uri,
                    "path": run.workflow_path,
                }
            },
            "internalParameters": internal,
            "resolvedDependencies": [
                {"uri": f"git+{run.repository_uri}@{run.ref}", "digest": {"gitCommit": run.sha}},
                *dependencies,
            ],
        },
        "runDetails": {
            "builder": {"id": builder_id or f"{run.server}/{run.workflow_ref}"},
            "metadata": {"invocationId": run.invocation_id},
        },
    }


_SECRET_OPTIONS = ("--identity-token",)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redacted(command: list[str]) -> list[str]:
    """The command line without secrets: identity tokens are never recorded, here neither."""
    out: list[str] = []
    hide_next = False
    for word in command:
        option = word.split("=", 1)[0]
        if hide_next:
            out.append("<redacted>")
        elif option in _SECRET_OPTIONS and "=" in word:
            out.append(f"{option}=<redacted>")
        else:
            out.append(_JWT.sub("<redacted>", word))
        hide_next = word in _SECRET_OPTIONS
    return out


def local_provenance(
    checkout: LocalCheckout,
    command: list[str],
    invocation_id: str,
    now: datetime.datetime,
    dependencies: list[dict[str, Any]],
) -> dict[str, Any]:
    """Attest's local buildType: the git source, the command line and the builder host."""
    return {
        "buildDefinition": {
            "buildType": LOCAL_BUILD_TYPE,
            "externalParameters": {
                "source": {
                    "uri": checkout.remote,
                    "ref": checkout.ref,
                    "dirty": checkout.dirty,
                },
                "command": redacted(command),
            },
            "internalParameters": {
                "host": socket.gethostname(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "resolvedDependencies": [
                {
                    "uri": f"git+{checkout.remote}@{checkout.ref}",
                    "digest": {"gitCommit": checkout.commit},
                },
                *dependencies,
            ],
        },
        "runDetails": {
            "builder": {"id": LOCAL_BUILDER, "version": {"attest": __version__}},
            "metadata": {"invocationId": invocation_id, "startedOn": _time(now)},
        },
    }


def read_json(path: Path, what: str, text: str | None = None) -> dict[str, Any]:
    """The JSON object in `path` (or `text`, already read from it)."""
    try:
        data = json.loads(read_text(path) if text is None else text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"{what} is not JSON: {e}") from e
    except RecursionError as e:
        raise InputError(path, f"{what} is not JSON: nested too deeply") from e
    except ValueError as e:  # an integer past Python's digit limit
        raise InputError(path, f"{what} is not JSON: a number too long to read") from e
    if not isinstance(data, dict):
        raise InputError(path, f"{what} must be a JSON object")
    return data


def read_sbom(path: Path, text: str | None = None) -> dict[str, Any]:
    bom = read_json(path, "the SBOM", text)
    if bom.get("bomFormat") != "CycloneDX":
        raise InputError(path, "not a CycloneDX JSON SBOM (bomFormat is not 'CycloneDX')")
    return bom


def sbom_dependencies(path: Path) -> list[dict[str, Any]]:
    """The SBOM's components as resolved dependencies: purl, and the sha256 when it is one."""
    found = []
    components = read_sbom(path).get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise InputError(path, "components: expected a list of objects")
    for component in components:
        purl = component.get("purl")
        if not isinstance(purl, str):
            continue
        hashes = component.get("hashes", [])
        if not isinstance(hashes, list) or not all(
            isinstance(h, dict) and isinstance(h.get("content", ""), str) for h in hashes
        ):
            raise InputError(path, f"{purl}: hashes: expected a list of objects")
        sha256 = sorted(
            h["content"] for h in hashes if h.get("alg") == "SHA-256" and "content" in h
        )
        entry: dict[str, Any] = {"uri": purl, "name": str(component.get("name", ""))}
        if len(sha256) == 1:
            entry["digest"] = {"sha256": sha256[0]}
        elif sha256:
            entry["annotations"] = {"sha256": sha256}  # one per distribution file
        found.append(entry)
    return found


def sbom_predicate(path: Path, max_inline: int = MAX_INLINE_SBOM) -> dict[str, Any]:
    """The SBOM itself, or a reference to it (name, digest, size) when it is over `max_inline`
    bytes. Read once, as every input is (a regular file, at most MAX_INPUT bytes): the size
    and digest are of the bytes read, not of what `stat` said before."""
    text = read_text(path)
    raw = text.encode()  # the file's bytes: read_text decoded them as strict UTF-8
    if len(raw) <= max_inline:
        return read_sbom(path, text)
    return {
        "attestByReference": {
            "name": path.name,
            "digest": {"sha256": hashlib.sha256(raw).hexdigest()},
            "mediaType": "application/vnd.cyclonedx+json",
            "size": len(raw),
        }
    }


def read_scan_report(path: Path) -> dict[str, Any]:
    report = read_json(path, "the scan report")
    if report.get("report_type") != _SCAN_REPORT:
        raise InputError(
            path, f"not an attest scan report ({_SCAN_REPORT}): use `attest scan --format json`"
        )
    return report


def vulns_predicate(report: dict[str, Any]) -> dict[str, Any]:
    source = report["source"]
    database = source.get("database") or {}
    db: dict[str, Any] = {
        "uri": database.get("location") or source.get("service") or source["name"]
    }
    if database.get("sha256"):
        db["version"] = f"sha256:{database['sha256']}"
    if database.get("newest"):
        db["lastUpdate"] = database["newest"]
    results = []
    for finding in report["findings"]:
        severity = finding["severity"]
        entry: dict[str, Any] = {
            "id": finding["id"],
            "annotations": [
                {
                    "package": finding["package"],
                    "version": finding["version"],
                    "aliases": finding["aliases"],
                    "fixVersions": finding["fix_versions"],
                }
            ],
        }
        if severity.get("score") is not None:
            entry["severity"] = [
                {"method": severity["method"] or "", "score": str(severity["score"])}
            ]
        results.append(entry)
    return {
        "scanner": {
            "uri": f"{SCANNER_URI}@{report['tool']['version']}",
            "version": report["tool"]["version"],
            "db": db,
            "result": results,
        },
        "metadata": {
            "scanStartedOn": report["generated_at"],
            "scanFinishedOn": report["generated_at"],
        },
    }


def _policy(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("windows", "unknown_severity", "clock", "due_soon", "no_fix_pauses_clock")
    return {key: report["policy"][key] for key in keys}


def slo_predicate(report: dict[str, Any]) -> dict[str, Any]:
    policy = _policy(report)
    canonical = json.dumps(policy, sort_keys=True, separators=(",", ":")).encode()
    database = report["source"].get("database")
    findings = []
    for finding in report["findings"]:
        waiver = finding.get("waiver")
        findings.append(
            {
                "package": finding["package"],
                "version": finding["version"],
                "id": finding["id"],
                "aliases": finding["aliases"],
                "severity": finding["severity"]["level"],
                "score": finding["severity"]["score"],
                "countsAs": finding["severity"]["counts_as"],
                "clockStart": finding["clock_start"],
                "published": finding["published"],
                "fixVersions": finding["fix_versions"],
                "due": finding["due"],
                "status": finding["status"],
                "waiver": None
                if waiver is None
                else {
                    key: waiver[key]
                    for key in ("id", "package", "reason", "expires", "granted", "approver")
                },
            }
        )
    return {
        "scanner": {
            "name": "attest",
            "version": report["tool"]["version"],
            "source": report["source"]["name"],
        },
        "scannedAt": report["generated_at"],
        "policy": policy,
        "policySha256": hashlib.sha256(canonical).hexdigest(),
        "database": None
        if database is None
        else {
            "sha256": database["sha256"],
            "records": database["records"],
            "newest": database["newest"],
        },
        "findings": findings,
    }
