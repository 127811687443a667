"""The gate on images: each image's manifest is the artifact (its sha256 is the image's
digest, which is what a signature over an image signs), its bundles the evidence, judged by
the same checks into the same decisions, each named `HOST/REPO@sha256:<hex>` (a tag resolved
first) or `DIR@sha256:<hex>` for an OCI layout directory.

The manifests and the registry's bundles are written to a private temporary directory, read
by the gate as any artifact with its bundles beside it, and removed: one code path judges
files and images. A layout directory's evidence is `--attestations DIR` (offline), where the
image's signatures are `sha256:<hex>[.<name>].sigstore.json`. For an image, any verified
signature over its manifest digest by an allowed identity is a signature (there is no "own"
bundle by name): see `_write_referrers`."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from verify import gate
from verify.errors import UsageError
from verify.evidence import Problem
from verify.formats import bundles
from verify.oci import evidence, layout
from verify.oci.deadline import Deadline
from verify.oci.reference import is_oci
from verify.policy import Policy
from verify.trust import Trust


def _write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def _write_referrers(place: Path, digest: str, found: Sequence[tuple[str, bytes]]) -> None:
    """The image's bundles as the gate reads them, each `<digest>.referrer-<id>.sigstore.json`:
    no referrer is the image's own signature (anyone who may push lists them, in any order), so
    every message signature is judged alike; one that verifies by an allowed identity counts,
    each distinct signer once (k_of_n), and one that does not is not counted, never a denial
    by itself. A DSSE attestation is found by the digest its statement names, as for files."""
    for referrer, raw in found:
        _write(place, bundles.signature_name(f"{digest}.referrer-{referrer[7:23]}"), raw)


@dataclasses.dataclass(frozen=True)
class Staged:
    """An image as the gate reads it: its manifest as a file, its registry's bundles beside it."""

    argument: str
    name: str  # HOST/REPO@sha256:<hex> or DIR@sha256:<hex>
    file: Path
    referrers: int = 0  # the registry's bundles of the image (evidence.MAX_REFERRERS at most)


def _stage(argument: str, place: Path, plain_http: bool, deadline: Deadline | None) -> Staged:
    if is_oci(argument):
        image = evidence.gather(argument, plain_http=plain_http, deadline=deadline)
        name, manifest = image.ref.name, image.manifest
        _write_referrers(place, manifest.digest, image.bundles)
        referrers = len(image.bundles)
    else:
        directory, manifest = layout.image(argument)
        name, referrers = f"{directory}@{manifest.digest}", 0
    return Staged(argument, name, _write(place, manifest.digest, manifest.body), referrers)


@contextlib.contextmanager
def staged(
    arguments: Sequence[str], plain_http: bool = False, deadline: Deadline | None = None
) -> Iterator[list[Staged]]:
    """The images in a private temporary directory, removed after: what `decide` judges, and
    what `attest release` rehearses its verdict on before it signs an image. `deadline`: when
    reading the registries ends (Expired, exit 3)."""
    with tempfile.TemporaryDirectory(prefix="attest-images-") as scratch:
        found = []
        for number, argument in enumerate(arguments):
            place = Path(scratch) / str(number)
            place.mkdir()
            found.append(_stage(argument, place, plain_http, deadline))
        yield found


def decide(
    arguments: Sequence[str],
    policy: Policy,
    now: datetime.datetime,
    attestations: Path | None,
    trust: Trust | None = None,
    plain_http: bool = False,
    deadline: Deadline | None = None,
) -> gate.Run:
    """One decision per image, in the order given, at the one judging instant `now`."""
    remote = [a for a in arguments if is_oci(a)]
    if remote and attestations is not None:
        raise UsageError(
            "--attestations with an oci:// image: its evidence is its referrers in the registry; "
            "judge an OCI layout directory to use a local directory of bundles"
        )
    trust = trust or gate.trust_for(policy)
    with staged(arguments, plain_http, deadline) as images:
        runs = [
            gate.decide(
                [s.file],
                policy,
                now,
                None if is_oci(s.argument) else attestations,
                trust=trust,
                images=True,
            )
            for s in images
        ]
    decisions = [
        dataclasses.replace(d, artifact=Path(s.name))
        for run, s in zip(runs, images, strict=True)
        for d in run.decisions
    ]
    unjudged = [Problem(Path(p.path.name), p.reason, p.where) for run in runs for p in run.unjudged]
    return gate.Run(policy, trust, now, tuple(decisions), gate.check_plugins(), tuple(unjudged))
