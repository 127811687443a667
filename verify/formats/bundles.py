"""Bundle file names: where attest writes a signature, an attestation or a PEP 740 file, and
which artifact names the gate reads a file in a directory as belonging to."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from verify.errors import UsageError
from verify.formats import evidence_files

SUFFIX = ".sigstore.json"  # Sigstore bundle v0.3, as PyPI and sigstore-python name it
PEP740_SUFFIX = ".publish.attestation"  # pypi-attestations' file layout


def signature_name(artifact_name: str) -> str:
    """`<artifact>.sigstore.json`: the artifact's own signature bundle."""
    return artifact_name + SUFFIX


def signature_path(artifact: Path, directory: Path | None = None) -> Path:
    """The signature bundle of `artifact`, in `directory` or beside it."""
    return (directory or artifact.parent) / signature_name(artifact.name)


def publish_attestation_path(artifact: Path, directory: Path | None = None) -> Path:
    """`<dist>.publish.attestation` (PEP 740), in `directory` or beside the distribution."""
    return (directory or artifact.parent) / (artifact.name + PEP740_SUFFIX)


def attestation_path(directory: Path, name: str, kind: str) -> Path:
    """`<name>.<kind>.sigstore.json`: an attestation (kind: provenance, sbom, vulns, slo,
    build); the gate finds it by the digests of its subjects, the name only informs."""
    return directory / f"{name}.{kind}{SUFFIX}"


def is_bundle(file_name: str) -> bool:
    """Whether the gate reads the file as a bundle."""
    return file_name.endswith((SUFFIX, PEP740_SUFFIX))


def is_evidence(file_name: str) -> bool:
    """Whether a file in a dist directory is evidence rather than an artifact to release: a
    bundle, any `*.attestation` (PEP 740 files of other layouts than attest's), a gh attestation
    file or a PyPI provenance object."""
    return (
        is_bundle(file_name)
        or file_name.endswith(".attestation")
        or evidence_files.is_evidence_file(file_name)
    )


def refuse_evidence(artifacts: Iterable[Path]) -> None:
    """Refuse an artifact argument that is evidence (`dist/*` once the dist holds bundles):
    signing it would sign a signature and log it, the gate would deny it as an artifact with
    no evidence. Fail closed: a usage error naming it, never a silent skip."""
    found = [a for a in artifacts if is_evidence(a.name)]
    if not found:
        return
    kind = "Sigstore bundle" if found[0].name.endswith(SUFFIX) else "attestation"
    more = f" ({len(found) - 1} more such argument(s) too)" if len(found) > 1 else ""
    raise UsageError(
        f"{found[0]} is a {kind} (evidence), not an artifact{more}: name the artifacts, "
        "e.g. dist/*.whl dist/*.tar.gz"
    )


def artifact_stem(file_name: str) -> str:
    """The artifact name a bundle file is named for: `<artifact>` of `<artifact>.sigstore.json`
    or `<artifact>.publish.attestation` or `<artifact>.provenance`."""
    for suffix in (PEP740_SUFFIX, evidence_files.PROVENANCE_SUFFIX):
        if file_name.endswith(suffix):
            return file_name.removesuffix(suffix)
    return file_name.removesuffix(SUFFIX)


def name_prefixes(file_name: str) -> list[str]:
    """The artifact names a bundle's file name can belong to: `<artifact>` in
    `<artifact>.sigstore.json` and `<artifact>.<anything>.sigstore.json`; none for a gh file,
    which is named for a digest."""
    if evidence_files.gh_digest(file_name) is not None:
        return []
    stem = artifact_stem(file_name)
    return [stem[:i] for i, c in enumerate(stem) if c == "."] + [stem]
