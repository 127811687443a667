"""The image's own registry as the webhook's evidence source (the default of `attest webhook`):
a tag resolved to the manifest digest it names now, and the Sigstore bundles among the
manifest's referrers (verify/oci/evidence.py: the referrers API, else the referrers tag schema;
only referrers whose `subject` is this manifest). Any trouble with the registry (unreachable,
a timeout, an answer the client refuses, no such image) raises `RegistryError`, an
OperationalError: the image is refused naming why, never allowed.

A container image as Kubernetes names it has no scheme: `HOST[:PORT]/REPO`, or Docker Hub's
short forms (`nginx` is `docker.io/library/nginx`, served at registry-1.docker.io).

Whoever may create a Pod names the registry, so a review's reads are held in: every read obeys
the review's deadline (verify/oci/deadline.py); at most PER_HOST fetches from one registry run
at once in a process (`HostSlots`), so a slow registry cannot take every review thread; and,
unless the webhook lists its registries (`--registry HOST`, then only those are read, at any
address), reads go over https to public addresses only: never to the webhook's own loopback or
the cluster's network, and a failure is said as "registry HOST unreachable", whatever it was."""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import time
from collections.abc import Callable, Collection, Iterator

import requests

from verify.errors import OperationalError
from verify.oci import evidence
from verify.oci.cache import Cache
from verify.oci.client import Registry, RegistryError
from verify.oci.deadline import Deadline, session
from verify.oci.reference import SCHEME
from verify.oci.reference import ImageRef as OciRef
from verify.oci.reference import parse as parse_oci
from verify.webhook.judging import ImageRef

DOCKER_HUB = "registry-1.docker.io"  # where docker.io's images are served
PER_HOST = 8  # fetches from one registry at once in a process: half its review threads
SLOW = 2.0  # seconds after which a fetch in progress counts as slow


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


class Busy(OperationalError):
    """A registry already has PER_HOST slow fetches in progress: the image is refused now."""


class HostSlots:
    """At most `per_host` fetches from one registry host at once. At the limit, a fetch waits
    for a slot while those in progress are recent (a burst of reviews for one registry), and is
    refused at once when the oldest has run longer than `slow` (a registry that does not
    answer): the other review threads stay free for the other registries."""

    def __init__(
        self,
        per_host: int = PER_HOST,
        slow: float = SLOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_host, self.slow, self._clock = per_host, slow, clock
        self._running: dict[str, dict[object, float]] = {}
        self._ready = threading.Condition()

    @contextlib.contextmanager
    def slot(self, host: str, deadline: Deadline | None = None) -> Iterator[None]:
        token = object()
        with self._ready:
            while len(running := self._running.setdefault(host, {})) >= self.per_host:
                wait = self.slow - (self._clock() - min(running.values()))
                if wait <= 0:
                    raise Busy(
                        f"registry {host} is slow: {len(running)} fetches from it are in "
                        "progress in this replica; retry"
                    )
                if deadline is not None:
                    wait = min(wait, deadline.check(f"registry {host}: no slot free"))
                self._ready.wait(wait)
            running[token] = self._clock()
        try:
            yield
        finally:
            with self._ready:
                del running[token]
                if not running:
                    del self._running[host]
                self._ready.notify_all()


def _private_literal(host: str) -> bool:
    """Whether `host` names a loopback, private or link-local address outright."""
    name = OciRef(host, "x").hostname.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return False  # a name: the address it leads to is checked on connecting


class RegistrySource:
    """The evidence of an image from its registry; one keep-alive session per thread (the
    server judges each connection's reviews in a thread of its own), one cache for the process
    (content by digest, hosts without a referrers API: verify/oci/cache.py), and the bounds of
    the module's docstring: `registries`, the only hosts read (any address) when given."""

    def __init__(
        self,
        timeout: float = 5.0,
        cache: Cache | None = None,
        registries: Collection[str] = (),
        slots: HostSlots | None = None,
    ) -> None:
        self.timeout = timeout  # seconds to connect and between bytes; the deadline bounds all
        self.cache = cache or Cache()
        self.registries = frozenset(registries)
        self.slots = slots or HostSlots()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        made: requests.Session | None = getattr(self._local, "session", None)
        if made is None:
            made = self._local.session = session()
        return made

    def _public(self, host: str) -> bool:
        """Whether `host`'s reads are held to public addresses; RegistryError when it is not to
        be read at all."""
        if self.registries:
            if host not in self.registries:
                raise RegistryError(f"registry {host} is not one this webhook reads (--registry)")
            return False
        if _private_literal(host):
            raise RegistryError(
                f"registry {host} is a loopback, private or link-local address: not read (a "
                "registry of the cluster's own is named by the webhook's --registry)"
            )
        return True

    def resolve(self, ref: ImageRef, deadline: Deadline | None = None) -> str:
        oci = oci_reference(ref)
        public = self._public(oci.host)
        with self.slots.slot(oci.host, deadline):
            registry = Registry(
                oci.host,
                transport=self._session(),
                timeout=self.timeout,
                cache=self.cache,
                deadline=deadline,
                public=public,
            )
            return registry.manifest(oci.repository, str(oci.tag)).digest

    def bundles(self, ref: ImageRef, digest: str, deadline: Deadline | None = None) -> list[bytes]:
        oci = oci_reference(ref, digest)
        public = self._public(oci.host)
        with self.slots.slot(oci.host, deadline):
            _, found = evidence.collect(
                oci,
                transport=self._session(),
                timeout=self.timeout,
                cache=self.cache,
                deadline=deadline,
                public=public,
            )
        return found
