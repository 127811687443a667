"""Image references as the gate and `attest sign` take them: `oci://HOST[:PORT]/REPO@sha256:HEX`
(by digest), `oci://HOST[:PORT]/REPO:TAG` (by tag, resolved to a digest before anything is
judged), and an OCI image layout directory (`DIR`, or `DIR@sha256:HEX` to pick one of its images).

Plain http is used only for a loopback registry (127.0.0.1, ::1, localhost): anything else is
https, so a registry's answers cannot be rewritten on the way (its manifests are checked against
their digests anyway, but a tag, its resolution and the referrers list are not)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from verify.errors import UsageError
from verify.text import excerpt

SCHEME = "oci://"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# distribution's grammar: path components of lowercase alphanumerics and separators
_REPO = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """An image in a registry: by digest, or by tag until resolved."""

    host: str  # HOST[:PORT] as given
    repository: str
    digest: str | None = None  # sha256:<hex>
    tag: str | None = None

    @property
    def hostname(self) -> str:
        return self.host.rsplit(":", 1)[0] if not self.host.endswith("]") else self.host

    @property
    def loopback(self) -> bool:
        return self.hostname in LOOPBACK

    def pinned(self, digest: str) -> ImageRef:
        return dataclasses.replace(self, digest=digest, tag=None)

    def __str__(self) -> str:
        at = f"@{self.digest}" if self.digest else f":{self.tag}"
        return f"{SCHEME}{self.host}/{self.repository}{at}"

    @property
    def name(self) -> str:
        """The image as the gate names it in a decision: `HOST/REPO@sha256:HEX` (by digest)."""
        return str(self).removeprefix(SCHEME)


def is_oci(argument: str) -> bool:
    return argument.startswith(SCHEME)


def parse(argument: str) -> ImageRef:
    """The `oci://` reference, or UsageError saying what form is expected."""
    rest = argument.removeprefix(SCHEME)
    expected = "expected oci://HOST[:PORT]/REPO@sha256:<64 hex> or oci://HOST[:PORT]/REPO:TAG"
    host, slash, path = rest.partition("/")
    if not slash or not _HOST.fullmatch(host):
        raise UsageError(f"{excerpt(argument)}: not an image reference: {expected}")
    digest = tag = None
    if "@" in path:
        path, _, digest = path.partition("@")
        if not DIGEST.fullmatch(digest):
            raise UsageError(f"{excerpt(argument)}: the digest must be sha256:<64 lowercase hex>")
    else:
        path, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
        if not colon or not _TAG.fullmatch(tag):
            raise UsageError(f"{excerpt(argument)}: no digest or tag: {expected}")
    if not _REPO.fullmatch(path) or len(path) > 255:
        raise UsageError(
            f"{excerpt(argument)}: the repository must be lowercase path components: {expected}"
        )
    return ImageRef(host, path, digest or None, tag or None)


def argument_text(path: Path) -> str:
    """A command-line argument as typed: click's Path folds `oci://` into `oci:/`."""
    text = str(path)
    return "oci://" + text.removeprefix("oci:/") if text.startswith("oci:/") else text
