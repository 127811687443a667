"""`attest verify`, the deploy gate, on a real release signed against the local instance: the
release is allowed; then every way it must be refused, each test asserting the reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from attest.sign.stage import hash_file
from tests import signed_release as g
from tests.conftest import PLUGIN_FAILURES, REPO, LocalInstance, run_attest
from verify.errors import ExitCode
from verify.formats.predicates import KINDS

Invoke = Callable[..., Result]


def _policy(tmp_path: Path, policy: dict[str, Any]) -> Path:
    return g.write_policy(tmp_path / "policy.yaml", policy)


def _verify(invoke: Invoke, policy: Path, *args: str | Path) -> Result:
    return invoke("verify", "--policy", str(policy), "--json", *[str(a) for a in args])


def _checks(result: Result, artifact: str) -> dict[str, dict[str, Any]]:
    """The checks of one artifact's decision, by name, from --json."""
    run = json.loads(result.stdout)
    [decision] = [d for d in run["decisions"] if d["artifact"]["name"] == artifact]
    return {c["check"]: c for c in decision["checks"]}


def _failures(result: Result, artifact: str = g.WHEEL) -> dict[str, list[str]]:
    return {n: c["failures"] for n, c in _checks(result, artifact).items() if c["failures"]}


def _denied(result: Result, check: str, reason: str, artifact: str = g.WHEEL) -> None:
    assert result.exit_code == ExitCode.DENIED, result.stderr
    failures = _failures(result, artifact)
    assert check in failures, failures
    assert any(reason in f for f in failures[check]), failures[check]
    assert f"DENY {Path(result.stderr.split('DENY ', 1)[1].split()[0])}" in result.stderr


# --- allowed ---------------------------------------------------------------------------------


def test_signed_release_is_allowed(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, g.strict_policy(instance))
    result = _verify(invoke, policy, release.wheel, release.sdist)
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["allowed"] is True
    assert [d["decision"] for d in run["decisions"]] == ["ALLOW", "ALLOW"]
    checks = _checks(result, g.WHEEL)
    assert list(checks) == [
        "trust root", "bundles verify", "signature", "signer identity", "provenance", "sbom",
        "vulnerability SLOs", "build link", "attestation age",
    ]  # fmt: skip
    assert [c["number"] for c in checks.values()] == list(range(1, 10))
    assert all(c["result"] == "PASS" for c in checks.values())
    assert run["decisions"][0]["signers"][0]["identity"] == g.WORKFLOW
    assert f"ALLOW {release.wheel}" in result.stderr and "9. PASS attestation age" in result.stderr
    assert "expected:" in result.stderr and "actual:" in result.stderr
    assert "warning: the policy allows the local development instance's trust root" in result.stderr
    assert "signature (attest-pipeline" in " ".join(run["check_plugins"])


def test_attestations_from_another_directory(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    for bundle in release.dist.glob("*.sigstore.json"):
        bundle.rename(bundles / bundle.name)
    policy = _policy(tmp_path, g.strict_policy(instance))
    assert _verify(invoke, policy, release.wheel).exit_code == ExitCode.DENIED
    result = _verify(invoke, policy, release.wheel, "--attestations", bundles)
    assert result.exit_code == 0, result.stderr


def test_explain_policy(invoke: Invoke, instance: LocalInstance, tmp_path: Path) -> None:
    policy = _policy(tmp_path, g.strict_policy(instance))
    result = invoke("verify", "--explain-policy", "--policy", str(policy))
    assert result.exit_code == 0, result.stderr
    assert "mode enforce" in result.stdout
    assert "(development root allowed)" in result.stdout
    assert "whole identity must match" in result.stdout
    assert "certificate runner environment in github-hosted" in result.stdout
    assert "check 7: vulnerability SLOs" in result.stdout
    assert "signers required: 1 distinct (issuer and identity)" in result.stdout
    assert "each allowed by one of the 1 rule(s)" in result.stdout


# --- refused: signatures and identities ------------------------------------------------------


def test_unsigned(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    (release.dist / f"{g.WHEEL}.sigstore.json").unlink()
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "signature", f"no verified signature bundle for {g.WHEEL}")
    assert "1 of the 1" not in result.stdout  # the identity check says 0 signed
    assert any(
        "0 distinct allowed signer(s), the policy needs 1" in f
        for f in _failures(result)["signer identity"]
    )


def test_tampered_artifact(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    release.wheel.write_bytes(b"the wheel, with a backdoor\n")
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", "signature does not verify for this artifact")
    _denied(result, "provenance", "no SLSA v1 provenance from an allowed signer covers it")
    _denied(result, "build link", "not a product of step 'build'")


def test_tampered_bundle(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    path = release.dist / f"{g.WHEEL}.sigstore.json"
    bundle = json.loads(path.read_text())
    signature = bytearray(base64.b64decode(bundle["messageSignature"]["signature"]))
    signature[-1] ^= 1
    bundle["messageSignature"]["signature"] = base64.b64encode(bytes(signature)).decode()
    path.write_text(json.dumps(bundle))
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", f"{g.WHEEL}.sigstore.json: signature does not verify")
    _denied(result, "signature", "no verified signature bundle")


def test_unparsable_bundle(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    (release.dist / "acme_web-1.4.0.slo.sigstore.json").write_text('{"mediaType": "nope"')
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    # its file name names no artifact and its content claims none: it cannot deny the wheel
    # (evidence is scoped), it is listed; and the wheel lacks the SLO status it replaced
    _denied(result, "vulnerability SLOs", "no SLO status attestation")
    assert "bundles verify" not in _failures(result)
    unjudged = {Path(u["path"]).name: u["why"] for u in json.loads(result.stdout)["unjudged"]}
    assert "unparsable bundle" in unjudged["acme_web-1.4.0.slo.sigstore.json"]
    assert unjudged[f"{g.SDIST}.sigstore.json"] == "a signature of no artifact judged here"
    # named for the artifact, the same bytes deny it
    (release.dist / f"{g.WHEEL}.sigstore.json").write_text('{"mediaType": "nope"')
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", f"{g.WHEEL}.sigstore.json: unparsable bundle")


def test_bundle_for_another_artifact(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    sdist_bundle = (release.dist / f"{g.SDIST}.sigstore.json").read_bytes()
    (release.dist / f"{g.WHEEL}.sigstore.json").write_bytes(sdist_bundle)
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", "signature does not verify for this artifact")
    _denied(result, "signature", "no verified signature bundle")


def _resign_wheel(instance: LocalInstance, release: g.Release, token: str) -> None:
    (release.dist / f"{g.WHEEL}.sigstore.json").unlink()
    g.sign_files(instance, token, release.wheel)


def test_wrong_identity(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    _resign_wheel(instance, release, g.github_token(instance, "evil/web"))
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", "identity 'https://github.com/evil/web/.github/workflows/")
    _denied(result, "bundles verify", "certificate source repository 'https://github.com/evil/web'")
    # the refused signature is no signer: identity is judged while the bundle is verified
    _denied(result, "signer identity", "0 distinct allowed signer(s), the policy needs 1")
    _denied(result, "bundles verify", "signature refused: signed by 'https://github.com/evil/web/")


def test_identity_matching_only_unanchored(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    # cosign / sigstore-js would accept this (the pattern occurs inside the identity)
    policy["identities"] = [
        {
            "issuer": instance.issuer,
            "subject_pattern": r"https://github\.com/acme/web/.+@refs/tags/v1",
        }
    ]
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "bundles verify", "(it matches only part of it; patterns are anchored)")


def test_exact_subject(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["identities"] = [{"issuer": instance.issuer, "subject": g.WORKFLOW}]
    assert _verify(invoke, _policy(tmp_path, policy), release.wheel).exit_code == 0
    policy["identities"] = [{"issuer": instance.issuer, "subject": g.WORKFLOW + "x"}]
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "bundles verify", f"identity {g.WORKFLOW!r} is not {g.WORKFLOW + 'x'!r}")


def test_wrong_issuer(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["identities"][0]["issuer"] = "https://token.actions.githubusercontent.com"
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(
        result,
        "bundles verify",
        f"issuer {instance.issuer!r} is not 'https://token.actions.githubusercontent.com'",
    )


def test_self_hosted_runner_denied(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    _resign_wheel(instance, release, g.github_token(instance, runner_environment="self-hosted"))
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", "certificate runner environment 'self-hosted' is not one of")


def test_trigger_and_source_ref_checked(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    _resign_wheel(instance, release, g.github_token(instance, event="pull_request_target"))
    policy = g.strict_policy(instance)
    policy["identities"][0]["extensions"]["source_ref_pattern"] = "refs/heads/main"
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "bundles verify", "certificate trigger 'pull_request_target' is not one of")
    _denied(result, "bundles verify", "certificate source ref 'refs/tags/v1.4.0' does not match")


def test_k_of_n(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    second = {"issuer": instance.issuer, "github": {"repository": "acme/release-approvals"}}
    policy["identities"].append(second)
    policy["k_of_n"] = 2
    path = _policy(tmp_path, policy)
    _denied(_verify(invoke, path, release.wheel), "signer identity",
            "1 distinct allowed signer(s), the policy needs 2")  # fmt: skip
    # a second signature, by the second identity, beside the first
    approvals = g.github_token(instance, "acme/release-approvals")
    signer = g.session(instance, approvals)
    hashed = hash_file(release.wheel)
    bundle = signer.sign_file(hashed, release.wheel)
    (release.dist / f"{g.WHEEL}.approval.sigstore.json").write_text(bundle.to_json())
    result = _verify(invoke, path, release.wheel)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["decisions"][0]["signers"]) == 2


def test_empty_identity_list_denies(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["identities"] = []
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "signer identity", "the policy names no identity: nothing can be allowed")


# --- refused: trust root ---------------------------------------------------------------------


def test_development_root_without_consent(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["trust"] = {"trusted_root": str(instance.trusted_root)}
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "trust root", "the trust root is the local development instance's")


def test_trust_root_too_old(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["max_trust_root_age"] = "1d"
    path = _policy(tmp_path, policy)
    assert _verify(invoke, path, release.wheel).exit_code == 0
    later = g.stamp(release.now + 2 * g.DAY)
    result = _verify(invoke, path, release.wheel, "--now", later)
    _denied(result, "trust root", "older than the policy's max_trust_root_age (1d)")
    _denied(result, "trust root", f"; replace the pinned trusted root {instance.trusted_root} with")


def test_public_root_refuses_local_bundles(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`trust: production` loads the root shipped in the sigstore package (no network), and
    the local instance's bundles do not verify against it."""
    policy = g.strict_policy(instance)
    policy["trust"] = "production"
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    assert _checks(result, g.WHEEL)["trust root"]["result"] == "PASS"
    _denied(result, "bundles verify", "signature does not verify for this artifact")


# --- refused: attestations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate_type", "reason"),
    [
        ("https://example.com/unknown-predicate/v1", "unknown predicate type"),
        (
            "https://slsa.dev/provenance/v0.2",
            "unknown predicate type 'https://slsa.dev/provenance/v0.2'",
        ),
    ],
)
def test_unknown_predicate_type_or_version(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    predicate_type: str,
    reason: str,
) -> None:
    signer = g.session(instance, g.github_token(instance))
    g.write_statement(signer, release.dist / "extra.sigstore.json", [release.wheel],
                      predicate_type, {"anything": True})  # fmt: skip
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", f"extra.sigstore.json: invalid attestation: {reason}")


def test_attestation_from_a_signer_not_allowed(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    evil = g.session(instance, g.github_token(instance, "evil/web"))
    slo = g.slo_predicate(release.now, [])
    path = release.dist / "acme_web-1.4.0.slo.sigstore.json"
    g.write_statement(evil, path, [release.wheel, release.sdist], KINDS["slo"], slo)
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "bundles verify", "acme_web-1.4.0.slo.sigstore.json: attestation refused: "
            "signed by 'https://github.com/evil/web/")  # fmt: skip
    _denied(result, "vulnerability SLOs", "no SLO status attestation from an allowed signer")


def test_missing_attestations(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    for kind in ("sbom", "slo", "provenance"):
        (release.dist / f"acme_web-1.4.0.{kind}.sigstore.json").unlink()
    (release.dist / "build.build.sigstore.json").unlink()
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel)
    _denied(result, "provenance", "no SLSA v1 provenance")
    _denied(result, "sbom", "no CycloneDX SBOM attestation")
    _denied(result, "vulnerability SLOs", "no SLO status attestation")
    _denied(result, "build link", "not a product of step 'build'")


def test_expired_attestation_age(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    later = g.stamp(release.now + 31 * g.DAY)
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel,
                     "--now", later)  # fmt: skip
    _denied(result, "attestation age", "the policy allows 30d")
    _denied(result, "vulnerability SLOs", "older than 7d")  # the scan is stale too


def test_slo_overdue_at_deploy_time(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Within its 30-day window when scanned; overdue when deployed 11 days later."""
    policy = g.strict_policy(instance)
    del policy["require"]["vulnerabilities"]["max_scan_age"]
    later = g.stamp(release.now + 11 * g.DAY)
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel, "--now", later)
    _denied(result, "vulnerability SLOs", "PYSEC-1 in requests 2.31.0 (high) was due")
    assert "fixed in 2.32.0" in " ".join(_failures(result)["vulnerability SLOs"])


def test_expired_waiver(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    later = g.stamp(release.now + 6 * g.DAY)
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel,
                     "--now", later)  # fmt: skip
    _denied(result, "vulnerability SLOs", "PYSEC-2 in requests 2.31.0 (critical) was due")
    _denied(result, "vulnerability SLOs", "its waiver expired")
    assert not any("PYSEC-1" in f for f in _failures(result)["vulnerability SLOs"])


def test_denied_package_and_license_in_sbom(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["require"]["sbom"] = {
        "denied_packages": ["left-pad"],
        "denied_licenses": ["GPL-3.0-only"],
    }
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "sbom", "denied package Left_Pad 1.0 (policy: left-pad)")
    _denied(result, "sbom", "Left_Pad 1.0 has denied license GPL-3.0-only")


def test_provenance_from_wrong_repository_ref_or_builder(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["require"]["provenance"] = {
        "source_repository": "https://github.com/acme/other",
        "ref_pattern": "refs/heads/main",
        "builder_id": "https://github.com/acme/other/.github/workflows/release.yml@refs/heads/main",
        "build_type": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
    }
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    _denied(result, "provenance", "source repository 'https://github.com/acme/web' is not")
    _denied(result, "provenance", "source ref 'refs/tags/v1.4.0' does not match 'refs/heads/main'")
    _denied(result, "provenance", f"builder id {g.WORKFLOW!r} is not")
    _denied(result, "provenance", "build type 'https://actions.github.io/buildtypes/workflow/v1'")


def test_not_a_product_of_the_build_link(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    signer = g.session(instance, g.github_token(instance))
    link = {"name": "build", "command": ["python", "-m", "build"], "materials": []}
    g.write_statement(signer, release.dist / "build.build.sigstore.json", [release.sdist],
                      KINDS["build"], link)  # fmt: skip
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)),
                     release.wheel, release.sdist)  # fmt: skip
    _denied(result, "build link", "not a product of step 'build' in any signed build link")
    assert "build link" not in _failures(result, g.SDIST)


# --- modes, errors, the decision log, no network ---------------------------------------------


def test_audit_mode_decides_logs_and_passes(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    (release.dist / f"{g.WHEEL}.sigstore.json").unlink()
    policy = {**g.strict_policy(instance), "mode": "audit"}
    log = tmp_path / "decisions.jsonl"
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel, "--decision-log", log)
    assert result.exit_code == 0, result.stderr
    assert "would deny" in result.stderr
    assert json.loads(result.stdout)["decisions"][0]["decision"] == "DENY"
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["decision"] == "DENY" and record["mode"] == "audit"


def test_decision_log_records(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    policy = _policy(tmp_path, g.strict_policy(instance))
    assert (
        _verify(invoke, policy, release.wheel, release.sdist, "--decision-log", log).exit_code == 0
    )
    release.wheel.write_bytes(b"tampered\n")
    assert _verify(invoke, policy, release.wheel, "--decision-log", log).exit_code == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["decision"] for r in records] == ["ALLOW", "ALLOW", "DENY"]
    first = records[0]
    assert first["artifact"]["name"] == g.WHEEL and len(first["artifact"]["sha256"]) == 64
    assert len(first["policy_sha256"]) == 64 and len(first["trust_root_sha256"]) == 64
    assert first["signers"] == [{"identity": g.WORKFLOW, "issuer": instance.issuer}]
    assert first["verifier"].startswith("attest-verify ")
    assert "sbom (attest-pipeline 0.1.0)" in first["check_plugins"]
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert records[1]["prev"] == records[0]["hash"]
    text = log.read_text()
    assert "eyJ" not in text and "BEGIN CERTIFICATE" not in text  # no token, no certificate
    done = invoke("verify-log", str(log))
    assert done.exit_code == 0 and "3 records, chain intact" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no --policy FILE: without a policy nothing is allowed"),
        (["--policy", "missing.yaml"], "missing.yaml: no such policy file"),
    ],
)
def test_no_policy_is_a_usage_error(
    invoke: Invoke, release: g.Release, args: list[str], message: str
) -> None:
    result = invoke("verify", *args, str(release.wheel))
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr and "ALLOW" not in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, "(top level): unknown key 'surprise' (unknown keys are errors)"),
        ({"version": 2}, "version: must be 1"),
        ({"mode": "lenient"}, "mode: must be 'enforce' or 'audit'"),
        (
            {"identities": [{"issuer": "x"}]},
            "give exactly one of subject, subject_pattern or github",
        ),
        (
            {"identities": [{"issuer": "x", "subject_pattern": "("}]},
            "is not a valid regular expression",
        ),
        ({"require": {"sbom": {"denied": ["x"]}}}, "(unknown keys are errors)"),
        ({"trust": "prod"}, "trust"),
        ({"trust": {"trusted_root": "nowhere.json"}}, "nowhere.json: no such trusted root file"),
        ({"max_trust_root_age": "a year"}, "max_trust_root_age: must match '^[0-9]+[dhm]$'"),
    ],
)
def test_invalid_policy_is_a_usage_error(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    change: dict[str, Any],
    message: str,
) -> None:
    policy = {**g.strict_policy(instance), **change}
    result = _verify(invoke, _policy(tmp_path, policy), release.wheel)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert message in result.stderr


def test_missing_artifact_is_a_usage_error(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), tmp_path / "nope.whl")
    assert result.exit_code == ExitCode.USAGE
    assert "nope.whl: no such artifact" in result.stderr


def test_operational_error_never_allows(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The decision log cannot be written: exit 3, and no ALLOW was printed before it."""
    policy = _policy(tmp_path, g.strict_policy(instance))
    result = _verify(invoke, policy, release.wheel, "--decision-log", tmp_path / "no" / "log")
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "cannot append to the decision log" in result.stderr
    assert "ALLOW" not in result.stderr and result.stdout == ""


SITECUSTOMIZE = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network disabled for this test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
"""


def test_no_network_needed(instance: LocalInstance, release: g.Release, tmp_path: Path) -> None:
    """The gate in a child process where every socket connection and name lookup fails."""
    site = tmp_path / "nonet"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    probe = run_attest("instance", "status", "--state", str(instance.state_dir), pythonpath=[site])
    # proof that the network really is unavailable there: the running instance looks stopped
    assert probe.returncode == 0 and " stopped " in probe.stdout, probe.stdout
    policy = _policy(tmp_path, g.strict_policy(instance))
    done = run_attest("verify", "--policy", str(policy), str(release.wheel), str(release.sdist),
                      pythonpath=[site], env={"HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("ALLOW") == 2
    assert not (tmp_path / ".cache").exists()  # nothing fetched, nothing cached


@pytest.mark.parametrize("name", ["strict", "github-release", "audit", "development"])
def test_example_policies_are_valid(invoke: Invoke, name: str) -> None:
    path = REPO / "examples" / "policies" / f"{name}.yaml"
    result = invoke("verify", "--explain-policy", "--policy", str(path))
    assert result.exit_code == 0, result.stderr
    assert "check 1: trust root" in result.stdout


CONFORMANCE = REPO.parent / "shared" / "data" / "sigstore-conformance" / "bundle-verify"
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ACTIONS = "https://token.actions.githubusercontent.com"


@pytest.fixture
def public_release(tmp_path: Path) -> Path:
    """A real public-Sigstore signature and a real GitHub SLSA provenance over the same file."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"{CONFORMANCE} is absent (the shared data is present in CI)")
    dist = tmp_path / "public"
    dist.mkdir()
    (dist / "a.txt").write_bytes((CONFORMANCE / "a.txt").read_bytes())
    for case, name in (("happy-path-v0.3", "a.txt.sigstore.json"),
                       ("happy-path-intoto-in-dsse-v3", "a.txt.provenance.sigstore.json")):  # fmt: skip
        (dist / name).write_bytes((CONFORMANCE / case / "bundle.sigstore.json").read_bytes())
    return dist / "a.txt"


def _public_policy(tmp_path: Path, beacon: dict[str, Any]) -> Path:
    return _policy(
        tmp_path,
        {
            "version": 1,
            "trust": "production",
            "identities": [
                {"issuer": ACTIONS, **beacon},
                {"issuer": ACTIONS, "github": {"repository": "loosebazooka/aa-test"}},
            ],
            "require": {
                "provenance": {
                    "source_repository": "https://github.com/loosebazooka/aa-test",
                    "build_type": "https://actions.github.io/buildtypes/workflow/v1",
                }
            },
        },
    )


def test_public_sigstore_bundles_offline(
    invoke: Invoke, public_release: Path, tmp_path: Path
) -> None:
    """`trust: production` verifies real public-good bundles with the embedded root."""
    result = _verify(invoke, _public_policy(tmp_path, {"subject": BEACON}), public_release)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["decisions"][0]["signers"][0]["identity"] == BEACON
    # the pattern cosign users write, which would also accept a fork's or a lookalike's workflow
    unanchored = {"subject_pattern": "https://github.com/sigstore-conformance/"}
    refused = _verify(invoke, _public_policy(tmp_path, unanchored), public_release)
    assert refused.exit_code == ExitCode.DENIED
    failures = _failures(refused, "a.txt")["bundles verify"]
    assert any("matches only part of it; patterns are anchored" in f for f in failures)


CHECK_PLUGIN = """
from verify.interface import Check, Outcome


class FrozenWindow(Check):
    name = "change freeze"
    order = 90

    def run(self, evidence, context):
        frozen = context.now.month == 12
        failures = ("deploys are frozen in December",) if frozen else ()
        return Outcome(self.name, "not December", context.now.strftime("%B"), failures)
"""


def _check_plugin(tmp_path: Path, name: str) -> Path:
    """A distribution registering one `verify.checks` plugin, importable from its directory."""
    site = tmp_path / f"site-{name}"
    info = site / "freeze_check-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "freeze_check.py").write_text(CHECK_PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: freeze-check\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[verify.checks]\n{name} = freeze_check:FrozenWindow\n")
    return site


def test_third_party_check_plugin(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = str(_policy(tmp_path, g.strict_policy(instance)))
    site = _check_plugin(tmp_path, "change-freeze")
    args = ["verify", "--policy", policy, str(release.wheel), "--json"]
    december = run_attest(*args, "--now", g.stamp(release.now.replace(month=12, day=24)),
                          pythonpath=[site])  # fmt: skip
    assert december.returncode == ExitCode.DENIED, december.stderr
    assert "10. FAIL change freeze" in december.stderr
    assert "deploys are frozen in December" in december.stderr
    assert "change-freeze (freeze-check 1.0)" in json.loads(december.stdout)["check_plugins"]
    shadow = run_attest(*args, pythonpath=[_check_plugin(tmp_path, "sbom")])
    assert shadow.returncode == ExitCode.USAGE
    assert "plugin name 'sbom' in group verify.checks is registered twice" in shadow.stderr


def test_a_gate_check_that_does_not_load_fails_the_gate_closed(
    instance: LocalInstance, release: g.Release, tmp_path: Path, plugin_dirs: dict[str, Path]
) -> None:
    """Every installed check runs or nothing is judged: a gate that skipped the check it could
    not load would allow with less than the installation promises. Before: exit 2, as if the
    command line were wrong."""
    policy = str(_policy(tmp_path, g.strict_policy(instance)))
    args = ["verify", "--policy", policy, str(release.wheel), "--json"]
    assert run_attest(*args).returncode == ExitCode.OK  # the same release, without the plugin
    broken = run_attest(*args, pythonpath=[plugin_dirs["attest-plugin-broken"]])
    assert broken.returncode == ExitCode.OPERATIONAL
    assert (
        "attest: error: gate check plugin 'broken-check' from attest-plugin-broken "
        "(attest_plugin_broken_missing:Check) failed to load: No module named "
        "'attest_plugin_broken_missing'; every installed check must run, so nothing is judged"
    ) in broken.stderr
    assert broken.stdout == ""
    assert "ALLOW" not in broken.stderr and "Traceback" not in broken.stderr
    explained = run_attest("verify", "--policy", policy, "--explain-policy",
                           pythonpath=[plugin_dirs["attest-plugin-broken"]])  # fmt: skip
    assert explained.returncode == ExitCode.OPERATIONAL
    assert "gate check plugin 'broken-check'" in explained.stderr


# What the gate says of tests/plugins/attest-plugin-exits's check failing at each stage of its life.
CHECK_FAILS = {
    "load": "gate check plugin 'exiting' from attest-plugin-exits (attest_plugin_exits:Exiting) "
    "failed to load: ",
    "init": "gate check 'exiting' failed to start: ",
    "applies": f"gate check 'exiting' failed judging '{g.WHEEL}': ",
    "run": f"gate check 'exiting' failed judging '{g.WHEEL}': ",
}


@pytest.mark.parametrize("when", CHECK_FAILS)
@pytest.mark.parametrize("how", PLUGIN_FAILURES)
def test_a_gate_check_failing_in_any_way_never_allows(
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    plugin_dirs: dict[str, Path],
    when: str,
    how: str,
) -> None:
    """Whichever way a check plugin fails, at import or while judging, the exit code is 3,
    never 0 or 1, and nothing is allowed. Before: `sys.exit()` at import ended `attest verify`
    with exit 0 and no output at all (`attest verify ... && deploy` deployed), `sys.exit(1)`
    with exit 1, a BaseException of the plugin's own with a raw traceback."""
    policy = str(_policy(tmp_path, g.strict_policy(instance)))
    args = ["verify", "--policy", policy, str(release.wheel)]
    path = [plugin_dirs["attest-plugin-exits"]]
    if (when, how) == ("load", "exception"):  # once: the plugin, not failing, passes
        passing = run_attest(*args, pythonpath=path)
        assert passing.returncode == ExitCode.OK, passing.stderr
        assert "PASS exiting" in passing.stderr
    failed = run_attest(*args, pythonpath=path, env={"ATTEST_PLUGIN_FAILS": f"{when}:{how}"})
    assert failed.returncode == ExitCode.OPERATIONAL, failed.stderr
    said = CHECK_FAILS[when] + PLUGIN_FAILURES[how]
    assert f"attest: error: {said}" in failed.stderr
    assert "ALLOW" not in failed.stdout + failed.stderr and "Traceback" not in failed.stderr
    if when == "applies":  # asked by --explain-policy too
        explained = run_attest("verify", "--policy", policy, "--explain-policy", pythonpath=path,
                               env={"ATTEST_PLUGIN_FAILS": f"{when}:{how}"})  # fmt: skip
        assert explained.returncode == ExitCode.OPERATIONAL, explained.stderr
        assert f"gate check 'exiting' failed explaining the policy: {PLUGIN_FAILURES[how]}" in (
            explained.stderr
        )


def test_evidence_newer_than_the_decision_time(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """--now before the log integrated the bundles: they did not exist then."""
    earlier = g.stamp(release.now - g.DAY)
    result = _verify(invoke, _policy(tmp_path, g.strict_policy(instance)), release.wheel,
                     "--now", earlier)  # fmt: skip
    _denied(result, "bundles verify", "after the judging instant")
    _denied(result, "bundles verify", "it does not exist for the gate")
    _denied(result, "signature", "no verified signature bundle")


def test_a_bundle_of_a_longer_named_artifact_is_not_a_refusal(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`tool` beside `tool.whl`: tool.whl.sigstore.json could be read as a co-signature of
    `tool`; it does not verify for it, so it does not count, and it does not deny."""
    short = release.dist / g.WHEEL.removesuffix(".whl")
    short.write_bytes(b"another artifact\n")
    g.sign_files(instance, g.github_token(instance), short)
    policy = {**g.strict_policy(instance), "require": {"signature": True}}
    result = _verify(invoke, _policy(tmp_path, policy), short)
    assert result.exit_code == 0, result.stderr
    assert _checks(result, short.name)["signature"]["actual"] == f"{short.name}.sigstore.json"


def test_decisions_with_the_same_signers_share_one_tuple() -> None:
    """A run holds one decision per artifact: equal signer lists are held once (issue 19), and
    unequal ones are never merged."""
    from verify.certificate import Signer
    from verify.gate import _Shared

    shared = _Shared()
    alice = Signer("alice@example.com", "https://issuer.example", {"source_repository": "a"})
    bob = Signer("bob@example.com", "https://issuer.example", {})
    first = shared.signers([alice, bob])
    again = shared.signers([Signer(alice.identity, alice.issuer, dict(alice.extensions)), bob])
    assert again is first
    assert [s["identity"] for s in first] == ["alice@example.com", "bob@example.com"]
    assert [s["identity"] for s in shared.signers([bob, alice])] == [
        "bob@example.com",
        "alice@example.com",
    ]
    assert shared.signers([bob]) == (bob.to_dict(),)
    assert shared.signers([]) == ()
