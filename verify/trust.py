"""Trust roots the gate verifies against: the public Sigstore roots that ship inside the
sigstore package (no network), or a pinned `trusted_root.json`. A root whose CA names the local
development instance is recognised here so that the gate can refuse it without consent."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sigstore.models import TrustedRoot

from verify.errors import ExitCode, VerifyError

# The CA organization of `attest instance`: a root naming it is for development only.
DEV_ORGANIZATION = "attest development instance (not for production)"
_EMBEDDED = {
    "production": "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev",
    "staging": "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev",
}


class TrustError(VerifyError):
    """The trust root cannot be read: a configuration problem (fix the policy or the file)."""

    exit_code = ExitCode.USAGE


@dataclasses.dataclass(frozen=True)
class Trust:
    """A loaded trust root: where it came from, its bytes' digest and what it says."""

    name: str  # "production", "staging" or the file path
    sha256: str
    root: TrustedRoot
    development: bool  # a CA of the local development instance is in it
    newest_start: datetime.datetime | None  # the latest validFor.start: when it last changed


def embedded_path(name: str) -> Path:
    """The trusted_root.json of public Sigstore that the sigstore wheel carries."""
    store = resources.files("sigstore").joinpath("_store").joinpath(_EMBEDDED[name])
    return Path(str(store.joinpath("trusted_root.json")))


def _starts(data: dict[str, Any]) -> list[datetime.datetime]:
    found = []
    for group, key in (
        ("certificateAuthorities", None),
        ("tlogs", "publicKey"),
        ("ctlogs", "publicKey"),
        ("timestampAuthorities", None),
    ):
        for item in data.get(group, []):
            holder = item.get(key, {}) if key else item
            start = holder.get("validFor", {}).get("start")
            if isinstance(start, str):
                found.append(datetime.datetime.fromisoformat(start.replace("Z", "+00:00")))
    return found


def _certificates(data: dict[str, Any]) -> list[x509.Certificate]:
    """Every certificate of the root's CAs and timestamp authorities (sigstore's models have
    already read them as DER: a certificate that does not parse makes the root unreadable)."""
    found = []
    for group in ("certificateAuthorities", "timestampAuthorities"):
        for authority in data.get(group, []):
            for item in authority.get("certChain", {}).get("certificates", []):
                found.append(x509.load_der_x509_certificate(base64.b64decode(item["rawBytes"])))
    return found


def _is_development(data: dict[str, Any]) -> bool:
    """Whether any certificate of the root, or any authority's label, names the development
    instance. The certificates decide: the label is free text that anyone can rename."""
    labelled = any(
        authority.get("subject", {}).get("organization") == DEV_ORGANIZATION
        for authority in data.get("certificateAuthorities", [])
    )
    return labelled or any(
        attribute.value == DEV_ORGANIZATION
        for cert in _certificates(data)
        for name in (cert.subject, cert.issuer)
        for attribute in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )


def load_trust(name: str, path: Path | None) -> Trust:
    """The root named `production` or `staging` (embedded), or the pinned file at `path`."""
    source = path if path is not None else embedded_path(name)
    try:
        raw = source.read_bytes()
        data = json.loads(raw)
        root = TrustedRoot.from_file(str(source))
        development = _is_development(data)
    except FileNotFoundError as e:
        raise TrustError(f"{source}: no such trusted root file") from e
    except (ValueError, OSError, KeyError, TypeError, AttributeError) as e:
        raise TrustError(f"{source}: not a readable Sigstore trusted root: {e}") from e
    starts = _starts(data)
    return Trust(
        name=str(path) if path is not None else name,
        sha256=hashlib.sha256(raw).hexdigest(),
        root=root,
        development=development,
        newest_start=max(starts) if starts else None,
    )
