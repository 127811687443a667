"""`github.signer_workflow` (gh attestation verify --signer-workflow): a reusable workflow signs
for its caller. The certificate identity and Build Signer URI are the reusable workflow's, the
Build Config URI the caller's; the rule names both, and each must hold. Certificates issued by
the local instance from GitHub Actions claims (attest/identity.py github_extensions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from attest.instance import oidc
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.certificate import Signer
from verify.errors import ExitCode
from verify.identity import rule_failures
from verify.policy import parse_policy

Invoke = Callable[..., Result]
SHARED = "acme/shared/.github/workflows/build.yml"
SIGNER = f"https://github.com/{SHARED}@refs/tags/v1"


def _token(local: LocalInstance, caller: str = g.REPOSITORY, signer: str | None = SIGNER) -> str:
    """A token of `caller`'s release workflow, running the reusable workflow `signer`."""
    claims = oidc.github_claims(caller, ref=g.REF)
    if signer is not None:
        claims["job_workflow_ref"] = signer.removeprefix("https://github.com/")
    return oidc.mint(local.state.keys["issuer"], local.state.issuer_url, claims.pop("sub"), claims)


def _rule(local: LocalInstance, **github: str) -> dict[str, Any]:
    return {
        "issuer": local.issuer,
        "github": {
            "repository": g.REPOSITORY,
            "workflow": ".github/workflows/release.yml",
            "ref_pattern": r"refs/tags/v[0-9.]+",
            **github,
        },
    }


def _verify(invoke: Invoke, local: LocalInstance, tmp_path: Path, token: str, rule: Any) -> Result:
    artifact = tmp_path / g.WHEEL
    artifact.write_bytes(b"the wheel\n")
    g.sign_files(local, token, artifact)
    policy = {
        "version": 1,
        "trust": {"trusted_root": str(local.trusted_root), "allow_development_root": True},
        "identities": [rule],
    }
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", str(artifact))


def _failures(result: Result) -> str:
    [decision] = json.loads(result.stdout)["decisions"]
    return " ".join(f for check in decision["checks"] for f in check["failures"])


def test_a_reusable_workflow_signing_for_the_caller_named(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    rule = _rule(instance, signer_workflow=SHARED)
    result = _verify(invoke, instance, tmp_path, _token(instance), rule)
    assert result.exit_code == 0, result.stderr
    [signer] = json.loads(result.stdout)["decisions"][0]["signers"]
    assert signer["identity"] == SIGNER
    assert signer["extensions"]["build_signer_uri"] == SIGNER
    assert signer["extensions"]["build_config_uri"] == g.WORKFLOW


def test_without_signer_workflow_the_reusable_workflow_is_not_the_caller(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    result = _verify(invoke, instance, tmp_path, _token(instance), _rule(instance))
    assert result.exit_code == ExitCode.DENIED
    assert f"identity {SIGNER!r} does not match the pattern" in _failures(result)


def test_another_caller_of_the_reusable_workflow_is_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    rule = _rule(instance, signer_workflow=SHARED)
    result = _verify(invoke, instance, tmp_path, _token(instance, caller="evil/web"), rule)
    assert result.exit_code == ExitCode.DENIED
    caller = f"https://github.com/evil/web/.github/workflows/release.yml@{g.REF}"
    assert f"certificate build config URI (the calling workflow) {caller!r} does not match" in (
        _failures(result)
    )


def test_the_caller_signing_itself_is_not_the_reusable_workflow(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    rule = _rule(instance, signer_workflow=SHARED)
    result = _verify(invoke, instance, tmp_path, _token(instance, signer=None), rule)
    assert result.exit_code == ExitCode.DENIED
    assert f"identity {g.WORKFLOW!r} does not match the pattern" in _failures(result)
    assert "build signer URI (the workflow that signed)" in _failures(result)


@pytest.mark.parametrize(
    "signer_uri", [None, "https://github.com/acme/other/.github/workflows/x.yml@v1"]
)
def test_the_build_signer_extension_must_agree(signer_uri: str | None, tmp_path: Path) -> None:
    """The identity alone is not enough: the Build Signer URI extension is checked too."""
    policy = {"version": 1, "trust": "production", "identities": [
        {"issuer": "https://issuer", "github": {"repository": "acme/web", "signer_workflow": SHARED}}
    ]}  # fmt: skip
    [rule] = parse_policy(json.dumps(policy).encode(), "p", tmp_path).identities
    extensions = {"build_config_uri": g.WORKFLOW}
    if signer_uri is not None:
        extensions["build_signer_uri"] = signer_uri
    who = Signer(SIGNER, "https://issuer", extensions)
    assert rule_failures(rule, who) == [
        f"certificate build signer URI (the workflow that signed) {signer_uri!r} does not match "
        f"{rule.extensions.build_signer_pattern and rule.extensions.build_signer_pattern.pattern!r}"
    ]
    assert not rule_failures(
        rule, Signer(SIGNER, "https://issuer", {**extensions, "build_signer_uri": SIGNER})
    )
