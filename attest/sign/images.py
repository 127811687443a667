"""Signing images (`attest sign oci://HOST/REPO@sha256:...`, or an OCI image layout directory):
the bundle's message signature is over the image manifest's digest, as cosign's bundle format
and GitHub's attestations sign an image. An image in a registry gets its bundle pushed as an
OCI artifact whose subject is the manifest (a referrer); a layout directory's bundle is written
as `sha256:<hex>.sigstore.json` into --bundle-dir, else beside the directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sigstore.models import Bundle

from attest.output import write_atomic
from attest.sign.message import refuse_pae
from attest.sign.session import SigningSession, start
from attest.sign.stage import SignRequest
from verify.errors import UsageError
from verify.formats import bundles
from verify.oci import layout
from verify.oci.client import Manifest, Registry
from verify.oci.evidence import resolve
from verify.oci.layout import is_image
from verify.oci.reference import argument_text, is_oci, parse
from verify.sigstore_adapter import hashed_digest, log_index


@dataclasses.dataclass(frozen=True)
class Target:
    """An image named on the command line, by digest (a tag resolved once), and where its
    bundles go: its registry, as referrers, or files beside its layout directory."""

    name: str  # HOST/REPO@sha256:<hex> or DIR@sha256:<hex>
    subject: str  # a statement subject's name: HOST/REPO (as GitHub and cosign name an image)
    manifest: Manifest
    registry: Registry | None = None
    repository: str = ""
    directory: Path = Path()  # a layout's

    def store(self, raw: bytes, file_name: str, bundle_dir: Path | None) -> str:
        """Push the bundle as a referrer (its manifest digest), or write it as `file_name`
        into `bundle_dir`, else beside the layout directory (its path)."""
        if self.registry is not None:
            return self.registry.attach(self.repository, self.manifest, raw)
        path = (bundle_dir or self.directory.parent) / file_name
        write_atomic(path, raw)
        return str(path)


def target(argument: str) -> Target:
    """The image `argument` names (RegistryError on any registry trouble); InputError when its
    manifest's bytes start a DSSE PAE (see attest/sign/message.py: sign_image signs them)."""
    if is_oci(argument):
        ref = parse(argument)
        registry = Registry(ref.host)
        ref, manifest = resolve(registry, ref)
        subject = f"{ref.host}/{ref.repository}"
        found = Target(ref.name, subject, manifest, registry, ref.repository)
    else:
        directory, manifest = layout.image(argument)
        name = f"{directory}@{manifest.digest}"
        found = Target(name, directory.resolve().name, manifest, directory=directory)
    refuse_pae(manifest.body, found.name)
    return found


@dataclasses.dataclass(frozen=True)
class SignedImage:
    image: str  # HOST/REPO@sha256:<hex> or DIR@sha256:<hex>: by digest, a tag resolved
    digest: str
    stored: str  # the referrer's manifest digest, or the bundle file written
    log_index: int
    bundle: Bundle = dataclasses.field(repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "bundle"}


def sign_image(
    session: SigningSession, image: Target, bundle_dir: Path | None = None
) -> SignedImage:
    """Sign the image (by its digest, as resolved before) and store its bundle (RegistryError
    on any registry trouble, after which nothing was pushed for it, or only its unlisted
    blobs)."""
    hashed = hashed_digest(image.manifest.digest.removeprefix("sha256:"))
    bundle = session.sign_file(hashed, Path(image.name))
    name = bundles.signature_name(image.manifest.digest)
    stored = image.store(bundle.to_json().encode(), name, bundle_dir)
    return SignedImage(image.name, image.manifest.digest, stored, log_index(bundle), bundle)


def images_among(artifacts: tuple[Path, ...]) -> list[str]:
    """The image arguments (oci:// references, OCI layout directories) as typed; UsageError
    when they are mixed with files (sign those in a run of their own)."""
    named = [argument_text(a) for a in artifacts]
    images = [a for a in named if is_image(a)]
    if images and len(images) != len(named):
        raise UsageError("sign images (oci://, OCI layout directories) and files in separate runs")
    return images


def sign_images(
    images: list[str], request: SignRequest
) -> tuple[SigningSession, list[SignedImage]]:
    """Sign every image with one certificate, where and as whom `request` says, one after the
    other (each costs a registry round trip or two besides the log's). PEP 740 is refused, not
    ignored: its attestations are a wheel's or sdist's, for PyPI."""
    if request.pep740:
        raise UsageError(
            "--pep740 is for wheels and sdists (PEP 740 attestations, for PyPI): an image has "
            "none: sign it without --pep740"
        )
    session = start(request.trust_config, request.instance, request.identity_token, yes=request.yes)
    return session, [sign_image(session, target(image), request.bundle_dir) for image in images]
