"""The format checks used for schema validation follow RFC 3987, RFC 3986 and RFC 3339."""

from __future__ import annotations

import pytest

from attest.sbom.iri import is_date_time, is_iri_reference, is_uri


@pytest.mark.parametrize(
    "text",
    [
        "https://pypi.org/project/attest-pipeline/",
        "pkg:pypi/requests@2.32.3?vcs_url=git%2Bhttps://x",
        "https://user:pa%20ss@example.org:8443/a/b?q=1&r=%C3%A9#frag",
        "https://例え.jp/パス?クエリ#断片",
        "http://[::1]:8080/",
        "http://[v1.fe80::a+en1]/",
        "mailto:security@example.org",
        "urn:uuid:6f1c4a52-8a1e-5c3e-9d38-61a7e3f1a9c1",
        "../relative/path?x",
        "#only-fragment",
        "",
        "//host/only",
    ],
)
def test_valid_iri_references(text: str) -> None:
    assert is_iri_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "https://exa mple.org/",  # space
        "https://example.org/%zz",  # bad percent-encoding
        "https://example.org/<script>",
        "http://[::g]/",  # not an IPv6 address
        "1http://example.org",  # a scheme starts with a letter; as a path, ':' in segment one
        "a:b:c/../d" + "\x7f",
        "https://example.org/#frag#again",
        'https://example.org/"quoted"',
    ],
)
def test_invalid_iri_references(text: str) -> None:
    assert not is_iri_reference(text)


def test_uri_is_absolute_and_ascii() -> None:
    assert is_uri("https://example.org/a?b#c")
    assert not is_uri("/relative")
    assert not is_uri("https://例え.jp/")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2026-11-23T00:00:00Z", True),
        ("2026-11-23T23:59:60.123+01:00", True),
        ("2024-02-29T12:00:00-05:30", True),
        ("2026-02-29T12:00:00Z", False),
        ("2026-11-23 00:00:00Z", False),
        ("2026-11-23T24:00:00Z", False),
        ("2026-11-23T00:00:00", False),
        ("2026-11-23T00:00:00+25:00", False),
    ],
)
def test_date_time(text: str, ok: bool) -> None:
    assert is_date_time(text) is ok
