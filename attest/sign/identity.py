"""Where the signing identity comes from: an explicit token, ATTEST_IDENTITY_TOKEN, the ambient
GitHub Actions credential, or sigstore's interactive flow on a terminal.

A token is a secret: it is never printed or logged, and no error message carries it.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys
import time
from functools import partial

import requests
from sigstore.errors import Error as SigstoreError
from sigstore.oidc import IdentityToken, Issuer, IssuerError

from attest import retry
from attest.identity import unverified_claims
from verify.errors import OperationalError, UsageError

ENV_TOKEN = "ATTEST_IDENTITY_TOKEN"  # noqa: S105 - a variable name, not a secret
_GITHUB_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
_GITHUB_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name
TIMEOUT = 30.0  # seconds per connect and per read, and for each attempt in all
RETRY = dataclasses.replace(retry.NETWORK, deadline=TIMEOUT)
_FAILURES = (requests.RequestException,)


def _parse(raw: str, where: str) -> IdentityToken:
    """The token as sigstore reads it, with the two usual problems named plainly first."""
    try:
        claims = unverified_claims(raw.strip())
    except ValueError as e:
        raise UsageError(f"the identity token from {where} is not a JWT") from e
    expires = claims.get("exp")
    if isinstance(expires, (int, float)) and expires < time.time():
        moment = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
        raise UsageError(
            f"the identity token from {where} expired at {moment:%Y-%m-%d %H:%M:%S} UTC; "
            "get a fresh one"
        )
    try:
        return IdentityToken(raw.strip())
    except SigstoreError as e:
        # sigstore's messages describe claims, never the token itself
        raise UsageError(f"the identity token from {where} is not usable: {e}") from e


def github_ambient_token() -> str | None:
    """The GitHub Actions OIDC token for audience `sigstore`, when the job may request one
    (`permissions: id-token: write` sets both variables)."""
    url, bearer = os.environ.get(_GITHUB_URL), os.environ.get(_GITHUB_TOKEN)
    if not url or not bearer:
        return None
    try:
        answer = retry.call(
            partial(_request_token, url, bearer), RETRY, (requests.RequestException,)
        )
    except retry.GaveUp as e:
        raise OperationalError(
            f"could not get an identity token from GitHub's OIDC endpoint ({_failure(e.error)}); "
            "does the job have `permissions: id-token: write`?"
        ) from None  # requests' error carries the request URL, not needed here
    value = answer.json().get("value") if _is_json(answer) else None
    if isinstance(value, str) and value:
        return value
    raise OperationalError("GitHub's OIDC token endpoint answered without a token")


def _request_token(url: str, bearer: str) -> requests.Response:
    answer = requests.get(
        url,
        params={"audience": "sigstore"},
        headers={"Authorization": f"bearer {bearer}"},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    return answer


def _failure(error: Exception) -> str:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code}"
    if isinstance(error, retry.Late):
        return str(error)
    return type(error).__name__


def _is_json(answer: requests.Response) -> bool:
    try:
        return isinstance(answer.json(), dict)
    except ValueError:
        return False


def _terminal() -> bool:
    return sys.stdin.isatty()


def _issuer(oidc_url: str) -> Issuer:
    """The identity provider for the browser sign-in; one without an authorization endpoint
    (the local instance's) offers none."""
    try:
        return Issuer(oidc_url)
    except IssuerError as e:
        if "authorization_endpoint" in str(e):
            raise UsageError(
                f"{oidc_url} offers no interactive sign-in: pass --identity-token or set "
                f"{ENV_TOKEN} (a local instance gives one: `attest instance token`)"
            ) from None
        raise OperationalError(f"interactive sign-in with {oidc_url} failed: {e}") from None


def resolve(explicit: str | None, oidc_url: str | None) -> IdentityToken:
    """The first identity source that has a token, in the documented order."""
    if explicit:
        return _parse(explicit, "--identity-token")
    if os.environ.get(ENV_TOKEN):
        return _parse(os.environ[ENV_TOKEN], ENV_TOKEN)
    ambient = github_ambient_token()
    if ambient:
        return _parse(ambient, "GitHub Actions")
    if oidc_url and _terminal():
        try:
            return _issuer(oidc_url).identity_token()
        except SigstoreError as e:
            raise OperationalError(f"interactive sign-in with {oidc_url} failed: {e}") from e
    raise UsageError(
        "no identity: pass --identity-token, set ATTEST_IDENTITY_TOKEN, run under GitHub "
        "Actions with `id-token: write`, or run on a terminal to sign in interactively"
    )
