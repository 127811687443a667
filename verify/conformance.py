"""`attest verify-bundle`: the Sigstore conformance suite's client protocol, flag for flag, so
that any conformance harness can drive the gate. It is backed by the gate's own verification
(sigstore's verification with the gate's exact identity and issuer match as its policy, and
for DSSE bundles the in-toto Statement v1 subject match), not by sigstore's policy objects.

Managed-key verification (`--key`) is refused: the gate trusts keyless identities only."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

from sigstore.models import Bundle

from verify import bundle_form, logs
from verify.certificate import Signer, signer
from verify.digests import ArtifactError, sha256_file
from verify.errors import PolicyRefusal, without_input
from verify.evidence import MAX_BUNDLE
from verify.files import NotRegular, TooLarge, read_limited
from verify.formats.statement import PAYLOAD_TYPE, STATEMENT_TYPE
from verify.identity import IdentityPolicy, NotAllowed
from verify.policy import Extensions, IdentityRule
from verify.sigstore_adapter import RootMismatch, TimedVerifier, dsse_payload, hashed_digest
from verify.text import excerpt
from verify.trust import load_trust, timed_verifier

_log = logs.get(__name__)

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def target_digest(target: str) -> str:
    """The sha256 of FILE_OR_DIGEST: a file on disk, `-` (standard input, hashed as it streams:
    an artifact has no size limit, here or in the gate), else `sha256:<hex>`."""
    if target == "-":
        digest = hashlib.sha256()
        for block in iter(lambda: sys.stdin.buffer.read(1 << 20), b""):
            digest.update(block)
        return digest.hexdigest()
    path = Path(target)
    if path.is_file():
        return sha256_file(path)
    match = _DIGEST.fullmatch(target)
    if match is None:
        raise ArtifactError(f"{target}: neither a file nor sha256:<64 hex digits>")
    return match.group(1)


def _subjects(payload: bytes) -> set[str]:
    """The statement's subject digests. Only the envelope is judged here: the protocol verifies
    a signature over a statement; the gate judges predicates by policy (`attest verify`)."""
    try:
        data = json.loads(payload)
        if data.get("_type") != STATEMENT_TYPE:
            raise PolicyRefusal(f"unknown statement type {excerpt(data.get('_type'))}")
        return {s["digest"]["sha256"] for s in data["subject"] if "sha256" in s["digest"]}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PolicyRefusal(f"the statement cannot be read ({type(e).__name__})") from e


def _verify_dsse(verifier: TimedVerifier, bundle: Bundle, digest: str, who: IdentityPolicy) -> None:
    payload_type, payload = verifier.verify_dsse(bundle, who)
    if payload_type != PAYLOAD_TYPE:
        raise PolicyRefusal(f"unknown DSSE payload type {excerpt(payload_type)}")
    if digest not in _subjects(payload):
        raise PolicyRefusal(f"no subject of the statement has sha256 {digest}")


def _verified_signer(
    verifier: TimedVerifier, bundle: Bundle, digest: str, who: IdentityPolicy
) -> Signer:
    """The signer, once the bundle verified for `digest` with `who` judging its certificate."""
    try:
        if dsse_payload(bundle) is not None:
            _verify_dsse(verifier, bundle, digest, who)
        else:
            verifier.verify_artifact(hashed_digest(digest), bundle, who)
    except (PolicyRefusal, NotAllowed, RootMismatch) as e:
        raise PolicyRefusal(str(e)) from e
    except Exception as e:  # every sigstore refusal, and crashes on hostile input, deny
        raise PolicyRefusal(f"the bundle does not verify: {without_input(e, 300)}") from e
    return signer(bundle.signing_certificate)


@logs.timed(_log, "verify-bundle")
def verify_bundle(
    bundle_path: Path,
    target: str,
    identity: str,
    issuer: str,
    trusted_root: Path | None = None,
) -> Signer:
    """The signer of a bundle that verifies for `target` as `identity` from `issuer` (both
    exact), against `trusted_root` or the embedded production root; PolicyRefusal otherwise."""
    trust = load_trust("production", trusted_root)
    digest = target_digest(target)
    try:
        raw = read_limited(bundle_path, MAX_BUNDLE, "a bundle")
        bundle = bundle_form.parse(raw)
    except NotRegular as e:
        raise ArtifactError(str(e)) from e
    except TooLarge as e:
        raise PolicyRefusal(f"refused bundle: {e}") from e
    except OSError as e:
        raise ArtifactError(f"{bundle_path}: cannot read the bundle: {e.strerror}") from e
    except Exception as e:
        raise PolicyRefusal(f"unparsable bundle: {without_input(e, 300)}") from e
    rule = IdentityRule(issuer, identity, None, Extensions(), identity)
    return _verified_signer(timed_verifier(trust.root), bundle, digest, IdentityPolicy([rule]))
