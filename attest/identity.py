"""Which identity a Sigstore certificate names for an identity token's claims (Fulcio's rule
for the issuers attest meets): the CA of the local instance issues by it, the sign stage
checks each new bundle against it, and `attest release` judges it by the gate's policy before
anything is signed."""

from __future__ import annotations

import base64
import json
from typing import Any

from verify.certificate import EXTENSIONS, Signer

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


def github_extensions(c: dict[str, Any]) -> dict[int, str]:
    """Fulcio's GitHub Actions extensions (OID 1.3.6.1.4.1.57264.1.N) from the token claims."""
    repo = c.get("repository", "")
    attempt = f"{c.get('run_id', '')}/attempts/{c.get('run_attempt', '')}"
    values = {
        9: f"{GITHUB}{c.get('job_workflow_ref', '')}",
        10: c.get("job_workflow_sha", ""),
        11: c.get("runner_environment", ""),
        12: f"{GITHUB}{repo}",
        13: c.get("sha", ""),
        14: c.get("ref", ""),
        15: c.get("repository_id", ""),
        16: f"{GITHUB}{c.get('repository_owner', '')}",
        17: c.get("repository_owner_id", ""),
        18: f"{GITHUB}{c.get('workflow_ref', '')}",
        19: c.get("workflow_sha", ""),
        20: c.get("event_name", ""),
        21: f"{GITHUB}{repo}/actions/runs/{attempt}",
        22: c.get("repository_visibility", ""),
    }
    return {n: str(v) for n, v in values.items() if v}


def expected_signer(claims: dict[str, Any], issuer: str) -> Signer:
    """The signer the certificate for these claims will name, as the gate reads a certificate:
    to judge a token by a policy before a certificate is requested."""
    found = github_extensions(claims) if "repository" in claims else {}
    extensions = {name: found[n] for name, n in EXTENSIONS.items() if n in found}
    return Signer(certificate_identity(claims), issuer, extensions)
