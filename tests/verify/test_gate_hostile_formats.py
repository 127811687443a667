"""Issue 15's attack on the exchange-format readers, through real bundles signed by an allowed
signer on the local instance: a statement holding a 5,000-digit number or a repeated key is one
refused bundle, not an internal error or a hidden finding; a signed value of any length is
quoted in short; an SBOM component whose purl says another package is refused, not allowed.
Each would have been an exit 3, a megabyte of output, or an ALLOW before."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests import signed_release as g
from tests.attest.scan.helpers import NOW, PYPA_FIXTURE, SCAN_FIXTURES
from tests.conftest import LocalInstance
from tests.verify.test_gate_fail_closed import _decisions, _failures, _verify
from verify.errors import ExitCode
from verify.formats.predicates import KINDS

Invoke = Callable[..., Result]


def _statement(subject: Path, predicate_type: str, predicate: str) -> bytes:
    """A statement as text, so that its predicate can be any text at all."""
    digest = hashlib.sha256(subject.read_bytes()).hexdigest()
    return (
        '{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "'
        f'{subject.name}", "digest": {{"sha256": "{digest}"}}}}], "predicateType": '
        f'"{predicate_type}", "predicate": {predicate}}}'
    ).encode()


def test_a_signed_statement_holding_a_5000_digit_number_refuses_that_bundle_only(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Before: `internal error: ValueError`, exit 3 for every verdict, from one bundle dropped
    among the evidence. Now it is a malformed statement: it denies the wheel it names, and the
    sdist's verdict is its own."""
    signer = g.session(instance, g.github_token(instance))
    predicate = json.dumps(g.slo_predicate(release.now, [])).replace(
        '"due_soon": 7', '"due_soon": ' + "9" * 5000
    )
    payload = _statement(release.wheel, KINDS["slo"], predicate)
    g.sign_payload(signer, release.dist / "big.slo.sigstore.json", payload)
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel, release.sdist)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert (
        "big.slo.sigstore.json: invalid attestation: the statement is not JSON: a number too "
        "long to read (more than 4,300 digits)"
    ) in _failures(result)["bundles verify"]
    assert _decisions(result)[g.SDIST]["decision"] == "ALLOW", _failures(result, g.SDIST)


def test_a_signed_statement_repeating_a_key_is_refused_not_read_as_its_last(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`"findings": [overdue], ..., "findings": []`: read as its last key, the scan had no
    finding and the gate allowed; another reader would have read the overdue one."""
    signer = g.session(instance, g.github_token(instance))
    overdue = g.finding("PYSEC-9", "critical", release.now - 60 * g.DAY)
    predicate = json.dumps(g.slo_predicate(release.now - g.DAY, [overdue]))
    payload = _statement(release.wheel, KINDS["slo"], predicate[:-1] + ', "findings": []}')
    signer_bundle = signer.sign_statement(payload, "dup")  # sigstore's reader keeps the last
    (release.dist / "dup.slo.sigstore.json").write_text(signer_bundle.to_json())
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert (
        "dup.slo.sigstore.json: invalid attestation: the statement is not JSON: the key "
        "'findings' appears twice in one object"
    ) in _failures(result)["bundles verify"]


def test_a_builder_id_of_300000_characters_is_quoted_in_short(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """It was printed whole in the refusal and the check's `actual`: stderr and --json 1.2 MB,
    and the decision log's record over its 1 MiB limit (exit 3, forced by an allowed signer)."""
    signer = g.session(instance, g.github_token(instance))
    predicate = {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {
                "source": {"uri": "git+https://x/" + "R" * 300_000, "ref": "refs/x\n\x1b[2J"}
            },
        },
        "runDetails": {"builder": {"id": "B" * 300_000}},
    }
    g.write_statement(signer, release.dist / "long.provenance.sigstore.json", [release.wheel],
                      KINDS["provenance"], predicate)  # fmt: skip
    log = tmp_path / "decisions.log"
    result = _verify(
        invoke, tmp_path, g.strict_policy(instance), release.wheel, "--decision-log", log
    )
    assert result.exit_code == ExitCode.DENIED, result.stderr
    failures = _failures(result)["provenance"]
    shown = "'" + "B" * 100 + "'…"
    assert (
        f"long.provenance.sigstore.json: builder id {shown} does not match "
        f"'https://github\\\\.com/{g.REPOSITORY}/\\\\.github/workflows/.+'"
    ) in failures
    assert "source ref 'refs/x\\n\\x1b[2J' does not match 'refs/tags/v[0-9.]+'" in failures[-1]
    assert len(result.stdout) + len(result.stderr) < 64 * 1024
    assert log.stat().st_size < 64 * 1024  # the record was written: no exit 3


def test_a_future_finding_with_an_id_of_200000_characters_is_quoted_in_short(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    signer = g.session(instance, g.github_token(instance))
    later = g.finding("X" * 200_000, "high", release.now + 5 * g.DAY)
    g.write_statement(signer, release.dist / "later.slo.sigstore.json", [release.wheel],
                      KINDS["slo"], g.slo_predicate(release.now - g.DAY, [later]))  # fmt: skip
    result = _verify(invoke, tmp_path, g.strict_policy(instance), release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    [clock, published] = _failures(result)["vulnerability SLOs"]
    assert clock.startswith("later.slo.sigstore.json: " + "X" * 40 + "… in requests 2.31.0: ")
    assert "clock start" in clock and "publication" in published
    assert len(result.stdout) + len(result.stderr) < 64 * 1024


def test_a_component_whose_purl_says_another_version_is_refused_not_allowed(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`attest scan` read the purl (flask 2.2.5, overdue), the gate's `denied_packages:
    [flask@2.2.5]` the fields (flask 3.1.3) and allowed. One reader, one identity: refused; and
    a component only its purl names is that package for the gate too."""
    (release.dist / "acme_web-1.4.0.sbom.sigstore.json").unlink()
    signer = g.session(instance, g.github_token(instance))
    lying = {"name": "flask", "version": "3.1.3", "purl": "pkg:pypi/flask@2.2.5"}
    sbom = {**g.SBOM, "components": [*g.SBOM["components"], lying]}
    g.write_statement(signer, release.dist / "lying.sbom.sigstore.json", [release.wheel],
                      KINDS["sbom"], sbom)  # fmt: skip
    only_purl = {**g.SBOM, "components": [{"purl": "pkg:pypi/flask@2.2.5"}]}
    g.write_statement(signer, release.dist / "purl.sbom.sigstore.json", [release.wheel],
                      KINDS["sbom"], only_purl)  # fmt: skip
    policy = g.strict_policy(instance)
    policy["require"]["sbom"] = {"denied_packages": ["flask@2.2.5"]}
    result = _verify(invoke, tmp_path, policy, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert _failures(result)["sbom"] == [
        "lying.sbom.sigstore.json: malformed SBOM: component 'flask': purl says flask@2.2.5, "
        "name/version say flask 3.1.3",
        "purl.sbom.sigstore.json: denied package flask 2.2.5 (policy: flask@2.2.5)",
    ]


def test_attest_refuses_to_sign_a_scan_report_repeating_a_key(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """`attest attest --scan` signed the report as its last `findings` (none), and the gate
    allowed the release its overdue findings should have denied."""
    report = tmp_path / "scan.json"
    scanned = invoke(
        "scan", "--sbom", str(SCAN_FIXTURES / "sbom.cdx.json"), "--db", str(PYPA_FIXTURE),
        "--now", NOW, "--cache-dir", str(tmp_path / "cache"), "--format", "json", "-o", str(report),
    )  # fmt: skip
    assert scanned.exit_code == ExitCode.DENIED, scanned.stderr  # an overdue finding
    assert json.loads(report.read_text())["findings"]
    report.write_text(report.read_text().rstrip()[:-1] + ', "findings": []}')
    wheel = tmp_path / g.WHEEL
    wheel.write_bytes(b"a wheel\n")
    result = invoke(
        "attest", "--trust-config", str(instance.trust_config), "--identity-token",
        g.github_token(instance), "--predicate", "slo", "--scan", str(report), str(wheel),
    )  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert (
        f"{report}: the scan report is not JSON: the key 'findings' appears twice in one object"
    ) in result.stderr
    assert not list(tmp_path.glob("*.sigstore.json"))
