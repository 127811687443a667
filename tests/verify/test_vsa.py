"""The gate's verdict travels: `attest vsa` turns the allowed decisions of `attest verify
--json` into signed SLSA VSAs (real instance), and a downstream gate's `require.vsa` allows an
artifact on a VSA from the named verifier and signer, for its exact digest, and nothing else."""

from __future__ import annotations

import base64
import datetime
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import gate
from verify.errors import ExitCode
from verify.formats.predicates import VSA_V1
from verify.formats.statement import Statement
from verify.policy import load_policy

Invoke = Callable[..., Result]
VERIFIER = "https://deploy.example/gate"
OPS = "https://example.com/ops"  # who signs the VSAs


def _decision(invoke: Invoke, instance: LocalInstance, release: g.Release, tmp: Path) -> Path:
    policy = g.write_policy(tmp / "upstream.yaml", g.strict_policy(instance))
    now = g.stamp(release.now)
    result = invoke("verify", "--policy", str(policy), "--json", "--now", now, str(release.wheel))
    assert result.exit_code == 0, result.stderr
    path = tmp / "decision.json"
    path.write_text(result.stdout)
    return path


def _vsa(invoke: Invoke, instance: LocalInstance, decision: Path, *more: str) -> Result:
    env = {"ATTEST_IDENTITY_TOKEN": instance.token(OPS)}
    config = str(instance.trust_config)
    return invoke("vsa", "--trust-config", config, *more, str(decision), env=env)


def _downstream(instance: LocalInstance, **rule: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "trust": {"trusted_root": str(instance.trusted_root), "allow_development_root": True},
        "identities": [],
        "require": {
            "signature": False,
            "vsa": {"verifier": VERIFIER, "signer": {"issuer": instance.issuer, "subject": OPS}}
            | rule,
        },
    }


def _judge(invoke: Invoke, tmp: Path, policy: dict[str, Any], *args: str) -> Result:
    path = g.write_policy(tmp / "downstream.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", *args)


def test_vsa_of_an_allowed_artifact_allows_downstream(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    decision = _decision(invoke, instance, release, tmp_path)
    made = _vsa(invoke, instance, decision, "--verifier-id", VERIFIER, "--json")
    assert made.exit_code == 0, made.stderr
    [written] = [Path(p) for p in json.loads(made.stdout)]
    assert written.name == f"{g.WHEEL}.vsa.sigstore.json"
    # downstream: only the artifact and its VSA, none of the upstream evidence
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copy(release.wheel, shipped)
    shutil.copy(written, shipped)
    later = g.stamp(release.now + datetime.timedelta(minutes=5))
    wheel = str(shipped / g.WHEEL)
    result = _judge(invoke, tmp_path, _downstream(instance, levels=["SLSA_BUILD_LEVEL_1"]),
                    "--now", later, wheel)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    [checked] = json.loads(result.stdout)["decisions"]
    assert [c["check"] for c in checked["checks"]] == [
        "trust root", "bundles verify", "verification summary",
    ]  # fmt: skip
    upstream = json.loads(decision.read_text())
    statement = Statement.from_json(_payload(written))
    predicate = statement.predicate
    assert statement.predicate_type == VSA_V1
    assert statement.subjects[0].sha256 == upstream["decisions"][0]["artifact"]["sha256"]
    assert predicate["policy"]["digest"]["sha256"] == upstream["policy"]["sha256"]
    assert predicate["verificationResult"] == "PASSED"
    assert predicate["verifiedLevels"] == ["SLSA_BUILD_LEVEL_1"]
    assert {i["uri"] for i in predicate["inputAttestations"]} >= {f"{g.WHEEL}.sigstore.json"}
    # another verifier's name, a level not verified, a pinned policy it was not judged by
    for rule, reason in (
        ({"verifier": "https://other.example"}, "is not 'https://other.example'"),
        ({"levels": ["SLSA_BUILD_LEVEL_3"]}, "level SLSA_BUILD_LEVEL_3 not verified"),
        ({"policy_sha256": "0" * 64}, "not the pinned sha256"),
        ({"max_age": "1m"}, "over 1m ago"),
    ):
        result = _judge(invoke, tmp_path, _downstream(instance, **rule), "--now", later, wheel)
        assert result.exit_code == ExitCode.DENIED, result.stderr
        assert reason in result.stdout, (rule, result.stdout)
    # judged before the VSA was made: it does not exist yet
    before = g.stamp(release.now - datetime.timedelta(hours=1))
    result = _judge(invoke, tmp_path, _downstream(instance), "--now", before, wheel)
    assert result.exit_code == ExitCode.DENIED
    assert "after the judging instant" in result.stdout


def _payload(bundle: Path) -> bytes:
    return base64.b64decode(json.loads(bundle.read_text())["dsseEnvelope"]["payload"])


def test_vsa_of_another_digest_or_signer_does_not_allow(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    decision = _decision(invoke, instance, release, tmp_path)
    made = _vsa(invoke, instance, decision, "--verifier-id", VERIFIER)
    assert made.exit_code == 0, made.stderr
    vsa = tmp_path / f"{g.WHEEL}.vsa.sigstore.json"
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / g.WHEEL).write_bytes(b"another wheel\n")  # same name, other bytes
    shutil.copy(vsa, shipped)
    later = g.stamp(release.now + datetime.timedelta(minutes=5))
    result = _judge(invoke, tmp_path, _downstream(instance), "--now", later,
                    str(shipped / g.WHEEL))  # fmt: skip
    assert result.exit_code == ExitCode.DENIED
    assert "no VSA signed by" in result.stdout
    shutil.copy(release.wheel, shipped)
    someone = _downstream(instance)
    someone["require"]["vsa"]["signer"]["subject"] = "https://example.com/someone-else"
    result = _judge(invoke, tmp_path, someone, "--now", later, str(shipped / g.WHEEL))
    assert result.exit_code == ExitCode.DENIED
    assert "attestation refused" in result.stdout


def test_a_denied_artifact_never_gets_a_vsa(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.write_policy(tmp_path / "p.yaml", g.strict_policy(instance))
    release.wheel.write_bytes(b"tampered\n")
    result = invoke("verify", "--policy", str(policy), "--json", str(release.wheel))
    assert result.exit_code == ExitCode.DENIED
    decision = tmp_path / "denied.json"
    decision.write_text(result.stdout)
    made = _vsa(invoke, instance, decision)
    assert made.exit_code == ExitCode.USAGE
    assert "no allowed artifact: a denied artifact never gets a VSA" in made.stderr
    assert not list(tmp_path.glob("*.vsa.sigstore.json"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "not JSON"),
        ('{"verifier": {"name": "cosign"}}', "not a decision of `attest verify --json`"),
        (
            '{"verifier": {"name": "attest verify"}, "policy": {"sha256": "x"}, "decisions": []}',
            "names no policy digest",
        ),
    ],
)
def test_not_a_decision_is_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path, content: str, reason: str
) -> None:
    decision = tmp_path / "decision.json"
    decision.write_text(content)
    made = _vsa(invoke, instance, decision)
    assert made.exit_code == ExitCode.USAGE
    assert reason in made.stderr


def test_an_allow_with_a_failed_check_is_not_a_decision(tmp_path: Path) -> None:
    from verify.formats.vsa import NotADecision, summaries

    run = {
        "verifier": {"name": "attest verify", "version": "1"},
        "time": "2026-01-01T00:00:00+00:00",
        "policy": {"path": "p", "sha256": "a" * 64},
        "decisions": [{"decision": "ALLOW", "checks": [{"result": "FAIL"}],
                       "artifact": {"name": "x", "sha256": "b" * 64}, "inputs": [], "levels": []}],
    }  # fmt: skip
    with pytest.raises(NotADecision, match="not every check passed"):
        summaries(run, VERIFIER)


# --- the property: ALLOW via VSA implies a verified VSA for this digest and verifier ----------

_VERIFIERS = (VERIFIER, "https://other.example")
_SIGNERS = (OPS, "https://example.com/mallory")


@pytest.fixture(scope="module")
def vsa_zoo(instance: LocalInstance, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One artifact and VSAs signed for real: right and wrong digest, verifier, signer, result
    and time, each a bundle a random directory may hold."""
    root = tmp_path_factory.mktemp("zoo")
    artifact = root / "app.whl"
    artifact.write_bytes(b"the app\n")
    sha = g.hashlib.sha256(artifact.read_bytes()).hexdigest()
    now = g.utc_now()
    bundles = {}
    for who in _SIGNERS:
        signer = g.session(instance, instance.token(who))
        for verifier in _VERIFIERS:
            for result in ("PASSED", "FAILED"):
                for digest in (sha, "c" * 64):
                    for when in (
                        now - datetime.timedelta(hours=1),
                        now + datetime.timedelta(days=1),
                    ):
                        name = f"{len(bundles)}.vsa.sigstore.json"
                        predicate = {
                            "verifier": {"id": verifier}, "timeVerified": g.stamp(when),
                            "resourceUri": "app.whl", "policy": {"digest": {"sha256": "d" * 64}},
                            "verificationResult": result, "verifiedLevels": ["SLSA_BUILD_LEVEL_1"],
                        }  # fmt: skip
                        statement = Statement((g_subject(digest),), VSA_V1, predicate).to_json()
                        path = root / "all" / name
                        path.parent.mkdir(exist_ok=True)
                        g.write_atomic(
                            path, signer.sign_statement(statement, name).to_json().encode()
                        )
                        bundles[name] = (who, verifier, result, digest == sha, when <= now)
    return {"root": root, "artifact": artifact, "sha": sha, "bundles": bundles, "now": now}


def g_subject(digest: str) -> Any:
    from verify.formats.statement import Subject

    return Subject("app.whl", digest)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_allow_via_vsa_implies_a_verified_vsa_for_this_digest_and_verifier(
    instance: LocalInstance, vsa_zoo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:  # fmt: skip
    names = data.draw(st.lists(st.sampled_from(sorted(vsa_zoo["bundles"])), unique=True))
    verifier = data.draw(st.sampled_from(_VERIFIERS))
    directory = tmp_path_factory.mktemp("case")
    artifact = directory / "app.whl"
    shutil.copy(vsa_zoo["artifact"], artifact)
    for name in names:
        shutil.copy(vsa_zoo["root"] / "all" / name, directory / name)
    policy = _downstream(instance)
    policy["require"]["vsa"]["verifier"] = verifier
    path = g.write_policy(directory / "policy.yaml", policy)
    run = gate.decide([artifact], load_policy(path), vsa_zoo["now"])
    if run.decisions[0].allowed:
        assert any(
            who == OPS and by == verifier and result == "PASSED" and ours and past
            for who, by, result, ours, past in (vsa_zoo["bundles"][n] for n in names)
        ), names


def test_the_property_can_allow(
    instance: LocalInstance, vsa_zoo: dict[str, Any], tmp_path: Path
) -> None:
    """The property above is not vacuous: the one good VSA alone allows, and only it."""
    good = [
        n
        for n, facts in vsa_zoo["bundles"].items()
        if facts == (OPS, VERIFIER, "PASSED", True, True)
    ]
    assert len(good) == 1
    shutil.copy(vsa_zoo["artifact"], tmp_path / "app.whl")
    shutil.copy(vsa_zoo["root"] / "all" / good[0], tmp_path / good[0])
    policy = load_policy(g.write_policy(tmp_path / "policy.yaml", _downstream(instance)))
    assert gate.decide([tmp_path / "app.whl"], policy, vsa_zoo["now"]).decisions[0].allowed
