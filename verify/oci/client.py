"""A small OCI distribution client (spec 1.1): manifests by digest or tag, blobs, the referrers
API with its fallback to the referrers tag schema, and the pushes `attest` makes.

What a registry answers is untrusted input: every body is read under a size limit (a manifest or
an index at most 4 MiB, as the distribution server itself takes), every manifest and blob fetched
by digest is checked against it, a redirect is followed only to the same registry (or, for a
blob, which is digest-checked, to https elsewhere, never from a loopback registry), at most 3
times, and a bearer token is fetched anonymously from the realm the registry names only under
the same rules. Plain http only for a loopback registry, or when the caller says `plain_http`;
never for `public` (a review's image: https to public addresses only, verify/oci/deadline.py).

Time: every read obeys the caller's `Deadline` (verify/oci/deadline.py) when it gives one: a
registry that drips its answer a byte at a time is cut off there, not after each byte's
timeout. A transport failure is said as "registry HOST unreachable", without its class: the
webhook's denials must not tell a closed port from a service that is not a registry."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests

from verify.errors import OperationalError
from verify.files import MIB
from verify.oci.cache import Cache
from verify.oci.deadline import Deadline, NotPublic, public_only, session
from verify.oci.reference import DIGEST, ImageRef
from verify.text import excerpt

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"

MAX_MANIFEST = 4 * MIB
# a bundle from a registry: Sigstore bundles are KBs, a DSSE attestation carrying a large SBOM
# inline a few MiB (verify.evidence.MAX_BUNDLE, for files an operator gives, is larger)
MAX_BLOB = 16 * MIB
MAX_REDIRECTS = 3
TIMEOUT = 10.0  # seconds to connect, and between bytes (a Deadline bounds the whole)


class RegistryError(OperationalError):
    """The registry could not be reached, or answered something the client refuses (too large,
    not what was asked for, a redirect elsewhere): never an allow; retry or fix the registry."""


class NotFound(RegistryError):
    """The registry says there is no such manifest or blob (404)."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclasses.dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise RegistryError(f"manifest {self.digest}: not JSON") from e

    def descriptor(self) -> dict[str, Any]:
        return descriptor(self.media_type, self.body)


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class Registry:
    """One registry, reached at `ref.host`; `transport` is the requests session (the tests give
    one that answers the spec's example responses); `cache` keeps what verify/oci/cache.py
    says may be kept (the webhook's, for the life of its process)."""

    def __init__(
        self,
        host: str,
        *,
        plain_http: bool = False,
        transport: requests.Session | None = None,
        timeout: float = TIMEOUT,
        cache: Cache | None = None,
        deadline: Deadline | None = None,
        public: bool = False,
    ) -> None:
        self.host = host
        self.cache = cache
        self.deadline = deadline
        self.public = public  # only public addresses, over https (a review's image)
        self.loopback = ImageRef(host, "x").loopback and not public
        self.scheme = "http" if (self.loopback or plain_http) and not public else "https"
        self.base = f"{self.scheme}://{host}"
        self.session = transport or session()
        self.session.trust_env = False  # no proxy or netrc from the environment
        self.timeout = timeout
        self._token: str | None = None

    # -- transport ---------------------------------------------------------------------------

    def _allowed(self, url: str, blob: bool) -> bool:
        """Whether a redirect (or a token realm) to `url` may be followed."""
        target = urllib.parse.urlsplit(url)
        if f"{target.scheme}://{target.netloc}" == self.base:
            return True
        return blob and target.scheme == "https" and not self.loopback

    def request(
        self,
        method: str,
        path: str,
        *,
        limit: int = MAX_MANIFEST,
        blob: bool = False,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request, authenticated anonymously when challenged, redirects checked, the body
        read under `limit` (into `response._content`)."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        with contextlib.ExitStack() as scope:
            if self.deadline is not None:
                scope.enter_context(self.deadline.reading())
            if self.public:
                scope.enter_context(public_only())
            return self._follow(method, url, limit, blob, headers, data, params)

    def _follow(
        self,
        method: str,
        url: str,
        limit: int,
        blob: bool,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        params: Mapping[str, str] | None,
    ) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, headers, data, params)
            if response.status_code == 401 and self._authenticate(response):
                response = self._send(method, url, headers, data, params)
            if response.status_code not in (301, 302, 303, 307, 308):
                self._read_body(response, limit, url)
                return response
            target = urllib.parse.urljoin(url, response.headers.get("Location", ""))
            response.close()
            if not self._allowed(target, blob):
                raise RegistryError(
                    f"{self.host}: redirected to {excerpt(target)}: refused (only the same "
                    "registry, or https elsewhere for a blob from a remote registry)"
                )
            url, params = target, None
        raise RegistryError(f"{self.host}: more than {MAX_REDIRECTS} redirects: refused")

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        params: Mapping[str, str] | None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if self._token:
            sent["Authorization"] = f"Bearer {self._token}"
        timeout = self.timeout
        if self.deadline is not None:
            timeout = min(timeout, self.deadline.check(f"registry {self.host}: no complete answer"))
        try:
            return self.session.request(
                method,
                url,
                headers=sent,
                data=data,
                params=params,
                stream=True,
                allow_redirects=False,
                timeout=timeout,
            )
        except requests.RequestException as e:
            self._after_deadline()
            raise RegistryError(f"registry {self.host} unreachable") from e
        except NotPublic as e:  # said as a closed port is: no map of the cluster's network
            raise RegistryError(f"registry {self.host} unreachable") from e

    def _after_deadline(self) -> None:
        """Expired when the deadline has passed: what failed was cut off by it."""
        if self.deadline is not None:
            self.deadline.check(f"registry {self.host}: no complete answer")

    def _authenticate(self, response: requests.Response) -> bool:
        """An anonymous bearer token from the realm the challenge names (distribution's token
        protocol), when the realm may be reached; False when there is nothing to try."""
        challenge = response.headers.get("WWW-Authenticate", "")
        response.close()
        if self._token is not None or not challenge.lower().startswith("bearer "):
            return False
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.pop("realm", "")
        if not self._allowed(realm, blob=not self.loopback):
            raise RegistryError(f"{self.host}: token realm {excerpt(realm)}: refused")
        answer = self._send("GET", realm, None, None, fields)
        self._read_body(answer, 64 * 1024, realm)
        try:
            token = answer.json().get("token") or answer.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if answer.status_code != 200 or not isinstance(token, str):
            raise RegistryError(f"{self.host}: no anonymous token (HTTP {answer.status_code})")
        self._token = token
        return True

    def _read_body(self, response: requests.Response, limit: int, url: str) -> None:
        """The body, read under `limit` (a Content-Length over it is refused before reading)
        and the deadline (checked between chunks; a read blocked at it is cut off, and a body
        cut off is Expired, never taken as whole)."""
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            response.close()
            raise RegistryError(_too_large(url, limit))
        body = bytearray()
        try:
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) > limit:
                    raise RegistryError(_too_large(url, limit))
                self._after_deadline()
        except requests.RequestException as e:
            self._after_deadline()
            raise RegistryError(f"registry {self.host} unreachable (while reading)") from e
        finally:
            response.close()
        self._after_deadline()
        response._content = bytes(body)

    # -- reading -----------------------------------------------------------------------------

    def manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = MANIFEST_TYPES
    ) -> Manifest:
        """The manifest at `reference` (a digest: its bytes must have it; a tag: its digest is
        that of the bytes, and a Docker-Content-Digest that says otherwise is refused)."""
        key = (self.host, repository, "manifest", reference)
        by_digest = DIGEST.fullmatch(reference) is not None
        kept: Manifest | None = self.cache.get(key) if self.cache and by_digest else None
        if kept is not None:
            return kept
        response = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": ", ".join(accept)}
        )
        _expect(response, 200, f"manifest {excerpt(reference)} of {repository}")
        digest = sha256(response.content)
        said = response.headers.get("Docker-Content-Digest")
        if by_digest and digest != reference:
            raise RegistryError(
                f"{self.host}/{repository}: the manifest served for {reference} has digest "
                f"{digest}: refused (the registry answered something else)"
            )
        if said is not None and said != digest:
            raise RegistryError(
                f"{self.host}/{repository}: manifest {excerpt(reference)}: the registry says "
                f"digest {excerpt(said)}, its bytes have {digest}: refused"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        found = Manifest(digest, media_type, response.content)
        if self.cache and by_digest:  # a tag's manifest is asked for afresh
            self.cache.put(key, found, len(found.body))
        return found

    def blob(self, repository: str, digest: str, limit: int = MAX_BLOB) -> bytes:
        key = (self.host, repository, "blob", digest)
        kept: bytes | None = self.cache.get(key) if self.cache else None
        if kept is not None and len(kept) <= limit:
            return kept
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", limit=limit, blob=True)
        _expect(response, 200, f"blob {digest} of {repository}")
        if sha256(response.content) != digest:
            raise RegistryError(f"{self.host}/{repository}: blob {digest}: wrong digest: refused")
        if self.cache:
            self.cache.put(key, response.content, len(response.content))
        return response.content

    def referrers(self, repository: str, digest: str, artifact_type: str) -> list[dict[str, Any]]:
        """The descriptors of the manifests whose subject is `digest` with `artifact_type`: from
        the referrers API, or, where the registry has none (404), from the index at the
        referrers tag schema's tag `sha256-<hex>` (none there: no referrers). Both are asked
        for afresh every time (by one request for the callers asking at once, sent after they
        all asked: cache.py); only a 404 from the API is remembered, briefly, for this
        repository alone: an API that answers is this repository's listing, whatever other
        repositories of the host say."""
        if self.cache is None:
            index = self._listing(repository, digest, artifact_type)
        else:
            key = ("referrers", self.base, self.public, repository, digest, artifact_type)
            read = functools.partial(self._listing, repository, digest, artifact_type)
            index = self.cache.listing(key, read, self.deadline)
        return [d for d in _manifests(index, digest) if d.get("artifactType") == artifact_type]

    def _listing(self, repository: str, digest: str, artifact_type: str) -> Any:
        """The referrers API's answer, or the tag-schema index where the repository has none
        (its own 404, now or remembered: never another repository's)."""
        if self.cache and self.cache.no_referrers_api(self.host, repository):
            return self._tag_schema_index(repository, digest)
        response = self.request(
            "GET",
            f"/v2/{repository}/referrers/{digest}",
            params={"artifactType": artifact_type},
            headers={"Accept": OCI_INDEX},
        )
        if response.status_code == 404:
            if self.cache:
                self.cache.saw_no_referrers_api(self.host, repository)
            return self._tag_schema_index(repository, digest)
        _expect(response, 200, f"referrers of {digest} in {repository}")
        return _json(response, f"referrers of {digest}")

    def _tag_schema_index(self, repository: str, digest: str) -> Any:
        try:
            return self.manifest(repository, tag_schema(digest), (OCI_INDEX,)).json()
        except NotFound:
            return {"manifests": []}

    # -- writing -----------------------------------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` (monolithic: POST then PUT), unless the registry has it already."""
        digest = sha256(data)
        if self.request("HEAD", f"/v2/{repository}/blobs/{digest}", blob=True).status_code == 200:
            return digest
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        _expect(started, 202, f"blob upload to {repository}")
        location = urllib.parse.urljoin(self.base + "/", started.headers.get("Location", ""))
        if not self._allowed(location, blob=False):
            raise RegistryError(f"{self.host}: upload location {excerpt(location)}: refused")
        separator = "&" if "?" in location else "?"
        done = self.request(
            "PUT",
            f"{location}{separator}digest={digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        _expect(done, 201, f"blob upload to {repository}")
        return digest

    def push_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> requests.Response:
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
        )
        _expect(response, 201, f"manifest push to {repository}")
        return response

    def attach(
        self, repository: str, subject: Manifest, payload: bytes, artifact_type: str = BUNDLE_TYPE
    ) -> str:
        """Push `payload` as an OCI artifact whose subject is `subject`: the referrers API finds
        it where the registry has one (it says so with OCI-Subject); else the referrers tag
        schema's index is updated to list it. The artifact manifest's digest."""
        self.push_blob(repository, EMPTY)
        self.push_blob(repository, payload)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor(EMPTY_TYPE, EMPTY),
            "layers": [descriptor(artifact_type, payload)],
            "subject": subject.descriptor(),
        }
        body = json.dumps(manifest, separators=(",", ":")).encode()
        digest = sha256(body)
        pushed = self.push_manifest(repository, digest, body, OCI_MANIFEST)
        if pushed.headers.get("OCI-Subject") != subject.digest:
            self._add_to_tag_schema(
                repository,
                subject.digest,
                descriptor(OCI_MANIFEST, body, artifactType=artifact_type),
            )
        return digest

    def _add_to_tag_schema(self, repository: str, subject: str, entry: dict[str, Any]) -> None:
        tag = tag_schema(subject)
        try:
            index = self.manifest(repository, tag, (OCI_INDEX,)).json()
        except NotFound:
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        listed = _manifests(index, subject)
        if all(d.get("digest") != entry["digest"] for d in listed):
            index["manifests"] = [*listed, entry]
        body = json.dumps(index, separators=(",", ":")).encode()
        self.push_manifest(repository, tag, body, OCI_INDEX)


def tag_schema(digest: str) -> str:
    """The referrers tag schema's tag for `digest`: `<alg>-<hex>`."""
    return digest.replace(":", "-", 1)


def _too_large(url: str, limit: int) -> str:
    path = urllib.parse.urlsplit(url).path
    return f"{excerpt(path)}: the answer is over the {limit / MIB:g} MiB limit: refused"


def _expect(response: requests.Response, status: int, what: str) -> None:
    if response.status_code == status:
        return
    if response.status_code == 404:
        raise NotFound(f"{what}: not found in the registry (HTTP 404)")
    raise RegistryError(f"{what}: HTTP {response.status_code} from the registry")


def _json(response: requests.Response, what: str) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as e:
        raise RegistryError(f"{what}: not JSON") from e


def _manifests(index: Any, what: str) -> list[dict[str, Any]]:
    """An image index's `manifests`, each a descriptor with a digest, or RegistryError."""
    listed = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(listed, list) or not all(
        isinstance(d, dict) and isinstance(d.get("digest"), str) for d in listed
    ):
        raise RegistryError(f"referrers of {what}: not an image index")
    return listed
