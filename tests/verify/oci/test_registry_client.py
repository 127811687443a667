"""verify.oci.client against a real registry (distribution 2.8 on 127.0.0.1): pushes, manifests
by digest and tag, bundles attached as referrers and found through the referrers tag schema."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.registry import push_image, running
from verify.oci import evidence
from verify.oci.client import BUNDLE_TYPE, NotFound, Registry, tag_schema

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


def test_an_image_that_is_not_there_is_an_operational_error(registry: str) -> None:
    with pytest.raises(NotFound, match=r"manifest .* not found in the registry"):
        evidence.collect(f"oci://{registry}/missing/app:v1")
