"""The evidence of an image in a registry: its manifest (fetched by digest, a tag resolved to a
digest first) and the Sigstore bundles stored as its referrers (OCI artifacts of artifactType
`application/vnd.dev.sigstore.bundle.v0.3+json` whose subject is the manifest).

Only what the image's own referrers hold is evidence: a manifest the referrers list names but
whose `subject` is another image (the tag-schema index is a plain tag anyone who may push can
rewrite) is skipped, and each bundle is then judged by the gate like any bundle on disk."""

from __future__ import annotations

import dataclasses
from typing import Any

import requests

from verify.oci.cache import Cache
from verify.oci.client import BUNDLE_TYPE, MAX_BLOB, TIMEOUT, Manifest, Registry, RegistryError
from verify.oci.reference import ImageRef, parse

MAX_REFERRERS = 64  # bundles read per image: more is refused, never silently cut


@dataclasses.dataclass(frozen=True)
class Image:
    ref: ImageRef  # by digest
    manifest: Manifest
    bundles: tuple[tuple[str, bytes], ...]  # (referrer manifest digest, bundle bytes)


def resolve(registry: Registry, ref: ImageRef) -> tuple[ImageRef, Manifest]:
    """The image by digest, with its manifest: a tag is resolved once, here."""
    manifest = registry.manifest(ref.repository, ref.digest or str(ref.tag))
    return ref.pinned(manifest.digest), manifest


def _bundle_layer(artifact: Any, subject: str) -> dict[str, Any] | None:
    """The bundle layer of a referrer manifest that names `subject`, else None."""
    if not isinstance(artifact, dict):
        return None
    named = artifact.get("subject")
    if not isinstance(named, dict) or named.get("digest") != subject:
        return None
    layers = artifact.get("layers")
    if not isinstance(layers, list):
        return None
    found = [x for x in layers if isinstance(x, dict) and x.get("mediaType") == BUNDLE_TYPE]
    return found[0] if len(found) == 1 and isinstance(found[0].get("digest"), str) else None


def gather(
    reference: str | ImageRef,
    *,
    plain_http: bool = False,
    transport: requests.Session | None = None,
    timeout: float = TIMEOUT,
    cache: Cache | None = None,
) -> Image:
    """The image's manifest and bundles from its registry (RegistryError for any trouble);
    `cache`: what a long-lived caller keeps between calls (verify/oci/cache.py)."""
    ref = parse(reference) if isinstance(reference, str) else reference
    registry = Registry(
        ref.host, plain_http=plain_http, transport=transport, timeout=timeout, cache=cache
    )
    ref, manifest = resolve(registry, ref)
    assert ref.digest is not None
    listed = registry.referrers(ref.repository, ref.digest, BUNDLE_TYPE)
    if len(listed) > MAX_REFERRERS:
        raise RegistryError(
            f"{ref.name}: {len(listed)} bundle referrers, over the limit of {MAX_REFERRERS}: "
            "refused (prune old ones)"
        )
    found = []
    for entry in listed:
        artifact = registry.manifest(ref.repository, entry["digest"]).json()
        layer = _bundle_layer(artifact, ref.digest)
        if layer is None:
            continue  # another image's artifact, or not a bundle: not this image's evidence
        found.append((entry["digest"], registry.blob(ref.repository, layer["digest"], MAX_BLOB)))
    return Image(ref, manifest, tuple(found))


def collect(
    reference: str | ImageRef,
    *,
    plain_http: bool = False,
    transport: requests.Session | None = None,
    timeout: float = TIMEOUT,
    cache: Cache | None = None,
) -> tuple[str, list[bytes]]:
    """The image's manifest digest (`sha256:<hex>`, a tag resolved) and the bytes of every
    Sigstore bundle among its referrers, to be judged by the gate."""
    image = gather(
        reference, plain_http=plain_http, transport=transport, timeout=timeout, cache=cache
    )
    assert image.ref.digest is not None
    return image.ref.digest, [raw for _, raw in image.bundles]
