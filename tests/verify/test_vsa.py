"""The gate's verdict travels: `attest vsa` turns the allowed decisions of `attest verify
--json` into signed SLSA VSAs (real instance), and a downstream gate's `require.vsa` allows an
artifact on a VSA from the named verifier and signer, for its exact digest, and nothing else."""

from __future__ import annotations

import base64
import datetime
import hashlib
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
        summaries(run, VERIFIER, g.utc_now())


# --- attest vsa signs only what the gate can have written (issue 17 attack: F2, F3, F5) -------


def _edited(
    decision: Path, name: str, edit: Callable[[dict[str, Any], dict[str, Any]], None]
) -> Path:
    run = json.loads(decision.read_text())
    edit(run, run["decisions"][0])
    path = decision.with_name(name)
    path.write_text(json.dumps(run))
    return path


def _without(check: str) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def edit(run: dict[str, Any], one: dict[str, Any]) -> None:
        one["checks"] = [c for c in one["checks"] if c["check"] != check]

    return edit


def test_attest_vsa_refuses_a_hand_edited_decision(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Each edit an attacker made to a genuine decision file is refused, saying why, and
    nothing is signed: the artifact's and policy's bytes are re-hashed, the levels must be what
    the gate gives for the checks, and the trust-root and bundle checks must be there."""
    decision = _decision(invoke, instance, release, tmp_path)
    other = tmp_path / "evil.whl"
    other.write_bytes(b"malware\n")
    evil = hashlib.sha256(other.read_bytes()).hexdigest()
    future = g.stamp(g.utc_now() + datetime.timedelta(days=180))
    edits: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], None], str]] = {
        "post-dated": (lambda run, one: run.update(time=future), "is after now"),
        "digest": (
            lambda run, one: one["artifact"].update(sha256=evil),
            f"the artifact {release.wheel} has sha256",
        ),
        "level3": (
            lambda run, one: one.update(levels=["SLSA_BUILD_LEVEL_3"]),
            "claims levels 'SLSA_BUILD_LEVEL_3', but its checks support SLSA_BUILD_LEVEL_1 only",
        ),
        "level1-without-provenance": (
            _without("provenance"),
            "claims levels 'SLSA_BUILD_LEVEL_1', but its checks support SLSA_BUILD_LEVEL_0 only",
        ),
        "no-trust-root": (_without("trust root"), "allows without the trust root check"),
        "no-bundles": (_without("bundles verify"), "allows without the bundles verify check"),
        "missing-artifact": (
            lambda run, one: one["artifact"].update(path=str(tmp_path / "gone" / g.WHEEL)),
            f"the artifact it judged, {tmp_path / 'gone' / g.WHEEL}, is not here",
        ),
        "policy-digest": (
            lambda run, one: run["policy"].update(sha256="0" * 64),
            "the policy " + str(tmp_path / "upstream.yaml") + " has sha256",
        ),
        "name-not-path": (
            lambda run, one: one["artifact"].update(name="other.whl"),
            "names another file as its path",
        ),
    }
    for label, (edit, reason) in edits.items():
        made = _vsa(invoke, instance, _edited(decision, f"{label}.json", edit))
        assert made.exit_code == ExitCode.USAGE, (label, made.stderr)
        assert reason in made.stderr, (label, made.stderr)
    assert not list(tmp_path.glob("*.vsa.sigstore.json"))
    # the artifact not here: signed on the decision's word only when asked
    missing = _edited(decision, "missing.json", edits["missing-artifact"][0])
    assert "--allow-missing-files" in _vsa(invoke, instance, missing).stderr
    made = _vsa(invoke, instance, missing, "--allow-missing-files", "--verifier-id", VERIFIER)
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / f"{g.WHEEL}.vsa.sigstore.json").is_file()


def test_two_allowed_artifacts_of_one_name_get_no_vsa(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Two directories' artifacts of one file name: one VSA would replace the other."""
    twin = release.copy(tmp_path / "twin")
    policy = g.write_policy(tmp_path / "upstream.yaml", g.strict_policy(instance))
    now = g.stamp(release.now)
    judged = invoke("verify", "--policy", str(policy), "--json", "--now", now,
                    str(release.wheel), str(twin.wheel))  # fmt: skip
    assert judged.exit_code == 0, judged.stderr
    decision = tmp_path / "decision.json"
    decision.write_text(judged.stdout)
    made = _vsa(invoke, instance, decision)
    assert made.exit_code == ExitCode.USAGE
    assert f"two allowed artifacts are named '{g.WHEEL}'" in made.stderr
    assert not list(tmp_path.glob("*.vsa.sigstore.json"))


def test_a_post_dated_vsa_is_refused_downstream(instance: LocalInstance, tmp_path: Path) -> None:
    """A VSA whose timeVerified is after its bundle's log time is refused, whatever max_age:
    it would stay fresh until long after its verdict."""
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"the app\n")
    signer = g.session(instance, instance.token(OPS))
    now = g.utc_now()
    for name, when in (("post", now + datetime.timedelta(days=180)), ("ok", now)):
        predicate = {
            "verifier": {"id": VERIFIER}, "timeVerified": g.stamp(when), "resourceUri": "app.whl",
            "policy": {"digest": {"sha256": "d" * 64}}, "verificationResult": "PASSED",
            "verifiedLevels": ["SLSA_BUILD_LEVEL_1"],
        }  # fmt: skip
        statement = Statement((g_subject(_sha(artifact)),), VSA_V1, predicate).to_json()
        bundle = signer.sign_statement(statement, "app.whl.vsa.sigstore.json").to_json()
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.whl.vsa.sigstore.json").write_text(bundle)
    policy = load_policy(g.write_policy(tmp_path / "p.yaml", _downstream(instance, max_age="30d")))
    later = now + datetime.timedelta(days=200)  # 20 days after the post-dated timeVerified
    run = gate.decide([artifact], policy, later, tmp_path / "post")
    [outcome] = [o for o in run.decisions[0].outcomes if o.name == "verification summary"]
    assert not outcome.passed
    assert "after its bundle was signed" in outcome.failures[0]
    assert "a post-dated VSA" in outcome.failures[0]
    # the genuine one: fresh at first, too old 200 days later
    soon = gate.decide([artifact], policy, now + datetime.timedelta(minutes=1), tmp_path / "ok")
    assert soon.decisions[0].allowed
    old = gate.decide([artifact], policy, later, tmp_path / "ok")
    assert any("over 30d ago" in f for o in old.decisions[0].outcomes for f in o.failures)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- levels are read strictly (F8): _10 and _02 are not level 2 -------------------------------


@pytest.mark.parametrize("level", ["SLSA_BUILD_LEVEL_10", "SLSA_BUILD_LEVEL_02",
                                   "SLSA_BUILD_LEVEL_4", "slsa_build_level_3", "SLSA_BUILD_LEVEL_ 3"])  # fmt: skip
def test_a_build_level_spelled_otherwise_is_refused_in_vsa_and_policy(
    level: str, tmp_path: Path
) -> None:
    from verify.formats.predicates import InvalidAttestation
    from verify.formats.vsa import Vsa
    from verify.policy import PolicyError

    predicate = {
        "verifier": {"id": VERIFIER}, "timeVerified": "2026-01-01T00:00:00Z",
        "resourceUri": "x", "policy": {"digest": {"sha256": "d" * 64}},
        "verificationResult": "PASSED", "verifiedLevels": [level],
    }  # fmt: skip
    with pytest.raises(InvalidAttestation, match="is not a SLSA build level"):
        Vsa.from_dict(predicate)
    policy = {"version": 1, "trust": {"trusted_root": "r.json"}, "identities": [],
              "require": {"signature": False, "vsa": {"verifier": VERIFIER, "levels": [level],
                          "signer": {"issuer": "https://i.example", "subject": OPS}}}}  # fmt: skip
    with pytest.raises(PolicyError, match="levels"):
        load_policy(g.write_policy(tmp_path / "p.yaml", policy))


_LEVEL_NAMES = st.one_of(
    st.sampled_from(["SLSA_BUILD_LEVEL_2", "SLSA_BUILD_LEVEL_3", "SLSA_SOURCE_LEVEL_3", "L3"]),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["SLSA_BUILD_LEVEL_", "slsa_build_level_", "SLSA_BUILD_LEVEL_ "]),
        st.sampled_from(["", "0", "+"]),
        st.integers(0, 12),
    ),
    st.text(max_size=20),
)


@given(verified=st.lists(_LEVEL_NAMES, max_size=4))
def test_a_vsa_meets_a_build_level_only_by_a_canonical_equal_or_higher_one(
    verified: list[str],
) -> None:
    """For random level names: a VSA read and meeting SLSA_BUILD_LEVEL_2 lists level 2 or 3,
    spelled exactly so."""
    from verify.formats.predicates import InvalidAttestation
    from verify.formats.vsa import Vsa, satisfies

    predicate = {
        "verifier": {"id": VERIFIER}, "timeVerified": "2026-01-01T00:00:00Z",
        "resourceUri": "x", "policy": {"digest": {"sha256": "d" * 64}},
        "verificationResult": "PASSED", "verifiedLevels": verified,
    }  # fmt: skip
    try:
        vsa = Vsa.from_dict(predicate)
    except InvalidAttestation:
        return
    if satisfies(vsa.levels, "SLSA_BUILD_LEVEL_2"):
        assert {"SLSA_BUILD_LEVEL_2", "SLSA_BUILD_LEVEL_3"} & set(verified)
    assert satisfies(("SLSA_BUILD_LEVEL_3",), "SLSA_BUILD_LEVEL_2")


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
    # judged after the last signature: the log dates it to its whole second, which a loaded
    # machine's signing ran into after `now` (the good VSA's bundle was "after the instant")
    judged = g.utc_now()
    return {"root": root, "artifact": artifact, "sha": sha, "bundles": bundles, "now": judged}


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
