"""URLs as attest records or prints them: without what may carry a credential (userinfo, query,
path parameters, unknown fragment keys), for SBOMs, provenance and scan reports alike."""

from __future__ import annotations

import urllib.parse

# The fragment keys pip defines (the name, a subdirectory, a hash): the rest may be anything.
_FRAGMENT_KEYS = frozenset(
    {"egg", "subdirectory", "md5", "sha1", "sha224", "sha256", "sha384", "sha512"}
)


def without_credentials(url: str) -> str:
    """The URL without what may carry a credential: the user and password, `;` path
    parameters, the whole query (signed URLs carry theirs there: X-Amz-Signature, token=, sig=),
    every fragment key pip does not define, and a `data:` URL's content. Lock files and
    requirements may hold such URLs, and the SBOM is published."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() == "data":  # the whole content is in the URL: nothing to point at
        return "data:"
    host = parts.netloc.rpartition("@")[2]
    path = parts.path.partition(";")[0]  # `;token=…` path parameters
    kept = [
        item
        for item in parts.fragment.split("&")
        if item.partition("=")[0].strip().lower() in _FRAGMENT_KEYS
    ]
    public = parts._replace(netloc=host, path=path, query="", fragment="&".join(kept))
    if public == parts:
        return url  # as written: urlunsplit would drop an empty `?` or `#`
    return urllib.parse.urlunsplit(public)


def redacted(text: str, url: str) -> str:
    """`text` (an error's message, say) with `url` as `without_credentials` gives it, and its
    userinfo, query and path parameters cut out where the text quotes them apart: an HTTP
    library's message may quote the request's path and query."""
    parts = urllib.parse.urlsplit(url)
    text = text.replace(url, without_credentials(url))
    userinfo = parts.netloc.rpartition("@")[0]
    params = parts.path.partition(";")[2]
    for secret in (userinfo and userinfo + "@", parts.query and "?" + parts.query, params):
        if secret:
            text = text.replace(secret, "")
    return text
