"""The gate fails closed (issue 13): who signed, when, which evidence, and that nothing judged is
never an allow. Each test would have been an ALLOW (or a deny for the wrong artifact) before;
each asserts the reason."""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.sign import stage as sign_stage
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import deadline, gate, plugins
from verify.certificate import Signer
from verify.checks.attestations import AttestationAgeCheck
from verify.checks.signature import IdentityCheck
from verify.errors import ExitCode
from verify.evidence import Collector, Evidence, Signed
from verify.formats.predicates import KINDS, PYPI_PUBLISH_V1
from verify.identity import allowed
from verify.interface import Context
from verify.policy import PolicyError, Require, load_policy, parse_policy
from verify.trust import load_trust

Invoke = Callable[..., Result]


def _verify(invoke: Invoke, tmp_path: Path, policy: dict[str, Any], *args: str | Path) -> Result:
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    return invoke("verify", "--policy", str(path), "--json", *[str(a) for a in args])


def _decisions(result: Result) -> dict[str, dict[str, Any]]:
    return {d["artifact"]["name"]: d for d in json.loads(result.stdout)["decisions"]}


def _failures(result: Result, artifact: str = g.WHEEL) -> dict[str, list[str]]:
    checks = _decisions(result)[artifact]["checks"]
    return {c["check"]: c["failures"] for c in checks if c["failures"]}


def _has(result: Result, check: str, reason: str, artifact: str = g.WHEEL) -> None:
    failures = _failures(result, artifact)
    assert any(reason in f for f in failures.get(check, [])), failures


# --- who signed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "second_rule",
    [
        pytest.param(lambda local: g.identity_rule(local), id="the same rule twice"),
        pytest.param(
            lambda local: {"issuer": local.issuer, "subject": g.WORKFLOW}, id="exact and pattern"
        ),
    ],
)
def test_one_signer_matching_two_rules_is_one_signer(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    second_rule: Callable[[LocalInstance], dict[str, Any]],
) -> None:
    policy = g.strict_policy(instance)
    policy["identities"].append(second_rule(instance))
    policy["k_of_n"] = 2
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "signer identity", "1 distinct allowed signer(s), the policy needs 2")


def test_one_signer_twice_is_one_signer(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A co-signature by the same identity (a second certificate) counts once."""
    g_session = g.session(instance, g.github_token(instance))
    bundle = g_session.sign_file(sign_stage.hash_file(release.wheel), release.wheel)
    (release.dist / f"{g.WHEEL}.again.sigstore.json").write_text(bundle.to_json())
    policy = g.strict_policy(instance)
    policy["identities"].append({"issuer": instance.issuer, "subject": "someone-else@example.com"})
    policy["k_of_n"] = 2
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "signer identity", "1 distinct allowed signer(s), the policy needs 2")


ISSUERS = ["https://a.example", "https://b.example"]
IDENTITIES = ["alice@example.com", "bob@example.com", "https://ci.example/w@refs/heads/main"]
RULES = st.fixed_dictionaries(
    {"issuer": st.sampled_from(ISSUERS)},
    optional={},
).flatmap(
    lambda base: st.one_of(
        st.sampled_from(IDENTITIES).map(lambda s: {**base, "subject": s}),
        st.sampled_from([".*", "alice@.*", ".*@example\\.com", "https://ci\\.example/.+"]).map(
            lambda p: {**base, "subject_pattern": p}
        ),
    )
)
SIGNERS = st.builds(Signer, st.sampled_from(IDENTITIES), st.sampled_from(ISSUERS), st.just({}))


@settings(max_examples=200, deadline=None, database=None)
@given(
    rules=st.lists(RULES, min_size=1, max_size=5),
    k=st.integers(1, 4),
    signers=st.lists(SIGNERS, max_size=6),
)
def test_allow_implies_k_distinct_allowed_signers(
    rules: list[dict[str, Any]], k: int, signers: list[Signer]
) -> None:
    """For random policies with overlapping rules and random signatures (repeated signers,
    signers no rule allows): the identity check passes only with at least k distinct
    (issuer, identity) pairs the policy allows; a policy whose exact subjects allow fewer than
    k signers is refused when loaded (no signatures could ever pass it)."""
    document = {"version": 1, "trust": "production", "identities": rules, "k_of_n": k}
    exact = {(r["issuer"], r["subject"].split("@refs/")[0]) for r in rules if "subject" in r}
    if all("subject" in r for r in rules) and k > len(exact):
        with pytest.raises(PolicyError, match="signers could never sign"):
            parse_policy(yaml.safe_dump(document).encode(), "p.yaml", Path())
        return
    policy = parse_policy(yaml.safe_dump(document).encode(), "p.yaml", Path())
    when = datetime.datetime(2026, 7, 1, tzinfo=datetime.timezone.utc)
    signatures = tuple(Signed(Path(f"s{i}.sigstore.json"), s, when) for i, s in enumerate(signers))
    evidence = Evidence(Path("a.whl"), "ab" * 32, signatures, (), ())
    context = Context(policy, load_trust("production", None), when)
    outcome = IdentityCheck().run(evidence, context)
    distinct = {(s.issuer, s.identity) for s in signers if allowed(s, policy.identities)}
    assert outcome.passed == (len(distinct) >= k)


def test_identity_is_judged_while_verifying(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The evidence layer itself refuses a signer the policy does not allow: no check plugin
    is needed for a signature to be judged."""
    (release.dist / f"{g.WHEEL}.sigstore.json").unlink()
    g.sign_files(instance, g.github_token(instance, "evil/web"), release.wheel)
    raw = yaml.safe_dump(g.strict_policy(instance)).encode()
    policy = parse_policy(raw, "policy.yaml", tmp_path)
    root = load_trust("pinned", instance.trusted_root).root
    now = datetime.datetime.now(datetime.timezone.utc)
    evidence = Collector(root, policy, now).collect(release.wheel)
    assert evidence.signatures == ()
    [problem] = [p for p in evidence.problems if p.path.name == f"{g.WHEEL}.sigstore.json"]
    assert "signature refused: signed by 'https://github.com/evil/web/" in problem.reason
    assert "who the policy does not allow" in problem.reason


def test_no_checks_no_allow(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An empty `verify.checks` group is exit 3, never ALLOW."""
    from verify import plugins

    real = plugins.metadata.entry_points

    def without_checks(**kwargs: Any) -> Any:
        return [] if kwargs.get("group") == plugins.GATE_CHECKS else real(**kwargs)

    monkeypatch.setattr(plugins.metadata, "entry_points", without_checks)
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert "no gate check is installed" in result.stderr
    assert "ALLOW" not in result.stderr


def test_a_check_that_overruns_the_limit_is_a_timeout_not_a_failing_check(
    instance: LocalInstance, signed: g.Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check's failures of any kind become CheckFailed (`except BaseException`), but the
    limit's expiry, raised into the check, passes: the decision ends as the timeout it is."""
    policy = load_policy(g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance)))

    def slow(self: IdentityCheck, *args: Any) -> Any:
        time.sleep(60)  # the limit's signal interrupts the sleep

    monkeypatch.setattr(IdentityCheck, "run", slow)
    with pytest.raises(deadline.DecisionTimeout) as caught:
        gate.decide([signed.wheel], policy, signed.now, decision_limit=3.0)
    assert f"deciding on {g.WHEEL!r} took longer than 3 s" in str(caught.value)
    assert not isinstance(caught.value.__context__, gate.CheckFailed)  # it was never one
    with pytest.raises(KeyboardInterrupt), gate._answering("signature", "judging"):
        raise KeyboardInterrupt
    exited = r"judging: it called sys.exit\(0\); nothing is judged"
    with pytest.raises(gate.CheckFailed, match=exited), gate._answering("signature", "judging"):
        raise SystemExit(0)


def test_no_outcome_is_no_allow(instance: LocalInstance) -> None:
    decision = gate.Decision(Path("a.whl"), "ab" * 32, (), (), "enforce")
    assert not decision.allowed and decision.verdict == "DENY"
    run = gate.Run(None, None, datetime.datetime.now(), ())  # type: ignore[arg-type]
    assert not run.allowed


def test_development_root_recognised_by_its_certificates(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Renaming the CA's `subject` label does not make the development root a production one."""
    root = json.loads(instance.trusted_root.read_text())
    for authority in root["certificateAuthorities"]:
        authority["subject"] = {"organization": "Acme Corp", "commonName": "acme"}
    renamed = tmp_path / "trusted_root.json"
    renamed.write_text(json.dumps(root))
    policy = g.strict_policy(instance)
    policy["trust"] = {"trusted_root": str(renamed)}
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "trust root", "the trust root is the local development instance's")


# --- when ------------------------------------------------------------------------------------


def test_evidence_after_the_judging_instant_does_not_exist(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """No `max_attestation_age`: a release signed today is still refused yesterday."""
    policy = g.strict_policy(instance)
    del policy["require"]["max_attestation_age"]
    yesterday = g.stamp(release.now - g.DAY)
    result = _verify(invoke, tmp_path, policy, release.wheel, "--now", yesterday)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "bundles verify", "after the judging instant")
    _has(result, "signature", "no verified signature bundle")
    _has(result, "provenance", "no SLSA v1 provenance")
    assert "attestation age" not in _failures(result)


def test_age_check_with_nothing_to_judge_fails(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["require"] = {"signature": False, "build_link": {"step": "build"},
                         "max_attestation_age": "30d"}  # fmt: skip
    for bundle in release.dist.glob("*.sigstore.json"):
        bundle.unlink()
    result = _verify(invoke, tmp_path, policy, release.wheel)
    _has(result, "attestation age", "no verified bundle to judge the age of")


def test_age_check_not_shown_when_no_evidence_is_required(instance: LocalInstance) -> None:
    policy = parse_policy(yaml.safe_dump(g.strict_policy(instance)).encode(), "p.yaml", Path())
    nothing = Require(signature=False, max_attestation_age=datetime.timedelta(days=1))
    context = Context(
        policy.__class__(**{**policy.__dict__, "require": nothing}), None, datetime.datetime.now()
    )  # type: ignore[arg-type]
    assert not AttestationAgeCheck().applies(context)


# --- which evidence --------------------------------------------------------------------------


def test_a_refused_attestation_denies_only_what_it_claims(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A foreign signer's attestation naming the sdist denies the sdist, not the wheel."""
    evil = g.session(instance, g.github_token(instance, "evil/web"))
    g.write_statement(evil, release.dist / "stranger.sigstore.json", [release.sdist],
                      KINDS["sbom"], g.SBOM)  # fmt: skip
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel, release.sdist)
    decisions = _decisions(result)
    assert decisions[g.WHEEL]["decision"] == "ALLOW", _failures(result)
    assert decisions[g.SDIST]["decision"] == "DENY"
    _has(result, "bundles verify", "stranger.sigstore.json: attestation refused", g.SDIST)


def test_a_bundle_naming_no_judged_artifact_is_listed(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"not in this release\n")
    signer = g.session(instance, g.github_token(instance))
    g.write_statement(signer, release.dist / "other.sbom.sigstore.json", [other],
                      KINDS["sbom"], g.SBOM)  # fmt: skip
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == 0, result.stderr
    unjudged = {Path(u["path"]).name: u["why"] for u in json.loads(result.stdout)["unjudged"]}
    assert unjudged["other.sbom.sigstore.json"] == "concerns no artifact judged here"
    assert "concern no artifact judged here" in result.stderr


def test_a_sha512_subject_is_matched(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    (release.dist / "acme_web-1.4.0.sbom.sigstore.json").unlink()
    policy = g.strict_policy(instance)
    assert _verify(invoke, tmp_path, policy, release.wheel).exit_code == ExitCode.DENIED
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": g.WHEEL, "digest": {"sha512": hashlib.sha512(b"the wheel\n").hexdigest()}}
        ],
        "predicateType": KINDS["sbom"],
        "predicate": g.SBOM,
    }
    signer = g.session(instance, g.github_token(instance))
    payload = json.dumps(statement).encode()
    bundle = signer.sign_statement(payload, "sbom")
    (release.dist / "wheel.sbom.sigstore.json").write_text(bundle.to_json())
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == 0, result.stderr
    checks = {c["check"]: c for c in _decisions(result)[g.WHEEL]["checks"]}
    assert checks["sbom"]["actual"] == "wheel.sbom.sigstore.json"


@pytest.mark.parametrize("mode", ["deny", "ignore"])
def test_unknown_predicates_per_policy(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path, mode: str
) -> None:
    signer = g.session(instance, g.github_token(instance))
    g.write_statement(signer, release.dist / "extra.sigstore.json", [release.wheel],
                      "https://example.com/custom/v1", {"anything": True})  # fmt: skip
    policy = {**g.strict_policy(instance), "unknown_predicates": mode}
    result = _verify(invoke, tmp_path, policy, release.wheel)
    if mode == "deny":
        assert result.exit_code == ExitCode.DENIED
        _has(result, "bundles verify", "unknown predicate type 'https://example.com/custom/v1'")
    else:
        assert result.exit_code == 0, result.stderr
        [note] = [u for u in json.loads(result.stdout)["unjudged"] if "extra" in u["path"]]
        assert note["why"].startswith("ignored (unknown_predicates: ignore)")


# --- PEP 740 publish attestations ------------------------------------------------------------


def _publish_token(instance: LocalInstance) -> str:
    return g.github_token(instance, workflow=".github/workflows/publish.yml")


def _publish_policy(instance: LocalInstance, workflow: str = "publish.yml") -> dict[str, Any]:
    policy = g.strict_policy(instance)
    policy["require"]["publish"] = {
        "repository": g.REPOSITORY,
        "workflow": workflow,
        "issuer": instance.issuer,
    }
    return policy


def test_pep740_file_layout_is_verified_and_required(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    out = tmp_path / "publish"
    out.mkdir()
    sign_stage.sign(
        sign_stage.SignRequest(
            (release.wheel,), trust_config=instance.trust_config,
            identity_token=_publish_token(instance), bundle_dir=out, pep740=True,
        )
    )  # fmt: skip
    published = out / f"{g.WHEEL}.publish.attestation"
    assert published.is_file()
    missing = _verify(invoke, tmp_path, _publish_policy(instance), release.wheel)
    assert missing.exit_code == ExitCode.DENIED
    _has(missing, "publish attestation", "no publish attestation by the publishing workflow")
    (release.dist / published.name).write_bytes(published.read_bytes())
    result = _verify(invoke, tmp_path, _publish_policy(instance), release.wheel)
    assert result.exit_code == 0, result.stderr
    wrong = _verify(invoke, tmp_path, _publish_policy(instance, "other.yml"), release.wheel)
    assert wrong.exit_code == ExitCode.DENIED
    _has(wrong, "publish attestation", "no publish attestation by the publishing workflow")


def test_pep740_bundle_beside_the_artifact(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The same statement as a Sigstore bundle: null predicate, not "must be an object"."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": g.WHEEL, "digest": {"sha256": hashlib.sha256(b"the wheel\n").hexdigest()}}
        ],
        "predicateType": PYPI_PUBLISH_V1,
        "predicate": None,
    }
    signer = g.session(instance, _publish_token(instance))
    bundle = signer.sign_statement(json.dumps(statement).encode(), "publish")
    (release.dist / f"{g.WHEEL}.publish.sigstore.json").write_text(bundle.to_json())
    result = _verify(invoke, tmp_path, _publish_policy(instance), release.wheel)
    assert result.exit_code == 0, result.stderr


def test_the_publishing_workflow_attests_nothing_else(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Allowed for the publish attestation only: its SBOM is refused, not believed."""
    policy = _publish_policy(instance)
    policy["identities"] = [{"issuer": instance.issuer, "subject": "nobody@example.com"}]
    signer = g.session(instance, _publish_token(instance))
    g.write_statement(signer, release.dist / "p.sbom.sigstore.json", [release.wheel],
                      KINDS["sbom"], g.SBOM)  # fmt: skip
    result = _verify(invoke, tmp_path, policy, release.wheel)
    _has(result, "bundles verify", "p.sbom.sigstore.json: attestation refused")
    _has(result, "bundles verify", "who the policy does not allow for this predicate")


# --- found by the outside attack on this change ----------------------------------------------


def test_k_of_n_without_required_signatures_is_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """k_of_n counts signature bundles: with `signature: false` it would count nothing, and the
    identity check (which counts) would not run at all."""
    policy = {**g.strict_policy(instance), "k_of_n": 2}
    policy["require"] = {**policy["require"], "signature": False}
    result = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml", policy)), "x")
    assert result.exit_code == ExitCode.USAGE
    assert "k_of_n: 2 counts the signers of signature bundles" in result.stderr


def test_a_malformed_attestation_denies_what_its_subjects_name(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A bundle the models refuse (a `!` in its signature) still names its subjects: it denies
    the wheel it claims to cover, whatever its file name, instead of vanishing."""
    signer = g.session(instance, g.github_token(instance))
    path = g.write_statement(signer, release.dist / "second.slo.sigstore.json", [release.wheel],
                             KINDS["slo"], g.slo_predicate(release.now, []))  # fmt: skip
    bundle = json.loads(path.read_text())
    sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = "!" + sig[1:]
    path.write_text(json.dumps(bundle))
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel, release.sdist)
    assert _decisions(result)[g.WHEEL]["decision"] == "DENY"
    _has(result, "bundles verify", "second.slo.sigstore.json: malformed bundle")
    assert _decisions(result)[g.SDIST]["decision"] == "ALLOW", _failures(result, g.SDIST)


def test_a_refused_attestation_is_scoped_by_its_subjects_not_its_file_name(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """A stranger's statement about the sdist, named like one of the wheel's bundles."""
    evil = g.session(instance, g.github_token(instance, "evil/web"))
    g.write_statement(evil, release.dist / f"{g.WHEEL}.note.sigstore.json", [release.sdist],
                      KINDS["sbom"], g.SBOM)  # fmt: skip
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel, release.sdist)
    assert _decisions(result)[g.WHEEL]["decision"] == "ALLOW", _failures(result)
    _has(result, "bundles verify", f"{g.WHEEL}.note.sigstore.json: attestation refused", g.SDIST)


def test_one_workflow_on_two_refs_is_one_signer(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Fulcio puts the ref into a workflow's identity; whoever may push a tag could otherwise
    make k signers of one workflow."""
    other_tag = g.session(instance, g.github_token(instance, ref="refs/tags/v1.4.0.1"))
    bundle = other_tag.sign_file(sign_stage.hash_file(release.wheel), release.wheel)
    (release.dist / f"{g.WHEEL}.again.sigstore.json").write_text(bundle.to_json())
    policy = {**g.strict_policy(instance), "k_of_n": 2}
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "signer identity", "1 distinct allowed signer(s), the policy needs 2")


def test_a_co_signature_alone_is_no_signature(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    own = release.dist / f"{g.WHEEL}.sigstore.json"
    own.rename(release.dist / f"{g.WHEEL}.second.sigstore.json")
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.DENIED
    _has(result, "signature", f"{g.WHEEL}.sigstore.json is missing or refused")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"max_trust_root_age": "99999999999999m"}, "max_trust_root_age: 99999999999999m is over"),
        ({"require": {"signature": True, "max_attestation_age": "9999999999d"}},
         "require/max_attestation_age: 9999999999d is over 1000 years"),
    ],
)  # fmt: skip
def test_durations_past_the_calendar_are_policy_errors(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    policy = {**g.strict_policy(instance), **change}
    result = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml", policy)), "x")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert reason in result.stderr


def test_a_now_before_the_calendar_is_a_usage_error(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel,
                     "--now", "0001-01-01T00:00:00+01:00")  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert "is outside the years 1970 to 8999 (UTC)" in result.stderr


def test_a_file_name_that_is_not_utf8_is_logged_and_chained(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """The decision log writes such a name as strict JSON (a lone-surrogate escape `\\udcff`
    before, which strict readers refuse): `name` in UTF-8, U+FFFD for the byte that is not,
    and its exact bytes in `name_bytes_hex`; a record, not an internal error."""
    import os
    import subprocess
    import sys

    name = os.fsencode(release.dist) + b"/caf\xff.whl"
    Path(os.fsdecode(name)).write_bytes(b"unsigned")
    policy = g.write_policy(tmp_path / "p.yaml", g.strict_policy(instance))
    log = tmp_path / "decisions.jsonl"
    args = [sys.executable, "-m", "attest", "verify", "--policy", str(policy),
            "--decision-log", str(log)]  # fmt: skip
    done = subprocess.run([*map(os.fsencode, args), name], capture_output=True, timeout=120)
    assert done.returncode == ExitCode.DENIED, done.stderr
    assert b"\\ud" not in log.read_bytes()
    logged = json.loads(log.read_bytes().decode("utf-8"))["artifact"]
    assert logged["name"] == "caf\ufffd.whl"
    assert bytes.fromhex(logged["name_bytes_hex"]) == b"caf\xff.whl"
    checked = subprocess.run(
        [sys.executable, "-m", "attest", "verify-log", str(log)], capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr


# --- found by the second outside attack ------------------------------------------------------


def test_a_ref_holding_at_refs_is_still_one_workflow(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Tag `v1@refs/x` is a valid git ref: cutting only a final `@refs/...` left two keys."""
    odd = g.session(instance, g.github_token(instance, ref="refs/tags/v1@refs/x"))
    bundle = odd.sign_file(sign_stage.hash_file(release.wheel), release.wheel)
    (release.dist / f"{g.WHEEL}.odd.sigstore.json").write_text(bundle.to_json())
    policy = {**g.strict_policy(instance), "k_of_n": 2}
    policy["identities"] = [{"issuer": instance.issuer, "github": {"repository": g.REPOSITORY}}]
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "signer identity", "1 distinct allowed signer(s), the policy needs 2")


def test_an_unreadable_bundle_concerns_only_the_artifact_it_is_named_for(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`app.tar.gz.sigstore.json`, cut short, is no reason to deny `app.tar`."""
    short = release.dist / g.WHEEL.removesuffix(".whl")
    short.write_bytes(b"another artifact\n")
    g.sign_files(instance, g.github_token(instance), short)
    (release.dist / f"{g.WHEEL}.sigstore.json").write_text('{"mediaType": "cut sho')
    policy = {**g.strict_policy(instance), "require": {"signature": True}}
    result = _verify(invoke, tmp_path, policy, short, release.wheel)
    assert _decisions(result)[short.name]["decision"] == "ALLOW", _failures(result, short.name)
    _has(result, "bundles verify", f"{g.WHEEL}.sigstore.json: unparsable bundle")


def test_a_bundle_of_millions_of_objects_is_refused_before_it_is_built(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`[{},{},...]` just under the size limit built 22 million objects (5 GB) and ran out the
    time bound; it is counted in the bytes first, refused, and, naming no artifact, listed."""
    (release.dist / "x.sigstore.json").write_bytes(b"[" + b"{}," * 700_000 + b"{}]")
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == 0, result.stderr
    unjudged = {Path(u["path"]).name: u["why"] for u in json.loads(result.stdout)["unjudged"]}
    assert "more than 10,000 JSON objects and lists: not a bundle" in unjudged["x.sigstore.json"]


def test_a_signed_predicate_is_never_quoted(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    secret = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY" * 100
    signer = g.session(instance, g.github_token(instance))
    g.write_statement(signer, release.dist / "odd.build.sigstore.json", [release.wheel],
                      KINDS["build"], {"name": "build", "command": secret, "materials": []})  # fmt: skip
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.DENIED
    _has(result, "bundles verify", "predicate at command: must be a list")
    assert "wJalrXUtnFEMI" not in result.stdout + result.stderr


def test_a_malformed_sbom_is_no_sbom_even_with_nothing_denied(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    (release.dist / "acme_web-1.4.0.sbom.sigstore.json").unlink()
    signer = g.session(instance, g.github_token(instance))
    g.write_statement(signer, release.dist / "odd.sbom.sigstore.json", [release.wheel],
                      KINDS["sbom"], {**g.SBOM, "components": "not a list"})  # fmt: skip
    policy = g.strict_policy(instance)
    policy["require"]["sbom"] = {}
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    _has(result, "sbom", "malformed SBOM: components: expected a list of objects, got str")


def test_the_record_names_the_checks_of_the_one_scan_that_loaded_them(
    instance: LocalInstance, signed: g.Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision scans the installed checks once: the run's record of them (`plugins`) is read
    from the scan its checks were loaded by (before: a second scan, 4 ms of every decide, and
    a plugin installed meanwhile could be recorded though it never ran)."""
    policy = load_policy(g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance)))
    scans = []
    real = plugins.metadata.entry_points

    def counted(**selection: Any) -> Any:
        scans.append(selection)
        return real(**selection)

    monkeypatch.setattr(plugins.metadata, "entry_points", counted)
    run = gate.decide([signed.wheel], policy, signed.now)
    assert scans == [{"group": plugins.GATE_CHECKS}]
    assert run.allowed and run.plugins == gate.check_plugins()
    assert "signature (attest-pipeline " in " ".join(run.plugins)
