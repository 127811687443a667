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
from hypothesis import given
from hypothesis import strategies as st

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


def _token(
    local: LocalInstance,
    caller: str = g.REPOSITORY,
    signer: str | None = SIGNER,
    workflow: str = ".github/workflows/release.yml",
) -> str:
    """A token of `caller`'s `workflow`, running the reusable workflow `signer`."""
    claims = oidc.github_claims(caller, ref=g.REF, workflow=workflow)
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
    extensions = {
        "build_config_uri": g.WORKFLOW,
        "source_repository": "https://github.com/acme/web",
    }
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


OURS = f"{g.REPOSITORY}/.github/workflows/release.yml@{g.REF}"


def test_another_repository_calling_our_workflow_is_not_our_workflow(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """evil/x's ci.yml calls our release.yml as a reusable workflow: the certificate identity is
    ours, but the Build Config URI and Source Repository URI say who ran it."""
    token = _token(instance, caller="evil/x", signer=OURS, workflow=".github/workflows/ci.yml")
    result = _verify(invoke, instance, tmp_path, token, _rule(instance))
    assert result.exit_code == ExitCode.DENIED, result.stdout
    failures = _failures(result)
    assert "certificate source repository 'https://github.com/evil/x' is not " in failures
    assert "'https://github.com/acme/web': the workflow ran in another repository" in failures
    caller = f"https://github.com/evil/x/.github/workflows/ci.yml@{g.REF}"
    assert f"build config URI (the calling workflow) {caller!r} is not its identity" in failures


def test_a_workflow_of_our_repository_calling_the_named_one_is_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """Without signer_workflow the workflow named ran itself; called by our ci.yml it did not."""
    token = _token(instance, signer=OURS, workflow=".github/workflows/ci.yml")
    result = _verify(invoke, instance, tmp_path, token, _rule(instance))
    assert result.exit_code == ExitCode.DENIED, result.stdout
    assert "another workflow called it as a reusable workflow" in _failures(result)
    assert "source repository" not in _failures(result)


def test_a_signer_workflow_run_by_another_repository_is_refused_by_its_source() -> None:
    """With signer_workflow the caller is named, and the source repository must be its too."""
    [rule] = _rules({"repository": "acme/web", "signer_workflow": SHARED})
    who = Signer(SIGNER, "https://issuer", {
        "build_signer_uri": SIGNER, "build_config_uri": g.WORKFLOW,
        "source_repository": "https://github.com/evil/web",
    })  # fmt: skip
    assert rule_failures(rule, who) == [
        "certificate source repository 'https://github.com/evil/web' is not "
        "'https://github.com/acme/web': the workflow ran in another repository"
    ]


@pytest.mark.parametrize("missing", ["source_repository", "build_config_uri"])
def test_a_certificate_without_the_workflow_extensions_satisfies_no_github_rule(
    missing: str,
) -> None:
    """Without them nothing shows where the workflow ran or who called it: refused, named."""
    [rule] = _rules({"repository": "acme/web"})
    extensions = {
        "source_repository": "https://github.com/acme/web",
        "build_config_uri": f"https://github.com/{OURS}",
    }
    del extensions[missing]
    [reason] = rule_failures(
        rule, Signer(f"https://github.com/{OURS}", "https://issuer", extensions)
    )
    oid = {"source_repository": 12, "build_config_uri": 18}[missing]
    assert (
        f"the certificate names no {missing.replace('_uri', ' URI').replace('_', ' ')} " in reason
    )
    assert f"(1.3.6.1.4.1.57264.1.{oid}), which a github rule requires" in reason


WORKFLOW_PATHS = st.sampled_from(
    ["acme/web/.github/workflows/release.yml", "acme/web/.github/workflows/ci.yml",
     "evil/x/.github/workflows/release.yml", "acme/shared/.github/workflows/build.yml"]
)  # fmt: skip


@given(
    identity=WORKFLOW_PATHS,
    config=st.none() | WORKFLOW_PATHS,
    source=st.none() | st.sampled_from(["acme/web", "evil/x", "acme/shared"]),
    ref=st.sampled_from([g.REF, "refs/heads/main"]),
)
def test_a_github_rule_allows_only_its_own_workflow_run_in_its_repository(
    identity: str, config: str | None, source: str | None, ref: str
) -> None:
    """For any certificate: a plain `github` rule allowing it implies the workflow ran itself
    (Build Config URI = identity) in the rule's repository."""
    [rule] = _rules({"repository": "acme/web", "workflow": ".github/workflows/release.yml"})
    uri = f"https://github.com/{identity}@{ref}"
    extensions = {}
    if config is not None:
        extensions["build_config_uri"] = f"https://github.com/{config}@{ref}"
    if source is not None:
        extensions["source_repository"] = f"https://github.com/{source}"
    if not rule_failures(rule, Signer(uri, "https://issuer", extensions)):
        assert extensions == {
            "build_config_uri": uri, "source_repository": "https://github.com/acme/web"
        }  # fmt: skip
        assert identity == "acme/web/.github/workflows/release.yml"


def _rules(github: dict[str, str]) -> Any:
    policy = {"version": 1, "trust": "production", "identities": [
        {"issuer": "https://issuer", "github": github}
    ]}  # fmt: skip
    return parse_policy(json.dumps(policy).encode(), "p", Path()).identities
