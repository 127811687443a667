"""The image's own registry as the webhook's evidence source (the default of `attest webhook`):
a tag resolved to the manifest digest it names now, and the Sigstore bundles among the
manifest's referrers (verify/oci/evidence.py: the referrers API, else the referrers tag schema;
only referrers whose `subject` is this manifest). Any trouble with the registry (unreachable,
a timeout, an answer the client refuses, no such image) raises `RegistryError`, an
OperationalError: the image is refused naming why, never allowed.

A container image as Kubernetes names it has no scheme: `HOST[:PORT]/REPO`, or Docker Hub's
short forms (`nginx` is `docker.io/library/nginx`, served at registry-1.docker.io)."""

from __future__ import annotations

import threading

import requests

from verify.oci import evidence
from verify.oci.cache import Cache
from verify.oci.client import Registry
from verify.oci.reference import SCHEME
from verify.oci.reference import ImageRef as OciRef
from verify.oci.reference import parse as parse_oci
from verify.webhook.judging import ImageRef

DOCKER_HUB = "registry-1.docker.io"  # where docker.io's images are served


def oci_reference(ref: ImageRef, digest: str | None = None) -> OciRef:
    """`ref` as the OCI client names it (by `digest` when given): the first path component is
    the registry when it looks like a host (a dot, a port, `localhost`), as container runtimes
    read it; else the image is Docker Hub's."""
    first, slash, rest = ref.name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, repository = first, rest
    else:
        host, repository = DOCKER_HUB, ref.name if slash else f"library/{ref.name}"
    at = f"@{digest}" if digest else f":{ref.tag or 'latest'}"
    return parse_oci(f"{SCHEME}{host}/{repository}{at}")  # UsageError: not a reference it takes


class RegistrySource:
    """The evidence of an image from its registry; one keep-alive session per thread (the
    server judges each connection's reviews in a thread of its own), and one cache for the
    process (content by digest, hosts without a referrers API: verify/oci/cache.py)."""

    def __init__(self, timeout: float = 5.0, cache: Cache | None = None) -> None:
        self.timeout = timeout  # seconds to connect and between bytes: under the review deadline
        self.cache = cache or Cache()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def resolve(self, ref: ImageRef) -> str:
        oci = oci_reference(ref)
        registry = Registry(
            oci.host, transport=self._session(), timeout=self.timeout, cache=self.cache
        )
        return registry.manifest(oci.repository, str(oci.tag)).digest

    def bundles(self, ref: ImageRef, digest: str) -> list[bytes]:
        oci = oci_reference(ref, digest)
        _, found = evidence.collect(
            oci, transport=self._session(), timeout=self.timeout, cache=self.cache
        )
        return found
