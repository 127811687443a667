"""Building the predicates: SLSA v1 provenance (GitHub Actions or local) and the SBOM; reading
the scan report the vulnerability and SLO status predicates are made of (verify/formats)."""

from __future__ import annotations

import datetime
import hashlib
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
from verify.errors import InputError, UsageError
from verify.files import DASH
from verify.formats import cyclonedx, scan_report, schema, strict_json
from verify.formats.provenance import Builder, BuildMetadata, SlsaProvenance
from verify.formats.scan_report import REPORT_TYPE, ScanReport
from verify.formats.statement import ResourceDescriptor

MAX_INLINE_SBOM = 10 << 20  # bytes: a larger SBOM is attested by reference


def _time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolved(
    uri: str, commit: str, dependencies: list[dict[str, Any]]
) -> tuple[ResourceDescriptor, ...]:
    """The source commit, then the SBOM's components (sbom_dependencies)."""
    source = ResourceDescriptor(uri=uri, digest={"gitCommit": commit})
    return (source, *(ResourceDescriptor.from_dict(d, "an SBOM component") for d in dependencies))


def github_provenance(
    run: GitHubRun, builder_id: str | None, dependencies: list[dict[str, Any]]
) -> SlsaProvenance:
    """What actions/attest-build-provenance writes for a workflow run."""
    internal = {
        "github": {
            "event_name": run.event,
            "repository_id": run.repository_id,
            "repository_owner_id": run.owner_id,
            "runner_environment": run.runner_environment,
        }
    }
    workflow = {"ref": run.ref, "repository": run.repository_uri, "path": run.workflow_path}
    return SlsaProvenance(
        build_type=GITHUB_BUILD_TYPE,
        external_parameters={"workflow": workflow},
        internal_parameters=internal,
        resolved_dependencies=_resolved(
            f"git+{run.repository_uri}@{run.ref}", run.sha, dependencies
        ),
        builder=Builder(builder_id or f"{run.server}/{run.workflow_ref}"),
        metadata=BuildMetadata(invocation_id=run.invocation_id),
    )


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
) -> SlsaProvenance:
    """Attest's local buildType: the git source, the command line and the builder host."""
    source = {"uri": checkout.remote, "ref": checkout.ref, "dirty": checkout.dirty}
    return SlsaProvenance(
        build_type=LOCAL_BUILD_TYPE,
        external_parameters={"source": source, "command": redacted(command)},
        internal_parameters={
            "host": socket.gethostname(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        resolved_dependencies=_resolved(
            f"git+{checkout.remote}@{checkout.ref}", checkout.commit, dependencies
        ),
        builder=Builder(LOCAL_BUILDER, version={"attest": __version__}),
        metadata=BuildMetadata(invocation_id=invocation_id, started_on=_time(now)),
    )


def read_json(path: Path, what: str, text: str | None = None) -> dict[str, Any]:
    """The JSON object in `path` (or `text`, already read from it)."""
    try:
        data = strict_json.loads(read_text(path) if text is None else text)
    except strict_json.NotJson as e:  # a repeated key too: it would be read two ways
        raise InputError(path, f"{what} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise InputError(path, f"{what} must be a JSON object")
    return data


def read_sbom(path: Path, text: str | None = None) -> dict[str, Any]:
    bom = read_json(path, "the SBOM", text)
    try:
        cyclonedx.document(bom)
    except cyclonedx.MalformedBom as e:
        raise InputError(path, str(e)) from e
    return bom


def sbom_dependencies(path: Path) -> list[dict[str, Any]]:
    """The SBOM's components, nested ones included, as resolved dependencies: purl, and the
    sha256 when it is one."""
    found = []
    try:
        for component in cyclonedx.components(read_sbom(path)):
            if component.purl is None:
                continue
            sha256 = component.sha256()
            entry: dict[str, Any] = {"uri": component.purl, "name": component.name or ""}
            if len(sha256) == 1:
                entry["digest"] = {"sha256": sha256[0]}
            elif sha256:
                entry["annotations"] = {"sha256": list(sha256)}  # one per distribution file
            found.append(entry)
    except cyclonedx.MalformedBom as e:
        raise InputError(path, str(e)) from e
    return found


def sbom_predicate(path: Path, max_inline: int = MAX_INLINE_SBOM) -> dict[str, Any]:
    """The SBOM itself, or a reference to it (name, digest, size) when it is over `max_inline`
    bytes. Read once, as every input is (a regular file, at most MAX_INPUT bytes): the size
    and digest are of the bytes read, not of what `stat` said before."""
    text = read_text(path)
    raw = text.encode()  # the file's bytes: read_text decoded them as strict UTF-8
    if len(raw) <= max_inline:
        return read_sbom(path, text)
    if path == DASH:
        raise UsageError(
            f"the SBOM on standard input is {len(raw)} bytes, over --max-inline-sbom "
            f"{max_inline}: a larger SBOM is attested by reference, which names its file: give "
            "the file (or raise --max-inline-sbom)"
        )
    return {
        "attestByReference": {
            "name": path.name,
            "digest": {"sha256": hashlib.sha256(raw).hexdigest()},
            "mediaType": "application/vnd.cyclonedx+json",
            "size": len(raw),
        }
    }


def read_scan_report(path: Path) -> ScanReport:
    """The scan report in `path`, valid under its schema."""
    data = read_json(path, "the scan report")
    if data.get("report_type") != REPORT_TYPE:
        raise InputError(
            path, f"not an attest scan report ({REPORT_TYPE}): use `attest scan --format json`"
        )
    found = schema.problem(scan_report.SCHEMA, data)
    if found is not None:  # said from the schema's side: the file is never quoted
        raise InputError(path, f"not a valid attest scan report at {found}")
    try:
        return ScanReport.from_json(data)
    except ValueError as e:  # 2026-13-45T00:00:00Z has the schema's form
        raise InputError(path, "the scan report holds a time that is not in the calendar") from e
