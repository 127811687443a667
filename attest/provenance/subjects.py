"""Statement subjects from artifacts on disk, and the names attestation files are given."""

from __future__ import annotations

import re
from pathlib import Path

from attest.sign.stage import hash_file, require_file
from verify.errors import UsageError
from verify.formats import bundles
from verify.formats.statement import Subject

_WHEEL = re.compile(r"^(?P<stem>[^-]+-[^-]+)-.+\.whl$")
_SDIST = re.compile(r"^(?P<stem>.+?)\.(tar\.gz|zip)$")


def subjects(artifacts: tuple[Path, ...]) -> tuple[Subject, ...]:
    """One subject per artifact: its file name and SHA-256 (read as a stream)."""
    if not artifacts:
        raise UsageError("name at least one artifact")
    bundles.refuse_evidence(artifacts)
    for artifact in artifacts:
        require_file(artifact)
    _one_name_each(artifacts)
    return tuple(Subject(a.name, hash_file(a).digest.hex()) for a in artifacts)


def _one_name_each(artifacts: tuple[Path, ...]) -> None:
    named: dict[str, Path] = {}
    for artifact in artifacts:
        if artifact.name in named:  # the gate finds bundles by name: which one would it be?
            raise UsageError(
                f"{named[artifact.name]} and {artifact} are both named {artifact.name!r}: "
                "a subject's name must say which artifact it is"
            )
        named[artifact.name] = artifact


def _distribution_stem(file_name: str) -> str | None:
    for pattern in (_WHEEL, _SDIST):
        match = pattern.match(file_name)
        if match:
            return match.group("stem")
    return None


def attestation_name(artifacts: tuple[Path, ...], name: str | None) -> str:
    """`<name>` in `<name>.<kind>.sigstore.json`: given, else the one artifact's file name, else
    the distribution name and version the artifacts share (`acme_web-1.4.0`)."""
    bundles.refuse_evidence(artifacts)  # before "share no name": a bundle is why they do not
    _one_name_each(artifacts)  # likewise two files of one name
    if name:
        if "/" in name or name.startswith("."):
            raise UsageError(f"--name {name!r} must be a plain file name")
        return name
    if len(artifacts) == 1:
        return artifacts[0].name
    stems = {_distribution_stem(a.name) for a in artifacts}
    if len(stems) == 1 and None not in stems:
        return str(stems.pop())
    raise UsageError("the artifacts share no distribution name and version: give --name")
