"""Signing images (`attest sign oci://HOST/REPO@sha256:...`, or an OCI image layout directory):
the bundle's message signature is over the image manifest's digest, as cosign's bundle format
and GitHub's attestations sign an image. An image in a registry gets its bundle pushed as an
OCI artifact whose subject is the manifest (a referrer); a layout directory's bundle is written
as `sha256:<hex>.sigstore.json` into --bundle-dir, else beside the directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from attest.output import write_atomic
from attest.sign.session import Instance, SigningSession, start
from verify.errors import UsageError
from verify.formats import bundles
from verify.oci import layout
from verify.oci.client import Manifest, Registry
from verify.oci.evidence import resolve
from verify.oci.gate import argument_text, is_image
from verify.oci.reference import is_oci, parse
from verify.sigstore_adapter import hashed_digest, log_index


@dataclasses.dataclass(frozen=True)
class SignedImage:
    image: str  # HOST/REPO@sha256:<hex> or DIR@sha256:<hex>: by digest, a tag resolved
    digest: str
    stored: str  # the referrer's manifest digest, or the bundle file written
    log_index: int


def sign_image(
    session: SigningSession, argument: str, bundle_dir: Path | None = None
) -> SignedImage:
    """Sign the image `argument` names and store its bundle (RegistryError on any registry
    trouble, after which nothing was pushed for it, or only its unlisted blobs)."""
    if is_oci(argument):
        ref = parse(argument)
        registry = Registry(ref.host)
        ref, manifest = resolve(registry, ref)
        raw, index = _signed(session, manifest, ref.name)
        stored = registry.attach(ref.repository, manifest, raw)
        return SignedImage(ref.name, manifest.digest, stored, index)
    directory, manifest = layout.image(argument)
    name = f"{directory}@{manifest.digest}"
    raw, index = _signed(session, manifest, name)
    target = (bundle_dir or directory.parent) / bundles.signature_name(manifest.digest)
    write_atomic(target, raw)
    return SignedImage(name, manifest.digest, str(target), index)


def _signed(session: SigningSession, manifest: Manifest, name: str) -> tuple[bytes, int]:
    bundle = session.sign_file(hashed_digest(manifest.digest.removeprefix("sha256:")), Path(name))
    return bundle.to_json().encode(), log_index(bundle)


def images_among(artifacts: tuple[Path, ...]) -> list[str]:
    """The image arguments (oci:// references, OCI layout directories) as typed; UsageError
    when they are mixed with files (sign those in a run of their own)."""
    named = [argument_text(a) for a in artifacts]
    images = [a for a in named if is_image(a)]
    if images and len(images) != len(named):
        raise UsageError("sign images (oci://, OCI layout directories) and files in separate runs")
    return images


def sign_images(
    images: list[str],
    trust_config: Path | None,
    instance: Instance | None,
    identity_token: str | None,
    *,
    bundle_dir: Path | None = None,
    yes: bool = False,
) -> tuple[SigningSession, list[SignedImage]]:
    """Sign every image with one certificate, one after the other (each costs a registry
    round trip or two besides the log's)."""
    session = start(trust_config, instance, identity_token, yes=yes)
    return session, [sign_image(session, image, bundle_dir) for image in images]
