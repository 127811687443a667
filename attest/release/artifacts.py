"""Which files `attest release` signs, checked before anything is: by default the wheels and
sdists in the project's dist/ of its one distribution name and version (an old version's sdist,
a SHA256SUMS or notes there are left out, and said); any set is one directory (the gate reads a
release's attestations beside its artifacts), no name twice, no evidence file, and the files of
one name and version (one release is one provenance). Each artifact is hashed once, at the
checks; a file whose bytes change later is refused, named."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from attest.sbom.project import read_project
from attest.sign.message import require_message
from attest.sign.stage import require_file
from verify.digests import sha256_file
from verify.errors import AttestError, InputError, UsageError
from verify.formats import bundles


@dataclasses.dataclass(frozen=True)
class Selection:
    """The artifacts a release signs, and the files of dist/ it left out (said at the checks)."""

    artifacts: tuple[Path, ...]
    left_out: tuple[Path, ...] = ()
    release: str = ""  # `acme-web 1.4.0`: what was kept


def distribution(path: Path) -> tuple[str, str] | None:
    """The (normalized name, version) a wheel's or sdist's file name says, else None."""
    try:
        if path.name.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(path.name)
        else:
            name, version = parse_sdist_filename(path.name)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return str(name), str(version)


def _project(project: Path) -> tuple[str | None, str | None]:
    """The project's name and (static) version from its pyproject.toml, where it says them."""
    if not (project / "pyproject.toml").is_file():
        return None, None
    try:
        found = read_project(project)
    except AttestError:  # the SBOM stage says what is wrong with it
        return None, None
    return str(canonicalize_name(found.name)), found.version


def from_dist(project: Path) -> Selection:
    """The project's wheels and sdists in dist/, of its one name and version; UsageError when
    there are none or more than one version (naming the files)."""
    dist = project / "dist"
    files = sorted(
        p for p in dist.glob("*") if p.is_file() and not bundles.is_evidence(p.name)
    )  # bundles and PEP 740 files beside the artifacts are evidence, judged by the gate
    name, version = _project(project)
    kept = {
        p: d
        for p in files
        if (d := distribution(p)) and d[0] == (name or d[0]) and d[1] == (version or d[1])
    }
    found = sorted({f"{n} {v}" for n, v in kept.values()})
    if not kept:
        wanted = f"of {name}{f' {version}' if version else ''} " if name else ""
        holds = ", ".join(p.name for p in files) or "nothing"
        raise UsageError(
            f"no wheel or sdist {wanted}in {dist} (it holds {holds}): build them first (e.g. "
            "python -m build) or name the artifacts"
        )
    if len(found) > 1:
        raise UsageError(
            f"{dist} holds more than one release ({'; '.join(found)}): one release is one "
            "name and version: remove the others, or name the artifacts"
        )
    left_out = tuple(p for p in files if p not in kept)
    return Selection(tuple(kept), left_out, found[0])


def check(artifacts: tuple[Path, ...]) -> None:
    """UsageError naming the files unless the set is one the release can sign and the gate
    judge: regular files, in one directory, no name twice, none named as evidence, of one
    distribution name and version when more than one."""
    if not artifacts:
        raise UsageError("no artifacts: build them first (e.g. python -m build) or name them")
    bundles.refuse_evidence(artifacts)  # the gate would read it as a bundle
    for artifact in artifacts:
        require_file(artifact)
        require_message(artifact)
    directories = sorted({os.path.realpath(a.parent) for a in artifacts})
    if len(directories) > 1:
        raise UsageError(
            f"the artifacts are in {len(directories)} directories ({', '.join(directories)}): "
            "the gate reads a release's attestations beside its artifacts: put them in one"
        )
    names: dict[str, Path] = {}
    for artifact in artifacts:
        if artifact.name in names:
            raise UsageError(f"{names[artifact.name]} and {artifact} are the same file name")
        names[artifact.name] = artifact
    releases = {distribution(a) for a in artifacts}
    if len(artifacts) > 1 and (len(releases) > 1 or None in releases):
        shown = ", ".join(a.name for a in artifacts)
        raise UsageError(
            f"the artifacts ({shown}) are not the wheels and sdists of one name and version: "
            "one release is one provenance: release each separately"
        )


def digests(artifacts: tuple[Path, ...]) -> dict[Path, str]:
    """Each artifact's SHA-256, read once at the checks: what the release signs and attests."""
    return {a: sha256_file(a) for a in artifacts}


def unchanged(digests: dict[Path, str]) -> None:
    """InputError naming the first artifact whose bytes differ from those checked."""
    for artifact, checked in digests.items():
        try:
            now = sha256_file(artifact)
        except AttestError as e:  # gone, or no longer a regular file
            raise InputError(artifact, f"changed during the release: {e}") from e
        if now != checked:
            raise InputError(
                artifact,
                f"changed during the release (sha256 {checked[:12]}… at the checks, "
                f"{now[:12]}… now): the release covers only the bytes it checked; "
                "rebuild, then release again",
            )
