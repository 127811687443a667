"""The memory one image's evidence may take (verify/oci/evidence.py): a bundle from a registry
is at most 16 MiB and an image's bundles at most 64 MiB in all, checked on the sizes the
referrers declare before any bundle is fetched, and each bundle read under its declared size.
Through the client's transport (canned answers, no socket)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.verify.oci.test_client_transport import (
    BUNDLE,
    HOST,
    IMAGE,
    Answer,
    Canned,
    transport,
)
from verify.files import MIB
from verify.oci import evidence
from verify.oci.client import (
    BUNDLE_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryError,
    descriptor,
    sha256,
)


def _registry(sizes: list[int], served: bytes = BUNDLE) -> tuple[requests.Session, Canned]:
    """A registry whose image has one bundle referrer per declared size (each layer names
    `served`'s digest with that size): (the session, its adapter)."""
    artifacts = {}
    for size in sizes:
        layer = {**descriptor(BUNDLE_TYPE, served), "size": size}
        artifact = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": BUNDLE_TYPE,
                "config": descriptor("application/vnd.oci.empty.v1+json", b"{}"),
                "layers": [layer],
                "subject": descriptor(OCI_MANIFEST, IMAGE),
            }
        ).encode()
        artifacts[sha256(artifact)] = artifact
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {**descriptor(OCI_MANIFEST, a), "artifactType": BUNDLE_TYPE}
                for a in artifacts.values()
            ],
        }
    ).encode()

    def answer(method: str, url: str) -> Answer:
        path = url.split(HOST, 1)[1].split("?")[0]
        digest = path.rsplit("/", 1)[1]
        if "/referrers/" in path:
            return 200, {"Content-Type": OCI_INDEX}, index
        if digest == sha256(IMAGE):
            return 200, {"Content-Type": OCI_MANIFEST}, IMAGE
        if digest in artifacts:
            return 200, {"Content-Type": OCI_MANIFEST}, artifacts[digest]
        if digest == sha256(served):
            return 200, {}, served
        return 404, {}, b""

    return transport(answer)


def _gather(sizes: list[int], served: bytes = BUNDLE) -> list[str]:
    session, adapter = _registry(sizes, served)
    evidence.gather(f"oci://{HOST}/app@{sha256(IMAGE)}", transport=session)
    return list(adapter.asked)


def test_a_bundle_declared_over_16_mib_is_refused_before_any_is_fetched() -> None:
    session, adapter = _registry([len(BUNDLE), 16 * MIB + 1])
    with pytest.raises(RegistryError, match=r"of 16777217 bytes, over the 16 MiB limit for one"):
        evidence.gather(f"oci://{HOST}/app@{sha256(IMAGE)}", transport=session)
    assert not [a for a in adapter.asked if "/blobs/" in a]


def test_bundles_over_64_mib_in_all_are_refused_before_any_is_fetched() -> None:
    session, adapter = _registry([15 * MIB + i for i in range(5)])
    with pytest.raises(RegistryError, match=r"in all, over the 64 MiB limit for one image"):
        evidence.gather(f"oci://{HOST}/app@{sha256(IMAGE)}", transport=session)
    assert not [a for a in adapter.asked if "/blobs/" in a]


def test_a_bundle_larger_than_its_descriptor_says_is_refused_while_read() -> None:
    with pytest.raises(RegistryError, match=r"over the .* MiB limit: refused"):
        _gather([10], served=b"x" * 4096)


def test_bundles_within_the_budget_are_read() -> None:
    asked = _gather([len(BUNDLE)])
    assert sum("/blobs/" in a for a in asked) == 1
