"""The instance's OIDC issuer: ES256 identity tokens, their verification, discovery and JWKS.

Tokens are minted by a local command (`attest instance token`), never over HTTP: whoever can
mint a token can get a certificate for any identity.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from attest.instance.state import key_id

AUDIENCE = "sigstore"
TOKEN_LIFETIME = datetime.timedelta(minutes=5)
LEEWAY = datetime.timedelta(seconds=5)


class TokenError(Exception):
    """A token the CA must refuse; the message says why (it never contains the token)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid(key: ec.EllipticCurvePublicKey) -> str:
    return key_id(key).hex()[:16]


def github_claims(
    repository: str,
    *,
    ref: str = "refs/heads/main",
    sha: str = "0" * 40,
    workflow: str = ".github/workflows/release.yml",
    event: str = "push",
    runner_environment: str = "github-hosted",
    run_id: str = "1",
    run_attempt: str = "1",
) -> dict[str, Any]:
    """The claims of a GitHub Actions OIDC token for a workflow run of `repository`."""
    owner = repository.split("/", 1)[0]
    workflow_ref = f"{repository}/{workflow}@{ref}"
    return {
        "sub": f"repo:{repository}:ref:{ref}",
        "repository": repository,
        "repository_owner": owner,
        "repository_id": "1",
        "repository_owner_id": "1",
        "repository_visibility": "public",
        "ref": ref,
        "sha": sha,
        "workflow": workflow.rsplit("/", 1)[-1],
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "event_name": event,
        "runner_environment": runner_environment,
        "run_id": run_id,
        "run_attempt": run_attempt,
    }


def mint(
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    subject: str,
    claims: dict[str, Any] | None = None,
    now: datetime.datetime | None = None,
    lifetime: datetime.timedelta = TOKEN_LIFETIME,
    audience: str = AUDIENCE,
) -> str:
    """An ES256-signed identity token; `claims` may add or override any claim."""
    issued = now or datetime.datetime.now(datetime.timezone.utc)
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": str(uuid.uuid4()),
        **(claims or {}),
    }
    header = {"alg": "ES256", "typ": "JWT", "kid": kid(key.public_key())}
    signing_input = (
        f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def verify(
    token: str, key: ec.EllipticCurvePublicKey, issuer: str, now: datetime.datetime
) -> dict[str, Any]:
    """The claims of `token` if it is signed by `key`, from `issuer`, for `sigstore`, and
    current; else TokenError."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64url(header_b64))
        claims: dict[str, Any] = json.loads(_unb64url(payload_b64))
        signature = _unb64url(signature_b64)
    except (ValueError, TypeError, RecursionError) as e:
        raise TokenError("malformed token") from e
    if not isinstance(claims, dict):
        raise TokenError("malformed token: its claims are not a JSON object")
    if not isinstance(header, dict) or header.get("alg") != "ES256" or len(signature) != 64:
        raise TokenError("token is not ES256-signed")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as e:
        raise TokenError("token signature does not verify against the issuer's key") from e
    if claims.get("iss") != issuer:
        raise TokenError(f"token issuer {claims.get('iss')!r} is not {issuer!r}")
    audience = claims.get("aud")
    if audience != AUDIENCE and not (isinstance(audience, list) and AUDIENCE in audience):
        raise TokenError(f"token audience {audience!r} is not {AUDIENCE!r}")
    stamp = now.timestamp()
    if not isinstance(claims.get("exp"), int) or claims["exp"] + LEEWAY.seconds <= stamp:
        raise TokenError("token has expired")
    if isinstance(claims.get("nbf"), int) and claims["nbf"] - LEEWAY.seconds > stamp:
        raise TokenError("token is not valid yet")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("token has no subject")
    return claims


def jwks(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    numbers = key.public_numbers()
    return {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "x": _b64url(numbers.x.to_bytes(32, "big")),
                "y": _b64url(numbers.y.to_bytes(32, "big")),
                "kid": kid(key),
                "use": "sig",
                "alg": "ES256",
            }
        ]
    }


def discovery(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/keys",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "email", "job_workflow_ref"],
    }
