"""The policy rules of issue 13 on a real release signed against the local instance: a policy
giving a key twice or demanding no evidence is refused before any verdict (exit 2, in audit
mode too); a catastrophic identity pattern gets its verdict from RE2; one decision over its time
limit is exit 3 naming the artifact; denied packages are PEP 440 specifiers and denied licenses
ignore case. The rules one by one: tests/verify/test_policy_rules.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from tests import signed_release as g
from tests.conftest import LocalInstance, run_attest
from verify import deadline, gate
from verify.errors import ExitCode
from verify.policy import load_policy

Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def signed(instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> g.Release:
    return g.make_release(instance, tmp_path_factory.mktemp("release") / "dist")


def _verify(invoke: Invoke, policy: Path, *args: str | Path) -> Result:
    return invoke("verify", "--policy", str(policy), "--json", *[str(a) for a in args])


def _failures(result: Result, check: str) -> list[str]:
    [decision] = json.loads(result.stdout)["decisions"]
    [found] = [c for c in decision["checks"] if c["check"] == check]
    failures: list[str] = found["failures"]
    return failures


def test_a_policy_giving_identities_twice_is_refused_before_any_verdict(
    invoke: Invoke, instance: LocalInstance, signed: g.Release, tmp_path: Path
) -> None:
    """Before: the second `identities:` replaced the first, unseen; here the second would let
    anyone the local issuer vouches for sign."""
    policy = g.strict_policy(instance)
    text = yaml.safe_dump(policy, sort_keys=False)
    anyone = [{"issuer": instance.issuer, "subject_pattern": ".*"}]
    path = tmp_path / "policy.yaml"
    path.write_text(text + yaml.safe_dump({"identities": anyone}))
    first = 1 + text.splitlines().index("identities:")
    second = 1 + len(text.splitlines())
    for args in ([signed.wheel], ["--explain-policy"]):
        result = _verify(invoke, path, *args)
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert (
            f"{path}: not valid YAML: the key 'identities' is given twice, on line {first} and "
            f"on line {second}"
        ) in result.stderr
        assert "ALLOW" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("mode", ["enforce", "audit"])
def test_a_policy_that_would_allow_anything_is_refused_in_every_mode(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path, mode: str
) -> None:
    """Before: an unsigned file with no evidence was allowed under `signature: false`."""
    unsigned = tmp_path / "unsigned.whl"
    unsigned.write_bytes(b"nobody signed this\n")
    policy = g.strict_policy(instance)
    policy.update(mode=mode, require={"signature": False, "max_attestation_age": "30d"})
    result = _verify(invoke, g.write_policy(tmp_path / "policy.yaml", policy), unsigned)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "this policy would allow anything" in result.stderr
    assert "ALLOW" not in result.stderr and result.stdout == ""


def test_a_catastrophic_identity_pattern_gets_a_verdict(
    instance: LocalInstance, tmp_path: Path
) -> None:
    """`(a+)+$` against a 40-letter identity: before, Python's `re` gave no verdict within
    15 s (the child process here would time out after 120 s); RE2 denies at once, and the
    partial-match hint is searched by RE2 too."""
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"the app\n")
    identity = "a" * 40 + "@example.com"
    g.sign_files(instance, instance.token(identity), artifact)
    policy = g.strict_policy(instance)
    policy["identities"] = [{"issuer": instance.issuer, "subject_pattern": "(a+)+$"}]
    policy["require"] = {"signature": True}
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    done = run_attest("verify", "--policy", str(path), "--json", str(artifact))
    assert done.returncode == ExitCode.DENIED, done.stderr
    [decision] = json.loads(done.stdout)["decisions"]
    failures = [f for c in decision["checks"] for f in c["failures"]]
    assert f"identity {identity!r} does not match the pattern '(a+)+$'" in " ".join(failures)
    policy["identities"][0]["subject_pattern"] = "a+@example.com"
    g.write_policy(path, policy)
    allowed = run_attest("verify", "--policy", str(path), str(artifact))
    assert allowed.returncode == 0, allowed.stderr


def test_a_decision_over_its_time_limit_is_exit_3_naming_the_artifact(
    instance: LocalInstance, signed: g.Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifying a real bundle takes milliseconds: a 1 ms limit cannot be met, by the reading
    of the evidence directories first. A decision made slow (here, sleeping) is stopped naming
    its artifact. No Run (so no verdict, no log record) comes back, only the operational
    error."""
    policy = load_policy(g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance)))
    with pytest.raises(deadline.DecisionTimeout) as caught:
        gate.decide([signed.wheel], policy, signed.now, decision_limit=0.001)
    assert caught.value.exit_code == ExitCode.OPERATIONAL
    assert "deciding on 'the evidence directories' took longer than 0.001 s" in str(caught.value)
    assert gate.decide([signed.wheel], policy, signed.now).allowed  # the default limit: met

    real = gate._decide

    def slow(*args: Any) -> gate.Decision:
        time.sleep(60)  # the limit's signal interrupts the sleep
        return real(*args)

    # 3 s: reading the evidence of a loaded machine once took over 1 s, and was named instead
    monkeypatch.setattr(gate, "_decide", slow)
    with pytest.raises(deadline.DecisionTimeout) as caught:
        gate.decide([signed.wheel], policy, signed.now, decision_limit=3.0)
    assert f"deciding on {g.WHEEL!r} took longer than 3 s" in str(caught.value)


def test_denied_packages_and_licenses_as_deployers_write_them(
    invoke: Invoke, instance: LocalInstance, signed: g.Release, tmp_path: Path
) -> None:
    """The signed SBOM holds requests 2.31.0 and Left_Pad 1.0 (MIT OR GPL-3.0-only). Before:
    `requests@2.31` did not deny 2.31.0, and `gpl-3.0-only` did not deny GPL-3.0-only."""
    policy: dict[str, Any] = g.strict_policy(instance)
    policy["require"]["sbom"] = {
        "denied_packages": ["requests@2.31", "left.pad<1.0.1", "left-pad>1", "urllib3"],
        "denied_licenses": ["gpl-3.0-only"],
    }
    result = _verify(invoke, g.write_policy(tmp_path / "policy.yaml", policy), signed.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    bundle = "acme_web-1.4.0.sbom.sigstore.json"
    assert _failures(result, "sbom") == [
        f"{bundle}: denied package requests 2.31.0 (policy: requests@2.31)",
        f"{bundle}: denied package Left_Pad 1.0 (policy: left.pad<1.0.1)",
        f"{bundle}: Left_Pad 1.0 has denied license GPL-3.0-only",
    ]


def test_a_bad_denied_package_specifier_is_a_usage_error(
    invoke: Invoke, instance: LocalInstance, signed: g.Release, tmp_path: Path
) -> None:
    policy: dict[str, Any] = g.strict_policy(instance)
    policy["require"]["sbom"] = {"denied_packages": ["pyyaml=<5.4", "requests=>2"]}
    result = _verify(invoke, g.write_policy(tmp_path / "policy.yaml", policy), signed.wheel)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "require/sbom/denied_packages/0: 'pyyaml=<5.4': not a package name with an" in (
        result.stderr
    )
