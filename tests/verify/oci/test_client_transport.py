"""verify.oci.client through its transport (a requests session whose adapter answers canned
responses, no socket): the referrers API on the OCI distribution spec 1.1's example response,
which no registry installable here serves, and hostile registry answers, each refused cleanly."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from verify.oci import evidence
from verify.oci.client import (
    BUNDLE_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    RegistryError,
    descriptor,
    sha256,
)

HOST = "127.0.0.1:5000"
Answer = tuple[int, Mapping[str, str], bytes]


class Canned(BaseAdapter):
    """Answers each request by `answer(method, url)`; records what was asked."""

    def __init__(self, answer: Callable[[str, str], Answer]) -> None:
        super().__init__()
        self.answer = answer
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None and request.method is not None
        self.asked.append(f"{request.method} {request.url}")
        status, headers, body = self.answer(request.method, request.url)
        response = requests.Response()
        response.status_code, response.url = status, request.url
        response.headers.update(headers)
        response.raw = io.BytesIO(body)
        response.request = request
        return response

    def close(self) -> None:
        pass


def transport(answer: Callable[[str, str], Answer]) -> tuple[requests.Session, Canned]:
    session, adapter = requests.Session(), Canned(answer)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


IMAGE = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
BUNDLE = b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'
ARTIFACT = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_TYPE,
        "config": descriptor("application/vnd.oci.empty.v1+json", b"{}"),
        "layers": [descriptor(BUNDLE_TYPE, BUNDLE)],
        "subject": descriptor(OCI_MANIFEST, IMAGE),
    }
).encode()


def spec_example_referrers() -> bytes:
    """The response of the spec's `Listing Referrers` example (two referrers of different
    artifact types, annotations included), with our bundle artifact as one of them."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "size": 1234,
                    "digest": "sha256:" + "a1" * 32,
                    "artifactType": "application/vnd.example.sbom.v1",
                    "annotations": {
                        "org.opencontainers.image.created": "2022-01-01T14:42:55Z",
                        "org.example.sbom.format": "json",
                    },
                },
                {**descriptor(OCI_MANIFEST, ARTIFACT), "artifactType": BUNDLE_TYPE},
            ],
        }
    ).encode()


def registry_with_referrers_api(method: str, url: str) -> Answer:
    blobs = {sha256(x): x for x in (IMAGE, ARTIFACT, BUNDLE)}
    path = url.split(HOST, 1)[1].split("?")[0]
    if path == f"/v2/app/referrers/{sha256(IMAGE)}":
        # the spec's example: the server did not filter (no OCI-Filters-Applied), so the client does
        return 200, {"Content-Type": OCI_INDEX}, spec_example_referrers()
    digest = path.rsplit("/", 1)[1]
    if digest in blobs:
        return 200, {"Content-Type": OCI_MANIFEST}, blobs[digest]
    return 404, {}, b""


def test_referrers_api_spec_example_through_the_transport() -> None:
    session, adapter = transport(registry_with_referrers_api)
    digest, bundles = evidence.collect(f"oci://{HOST}/app@{sha256(IMAGE)}", transport=session)
    assert (digest, bundles) == (sha256(IMAGE), [BUNDLE])
    asked = "\n".join(adapter.asked)
    assert f"/v2/app/referrers/{sha256(IMAGE)}?artifactType=application" in asked
    assert "sha256-" not in asked  # the API answered: no tag-schema fallback
    assert "a1a1" not in asked  # another artifact type is never fetched


def test_referrers_api_404_falls_back_to_the_tag_schema_through_the_transport() -> None:
    def answer(method: str, url: str) -> Answer:
        if "/referrers/" in url:
            return 404, {}, b""
        if url.endswith(f"/manifests/sha256-{sha256(IMAGE)[7:]}"):
            return 200, {"Content-Type": OCI_INDEX}, spec_example_referrers()
        return registry_with_referrers_api(method, url)

    session, _ = transport(answer)
    assert evidence.collect(f"oci://{HOST}/app@{sha256(IMAGE)}", transport=session)[1] == [BUNDLE]


def _hostile(status: int, headers: Mapping[str, str], body: bytes) -> requests.Session:
    return transport(lambda method, url: (status, headers, body))[0]


def test_an_oversized_manifest_is_refused_before_it_is_read() -> None:
    session = _hostile(200, {"Content-Length": str(5 << 20)}, b"")
    with pytest.raises(RegistryError, match="over the 4 MiB limit: refused"):
        Registry(HOST, transport=session).manifest("app", sha256(IMAGE))


def test_an_oversized_manifest_without_a_length_is_refused_after_the_limit() -> None:
    session = _hostile(200, {}, b" " * ((4 << 20) + 1))
    with pytest.raises(RegistryError, match="over the 4 MiB limit: refused"):
        Registry(HOST, transport=session).manifest("app", sha256(IMAGE))


def test_a_manifest_with_the_wrong_digest_is_refused() -> None:
    session = _hostile(200, {"Content-Type": OCI_MANIFEST}, IMAGE + b" ")
    with pytest.raises(RegistryError, match=f"served for {sha256(IMAGE)} has digest"):
        Registry(HOST, transport=session).manifest("app", sha256(IMAGE))


def test_a_tag_whose_stated_digest_differs_from_its_bytes_is_refused() -> None:
    session = _hostile(200, {"Docker-Content-Digest": "sha256:" + "0" * 64}, IMAGE)
    with pytest.raises(RegistryError, match="its bytes have sha256:"):
        Registry(HOST, transport=session).manifest("app", "latest")


@pytest.mark.parametrize(
    "target",
    ["http://10.0.0.1/v2/app/manifests/x", "https://evil.example/blob", "http://localhost:1/x"],
)
def test_a_redirect_away_from_a_loopback_registry_is_refused(target: str) -> None:
    session, adapter = transport(lambda method, url: (307, {"Location": target}, b""))
    with pytest.raises(RegistryError, match=r"redirected to .*: refused"):
        Registry(HOST, transport=session).blob("app", sha256(BUNDLE))
    assert len(adapter.asked) == 1  # the target was never asked


def test_a_registry_that_is_not_loopback_is_reached_over_https_only() -> None:
    assert Registry("registry.example").base == "https://registry.example"
    assert Registry("127.0.0.1:5000").base == "http://127.0.0.1:5000"
    assert Registry("registry.example", plain_http=True).base == "http://registry.example"


def test_an_anonymous_bearer_token_is_fetched_from_the_realm_of_the_challenge() -> None:
    realm = f"http://{HOST}/token"

    def answer(method: str, url: str) -> Answer:
        if url.startswith(realm):
            assert "scope=repository%3Aapp%3Apull" in url
            return 200, {}, b'{"token": "anonymous"}'
        return 401, {"WWW-Authenticate": f'Bearer realm="{realm}",scope="repository:app:pull"'}, b""

    session, adapter = transport(answer)
    with pytest.raises(RegistryError, match="HTTP 401"):  # the token is tried once, not forever
        Registry(HOST, transport=session).manifest("app", sha256(IMAGE))
    assert [a.split(" ")[0] for a in adapter.asked] == ["GET", "GET", "GET"]


def test_a_token_realm_on_another_host_is_refused_for_a_loopback_registry() -> None:
    challenge = {"WWW-Authenticate": 'Bearer realm="https://auth.example/token"'}
    session, adapter = transport(lambda method, url: (401, challenge, b""))
    with pytest.raises(RegistryError, match=r"token realm https://auth\.example/token: refused"):
        Registry(HOST, transport=session).manifest("app", sha256(IMAGE))
    assert len(adapter.asked) == 1
