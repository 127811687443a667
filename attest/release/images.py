"""Images as what `attest release` signs: `oci://HOST/REPO@sha256:<hex>` or `oci://HOST/REPO:TAG`.

A release takes files or images, never both (one provenance, one kind of subject; `attest sign`
refuses the mix alike), and images in a registry only: their signature, provenance and
attestations are pushed there as referrers, where the gate finds them (an OCI layout directory
has no registry: sign, provenance and attest it stage by stage, with --bundle-dir). Each tag is
resolved once, at the checks: that digest is what is rehearsed, signed, attested and judged, and
a tag found naming another manifest later (it moved) stops the release before its next step,
naming both digests. An image has no PEP 740 attestation (a wheel's or sdist's, for PyPI)."""

from __future__ import annotations

import datetime
from pathlib import Path

from attest.release.rehearse import Planned
from attest.sign import images
from attest.sign.images import SignedImage, Target
from attest.sign.session import SigningSession
from verify import gate
from verify.errors import InputError, UsageError
from verify.formats import bundles
from verify.formats.statement import Subject
from verify.oci import gate as oci_gate
from verify.oci.reference import SCHEME, is_oci, parse
from verify.policy import Policy
from verify.text import excerpt, shown
from verify.trust import Trust

Targets = dict[str, Target]  # each image argument as given -> the image it named at the checks


def check(arguments: tuple[str, ...]) -> None:
    """UsageError unless every argument is an image in a registry, each named once."""
    for argument in arguments:
        if not is_oci(argument):
            raise UsageError(
                f"{excerpt(argument)}: attest release pushes an image's evidence to its registry: "
                "name it oci://HOST/REPO@sha256:<hex> or oci://HOST/REPO:TAG (an OCI layout "
                "directory: sign, provenance and attest it stage by stage, with --bundle-dir)"
            )
        parse(argument)
    if len(set(arguments)) != len(arguments):
        raise UsageError("an image is named twice: name each once")


def resolve(arguments: tuple[str, ...]) -> Targets:
    """Each image by digest (a tag resolved once, here); UsageError for one image named twice
    (two tags of one manifest: one subject, signed once)."""
    found = {argument: images.target(argument) for argument in arguments}
    seen: dict[str, str] = {}
    for argument, target in found.items():
        if (other := seen.setdefault(target.name, argument)) != argument:
            raise UsageError(
                f"{shown(other)} and {shown(argument)} are one image, {target.name}: name it once"
            )
    return found


def unchanged(targets: Targets) -> None:
    """InputError naming the first image whose argument (its tag) names another manifest now
    than at the checks (RegistryError when the registry no longer serves it)."""
    for argument, checked in targets.items():
        now = images.target(argument).manifest.digest
        if now != checked.manifest.digest:
            raise InputError(
                argument,
                f"names another manifest now ({checked.manifest.digest} at the checks, {now} "
                "now): the tag moved during the release, which covers only the image it "
                "checked: release again",
            )


def described(targets: Targets) -> str:
    """What the checks resolved, for the stage's detail (each argument parsed: short, plain)."""
    return "; ".join(f"{shown(argument)} is {t.manifest.digest}" for argument, t in targets.items())


def subjects(targets: Targets) -> tuple[Subject, ...]:
    """The statements' subjects: each image named HOST/REPO (as GitHub and cosign name one), by
    its manifest digest."""
    return tuple(Subject(t.subject, t.manifest.digest[7:]) for t in targets.values())


def stem(targets: Targets) -> str:
    """`<name>` of the attestations' names (they inform only: the gate finds a referrer by its
    subject): the one image's repository's last component, else `images`."""
    if len(targets) == 1:
        return next(iter(targets.values())).subject.rsplit("/", 1)[-1]
    return "images"


def signatures(targets: Targets) -> list[Planned]:
    """The images' signatures, as the gate reads a referrer beside the manifest it stages."""
    return [Planned(Path(bundles.signature_name(t.manifest.digest))) for t in targets.values()]


def pinned(targets: Targets) -> list[str]:
    """The images as `oci://HOST/REPO@sha256:<hex>`: what the gate judges, never a tag."""
    return [SCHEME + t.name for t in targets.values()]


def sign(session: SigningSession, targets: Targets) -> list[SignedImage]:
    """Each image signed by its checked digest, its bundle pushed as a referrer: one after the
    other, so ^C starts no further log entry or push."""
    return [images.sign_image(session, target) for target in targets.values()]


def decide(targets: Targets, policy: Policy, now: datetime.datetime, trust: Trust) -> gate.Run:
    """The gate's decisions on the images by digest, their referrers fetched from the registry."""
    return oci_gate.decide(pinned(targets), policy, now, None, trust=trust)
