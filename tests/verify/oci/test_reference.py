"""Image references: by digest, by tag, and what is refused (with the form expected)."""

from __future__ import annotations

import pytest

from verify.errors import UsageError
from verify.oci.reference import ImageRef, parse

DIGEST = "sha256:" + "ab" * 32


def test_a_reference_by_digest_and_by_tag() -> None:
    assert parse(f"oci://127.0.0.1:5000/team/app@{DIGEST}") == ImageRef(
        "127.0.0.1:5000", "team/app", DIGEST
    )
    by_tag = parse("oci://registry.example/app:v1.2")
    assert (by_tag.repository, by_tag.tag, by_tag.loopback) == ("app", "v1.2", False)
    assert by_tag.pinned(DIGEST).name == f"registry.example/app@{DIGEST}"


@pytest.mark.parametrize(
    ("argument", "said"),
    [
        ("oci://127.0.0.1:5000/app", "no digest or tag"),
        ("oci://127.0.0.1:5000/app@sha256:AB", "the digest must be sha256:<64 lowercase hex>"),
        ("oci://127.0.0.1:5000/App:v1", "the repository must be lowercase"),
        ("oci://host\nname/app:v1", "not an image reference"),
    ],
)
def test_a_malformed_reference_is_refused_saying_what_is_expected(argument: str, said: str) -> None:
    with pytest.raises(UsageError, match=said.replace("(", r"\(")) as refused:
        parse(argument)
    assert "\n" not in str(refused.value)
