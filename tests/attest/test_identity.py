"""The signer `attest release` judges before it signs, predicted from the token's claims, is
the signer the gate reads from the certificate the CA then issues for those claims."""

from __future__ import annotations

import datetime
import string

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.identity import expected_signer
from attest.instance import ca, oidc
from tests.conftest import LocalInstance
from verify.certificate import signer

_NAME = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=16)
_KEY = ec.generate_private_key(ec.SECP256R1()).public_key()


@st.composite
def _claims(draw: st.DrawFn) -> dict[str, object]:
    if draw(st.booleans()):
        return {"sub": "x", "email": f"{draw(_NAME)}@{draw(_NAME)}.example"}
    return oidc.github_claims(
        f"{draw(_NAME)}/{draw(_NAME)}",
        ref=draw(st.sampled_from(["refs/heads/", "refs/tags/", "refs/pull/"])) + draw(_NAME),
        event=draw(st.sampled_from(["push", "pull_request_target", "workflow_dispatch", ""])),
        runner_environment=draw(st.sampled_from(["github-hosted", "self-hosted", ""])),
    )


@settings(max_examples=40, deadline=None)
@given(claims=_claims())
def test_the_signer_judged_before_signing_is_the_one_the_certificate_names(
    instance: LocalInstance, claims: dict[str, object]
) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    [leaf, *_] = ca.issue(instance.state, _KEY, claims, instance.issuer, now, now)
    assert expected_signer(claims, instance.issuer) == signer(leaf)
