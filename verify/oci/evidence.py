"""The evidence of an image in a registry: its manifest (fetched by digest, a tag resolved to a
digest first) and the Sigstore bundles stored as its referrers (OCI artifacts of artifactType
`application/vnd.dev.sigstore.bundle.v0.3+json` whose subject is the manifest).

Only what the image's own referrers hold is evidence: a manifest the referrers list names but
whose `subject` is another image (the tag-schema index is a plain tag anyone who may push can
rewrite) is skipped, and each bundle is then judged by the gate like any bundle on disk.

Two limits, each refused with exit 3 naming it, never a silent cut: MAX_LISTED entries of the
bundle artifactType in the listing (a manifest each to fetch), and MAX_REFERRERS of them that
are this image's bundles (a bundle each to verify). Only the latter are counted against the
64: what names another image, or is not a bundle, costs a manifest fetch, not the limit.
Whoever may push to the repository can still push 65 bundles naming this image: write access
to the repository is the image's own.

Memory: at most MAX_REFERRERS bundles, each at most MAX_BLOB (16 MiB), and all of an image's
together at most MAX_EVIDENCE (64 MiB): checked on the sizes the referrers' descriptors declare
before any bundle is fetched, and each bundle is read under the size its descriptor declares
(its digest must then match). Over a limit, the image is refused, never judged on a part."""

from __future__ import annotations

import dataclasses
from typing import Any

import requests

from verify.files import MIB
from verify.oci.cache import Cache
from verify.oci.client import BUNDLE_TYPE, MAX_BLOB, TIMEOUT, Manifest, Registry, RegistryError
from verify.oci.deadline import Deadline
from verify.oci.reference import ImageRef, parse

MAX_REFERRERS = 64  # this image's bundles read per image: more is refused, never silently cut
MAX_LISTED = 1024  # listed referrers of the bundle type (each a manifest fetched): more refused
MAX_EVIDENCE = 64 * MIB  # the bundles of one image, together


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
    if len(found) != 1 or not isinstance(found[0].get("digest"), str):
        return None
    size = found[0].get("size")
    return found[0] if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def _budget(name: str, layers: list[tuple[str, dict[str, Any]]]) -> None:
    """RegistryError when a declared bundle size is over MAX_BLOB, or all over MAX_EVIDENCE."""
    for _, layer in layers:
        if layer["size"] > MAX_BLOB:
            raise RegistryError(
                f"{name}: a bundle referrer of {layer['size']} bytes, over the {MAX_BLOB // MIB} "
                "MiB limit for one bundle: refused"
            )
    total = sum(layer["size"] for _, layer in layers)
    if total > MAX_EVIDENCE:
        raise RegistryError(
            f"{name}: bundle referrers of {total} bytes in all, over the {MAX_EVIDENCE // MIB} "
            "MiB limit for one image: refused (prune old ones)"
        )


def gather(
    reference: str | ImageRef,
    *,
    plain_http: bool = False,
    transport: requests.Session | None = None,
    timeout: float = TIMEOUT,
    cache: Cache | None = None,
    deadline: Deadline | None = None,
    public: bool = False,
) -> Image:
    """The image's manifest and bundles from its registry (RegistryError for any trouble);
    `cache`: what a long-lived caller keeps between calls (verify/oci/cache.py); `deadline`:
    when all reading ends (verify/oci/deadline.py); `public`: https to public addresses only."""
    ref = parse(reference) if isinstance(reference, str) else reference
    registry = Registry(
        ref.host,
        plain_http=plain_http,
        transport=transport,
        timeout=timeout,
        cache=cache,
        deadline=deadline,
        public=public,
    )
    ref, manifest = resolve(registry, ref)
    assert ref.digest is not None
    listed = registry.referrers(ref.repository, ref.digest, BUNDLE_TYPE)
    if len(listed) > MAX_LISTED:
        raise RegistryError(
            f"{ref.name}: {len(listed)} referrers of the bundle type listed, over the limit of "
            f"{MAX_LISTED}: refused (prune old ones)"
        )
    layers = []
    for entry in listed:
        artifact = registry.manifest(ref.repository, entry["digest"]).json()
        layer = _bundle_layer(artifact, ref.digest)
        if layer is not None:  # else another image's artifact, or not a bundle: not evidence
            layers.append((entry["digest"], layer))
    over_limit(ref.name, len(layers))
    _budget(ref.name, layers)
    found = tuple(
        (referrer, registry.blob(ref.repository, layer["digest"], layer["size"]))
        for referrer, layer in layers
    )
    return Image(ref, manifest, found)


def over_limit(name: str, count: int, planned: int = 0) -> None:
    """RegistryError when an image's bundle referrers (and `planned` more, a release's) are
    more than MAX_REFERRERS: the gate reads no more, and cuts none."""
    if count + planned <= MAX_REFERRERS:
        return
    more = f" and {planned} the release would push" if planned else ""
    raise RegistryError(
        f"{name}: {count} bundle referrers of this image{more}, over the limit of "
        f"{MAX_REFERRERS} the gate reads: refused (prune old ones)"
    )


def collect(
    reference: str | ImageRef,
    *,
    plain_http: bool = False,
    transport: requests.Session | None = None,
    timeout: float = TIMEOUT,
    cache: Cache | None = None,
    deadline: Deadline | None = None,
    public: bool = False,
) -> tuple[str, list[bytes]]:
    """The image's manifest digest (`sha256:<hex>`, a tag resolved) and the bytes of every
    Sigstore bundle among its referrers, to be judged by the gate."""
    image = gather(
        reference,
        plain_http=plain_http,
        transport=transport,
        timeout=timeout,
        cache=cache,
        deadline=deadline,
        public=public,
    )
    assert image.ref.digest is not None
    return image.ref.digest, [raw for _, raw in image.bundles]
