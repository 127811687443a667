"""verify.oci.client against a real registry (distribution 2.8 on 127.0.0.1): pushes, manifests
by digest and tag, bundles attached as referrers and found through the referrers tag schema."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.registry import push_image, running
from verify.oci import evidence
from verify.oci.client import (
    BUNDLE_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    NotFound,
    Registry,
    RegistryError,
    descriptor,
    tag_schema,
)

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(tmp_path_factory.mktemp("registry")) as host:
        yield host


def test_a_tag_resolves_to_the_digest_of_the_manifest(registry: str) -> None:
    pushed = push_image(registry, "tags/app", "v1", b"one")
    digest, bundles = evidence.collect(f"oci://{registry}/tags/app:v1")
    assert digest == pushed.digest
    assert bundles == []


def test_a_bundle_attached_is_found_through_the_referrers_tag_schema(registry: str) -> None:
    image = push_image(registry, "attach/app", "v1", b"two")
    other = push_image(registry, "attach/app", "v2", b"three")
    client = Registry(registry)
    client.attach("attach/app", image, b'{"bundle": 1}')
    client.attach("attach/app", image, b'{"bundle": 2}')
    client.attach("attach/app", other, b'{"bundle": 3}')
    # distribution 2.8 has no referrers API: the index at the tag schema's tag lists them
    index = client.manifest("attach/app", tag_schema(image.digest)).json()
    assert [d["artifactType"] for d in index["manifests"]] == [BUNDLE_TYPE, BUNDLE_TYPE]
    digest, bundles = evidence.collect(f"oci://{registry}/attach/app@{image.digest}")
    assert digest == image.digest
    assert sorted(bundles) == [b'{"bundle": 1}', b'{"bundle": 2}']


def test_a_stranger_listed_in_the_tag_schema_index_is_not_evidence(registry: str) -> None:
    image = push_image(registry, "planted/app", "v1", b"four")
    other = push_image(registry, "planted/app", "v2", b"five")
    client = Registry(registry)
    client.attach("planted/app", other, b'{"bundle": "of the other image"}')
    theirs = client.manifest("planted/app", tag_schema(other.digest)).body
    client.push_manifest(  # whoever may push rewrites the image's tag-schema index to list it
        "planted/app", tag_schema(image.digest), theirs, json.loads(theirs)["mediaType"]
    )
    assert evidence.collect(f"oci://{registry}/planted/app@{image.digest}")[1] == []


def _listing(client: Registry, repository: str, image: Manifest, entry: bytes, n: int) -> None:
    """The image's tag-schema index rewritten (as whoever may push can) to list `entry` n times."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, entry, artifactType=BUNDLE_TYPE)] * n,
    }
    body = json.dumps(index).encode()
    client.push_manifest(repository, tag_schema(image.digest), body, OCI_INDEX)


def test_referrers_naming_another_image_do_not_spend_the_limit(registry: str) -> None:
    """The limit of 64 counts this image's bundles: entries a stranger lists that name another
    image cost a manifest fetch each, never the image's evidence."""
    image = push_image(registry, "spent/app", "v1", b"six")
    other = push_image(registry, "spent/app", "v2", b"seven")
    client = Registry(registry)
    theirs = client.attach("spent/app", other, b'{"bundle": "of the other image"}')
    _listing(client, "spent/app", image, client.manifest("spent/app", theirs).body, 70)
    assert evidence.collect(f"oci://{registry}/spent/app@{image.digest}")[1] == []


def test_a_listing_over_its_limit_is_refused_naming_it(registry: str) -> None:
    image = push_image(registry, "listed/app", "v1", b"eight")
    client = Registry(registry)
    theirs = client.manifest("listed/app", client.attach("listed/app", image, b"{}")).body
    _listing(client, "listed/app", image, theirs, evidence.MAX_LISTED + 1)
    with pytest.raises(RegistryError) as raised:
        evidence.collect(f"oci://{registry}/listed/app@{image.digest}")
    assert str(raised.value) == (
        f"{registry}/listed/app@{image.digest}: 1025 referrers of the bundle type listed, over "
        "the limit of 1024: refused (prune old ones)"
    )


def test_more_bundles_of_the_image_than_the_gate_reads_are_refused_never_cut() -> None:
    evidence.over_limit("r/app@sha256:ab", 64)
    with pytest.raises(RegistryError, match=r"^r/app@sha256:ab: 65 bundle referrers of this image, "
                       r"over the limit of 64 the gate reads: refused \(prune old ones\)$"):  # fmt: skip
        evidence.over_limit("r/app@sha256:ab", 65)
    with pytest.raises(RegistryError, match=r": 60 bundle referrers of this image and 5 the "):
        evidence.over_limit("r/app@sha256:ab", 60, planned=5)


def test_an_image_that_is_not_there_is_an_operational_error(registry: str) -> None:
    with pytest.raises(NotFound, match=r"manifest .* not found in the registry"):
        evidence.collect(f"oci://{registry}/missing/app:v1")
