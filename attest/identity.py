"""Which identity a Sigstore certificate names for an identity token's claims (Fulcio's rule
for the issuers attest meets): the CA of the local instance issues by it, and the sign stage
checks each new bundle against it."""

from __future__ import annotations

import base64
import json
from typing import Any

GITHUB = "https://github.com/"


def certificate_identity(claims: dict[str, Any]) -> str:
    """A GitHub Actions workflow's URI, else the email, else the subject."""
    if isinstance(claims.get("job_workflow_ref"), str):
        return f"{GITHUB}{claims['job_workflow_ref']}"
    if isinstance(claims.get("email"), str):
        return str(claims["email"])
    return str(claims.get("sub", ""))


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT without checking its signature (the CA checks it; this only reads
    what identity to expect). Errors never include the token."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as e:
        raise ValueError("not a JWT") from e
    if not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return claims
