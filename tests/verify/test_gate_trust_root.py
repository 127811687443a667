"""A malformed trusted root is refused when it is loaded (exit 2, one line naming the file), by
`attest verify` and `attest verify-bundle` alike; a log key is believed only inside its validFor;
refusals quote no more of a bundle or a root than a short escaped excerpt; a broken co-signature
is a note for its artifact (second outside attack on the gate, findings 1, 2, 7, m2, m5)."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.errors import ExitCode
from verify.sigstore_adapter import authority_certificates
from verify.trust import read_root, timed_verifier

Invoke = Callable[..., Result]
SECRET = "ghp_SEKRETSEKRET0123456789"
NOT_DER = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()


def _first_cert(root: dict[str, Any], kind: str = "certificateAuthorities") -> dict[str, Any]:
    certificate: dict[str, Any] = root[kind][0]["certChain"]["certificates"][0]
    return certificate


def _truncated(root: dict[str, Any]) -> None:
    raw = base64.b64decode(_first_cert(root)["rawBytes"])
    _first_cert(root)["rawBytes"] = base64.b64encode(raw[:-10]).decode()


def _tsa_with_bad_certificate(root: dict[str, Any]) -> None:
    root["timestampAuthorities"] = [copy.deepcopy(root["certificateAuthorities"][0])]
    _first_cert(root, "timestampAuthorities")["rawBytes"] = NOT_DER


LATER = "2999-01-01T00:00:00Z"  # a validFor.start that has not come
MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "secret as certificate": (
        lambda r: _first_cert(r).update(rawBytes=base64.b64encode(SECRET.encode()).decode()),
        "certificateAuthorities[0].certChain.certificates[0]: not a DER certificate",
    ),
    "truncated DER": (
        _truncated,
        "certificateAuthorities[0].certChain.certificates[0]: not a DER certificate",
    ),
    "empty chain": (
        lambda r: r["certificateAuthorities"][0]["certChain"].update(certificates=[]),
        "certificateAuthorities[0].certChain: no certificate",
    ),
    "no CA": (
        lambda r: r.update(certificateAuthorities=[]),
        "certificateAuthorities: empty, but every verification needs one",
    ),
    "no log": (lambda r: r.update(tlogs=[]), "tlogs: empty, but every verification needs one"),
    "no CT log": (
        lambda r: r.update(ctlogs=[]),
        "ctlogs: empty, but every verification needs one",
    ),
    "empty log key": (
        lambda r: r["tlogs"][0]["publicKey"].update(rawBytes=""),
        "tlogs[0].publicKey: not a key sigstore can use (public key is empty)",
    ),
    "log key of another type": (
        lambda r: r["tlogs"][0]["publicKey"].update(keyDetails="PKIX_RSA_PKCS1V15_2048_SHA256"),
        "tlogs[0].publicKey: not a key sigstore can use (invalid key format)",
    ),
    "secret as log key": (
        lambda r: r["tlogs"][0]["publicKey"].update(
            rawBytes=base64.b64encode(SECRET.encode() * 3).decode()
        ),
        "tlogs[0].publicKey: not a key sigstore can use (could not load DER-formatted public key)",
    ),
    "CT log key not DER": (
        lambda r: r["ctlogs"][0]["publicKey"].update(rawBytes=NOT_DER),
        "ctlogs[0].publicKey: not a key sigstore can use (could not load DER-formatted public key)",
    ),
    "TSA certificate not DER": (
        _tsa_with_bad_certificate,
        "timestampAuthorities[0].certChain.certificates[0]: not a DER certificate",
    ),
    "CA not valid yet": (
        lambda r: [ca["validFor"].update(start=LATER) for ca in r["certificateAuthorities"]],
        "a Sigstore trusted root not valid yet: certificateAuthorities: every validFor starts "
        "after now (the earliest at 2999-01-01T00:00:00+00:00), so sigstore can verify nothing",
    ),
    "log not valid yet": (
        lambda r: [log["publicKey"]["validFor"].update(start=LATER) for log in r["tlogs"]],
        "a Sigstore trusted root not valid yet: tlogs: every validFor starts after now",
    ),
    "CT log not valid yet": (
        lambda r: [log["publicKey"]["validFor"].update(start=LATER) for log in r["ctlogs"]],
        "a Sigstore trusted root not valid yet: ctlogs: every validFor starts after now",
    ),
    "extra key": (
        lambda r: r.update({f"{SECRET}\x1b[2J\n\u202eEVIL{'Z' * 300}": 1}),
        "not a readable Sigstore trusted root: document: a key the format does not have",
    ),
}


def _root(
    instance: LocalInstance, tmp_path: Path, change: Callable[[dict[str, Any]], object]
) -> Path:
    root = json.loads(instance.trusted_root.read_text())
    change(root)
    path = tmp_path / "root.json"
    path.write_text(json.dumps(root))
    return path


def _verify_bundle(invoke: Invoke, instance: LocalInstance, bundle: Path, artifact: Path,
                   root: Path | None = None) -> Result:  # fmt: skip
    return invoke(
        "verify-bundle", "--bundle", str(bundle), "--certificate-identity", g.WORKFLOW,
        "--certificate-oidc-issuer", instance.issuer,
        "--trusted-root", str(root or instance.trusted_root), str(artifact),
    )  # fmt: skip


def _one_line_without_secret(result: Result) -> str:
    assert SECRET not in result.stdout + result.stderr
    assert "SEKRET" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _sigstore_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("sigstore")]


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_root_is_refused_when_loaded(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    """Was exit 3 (`internal error: ValueError: error parsing asn1 value`, `MetadataError`:
    `Fulcio certificates not found in trusted root` for CAs that all start later), or a deny
    after six unprefixed `Failed to load a trusted root key` lines."""
    change, reason = MALFORMED[case]
    root = _root(instance, tmp_path, change)
    caplog.set_level(logging.DEBUG)
    policy = g.strict_policy(instance)
    policy["trust"]["trusted_root"] = str(root)
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    gated = invoke("verify", "--policy", str(path), str(release.wheel))
    checked = _verify_bundle(invoke, instance, release.dist / f"{g.WHEEL}.sigstore.json",
                             release.wheel, root)  # fmt: skip
    for result in (gated, checked):
        assert result.exit_code == ExitCode.USAGE, result.stderr
        line = _one_line_without_secret(result)
        assert str(root) in line and reason in line, line
        assert "Z" * 40 not in line
    assert not [m for m in _sigstore_records(caplog) if "trusted root key" in m]


def test_a_root_with_one_started_entry_of_each_part_loads(instance: LocalInstance) -> None:
    """Only a part with no entry started is refused: a CA or log announced ahead is kept."""
    root = json.loads(instance.trusted_root.read_text())
    for kind in ("certificateAuthorities", "tlogs", "ctlogs"):
        later = copy.deepcopy(root[kind][0])
        later.get("publicKey", later)["validFor"]["start"] = LATER
        root[kind].append(later)
    read = read_root(json.dumps(root).encode(), "root.json")
    alone = read_root(instance.trusted_root.read_bytes(), "root.json")
    assert len(authority_certificates(read.root)) == 2 * len(authority_certificates(alone.root))
    timed_verifier(read.root)  # sigstore builds its verifier from it


def test_a_log_key_vouches_only_inside_its_validity(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """sigstore-python only drops a key whose start is after the wall clock: a key the root
    retired in 1971 still verified an entry integrated today."""
    root = _root(instance, tmp_path, lambda r: r["tlogs"][0]["publicKey"]["validFor"].update(
        end="1971-01-01T00:00:00Z"))  # fmt: skip
    result = _verify_bundle(invoke, instance, release.dist / f"{g.WHEEL}.sigstore.json",
                            release.wheel, root)  # fmt: skip
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert "outside the validFor of the log key in the trusted root" in result.stderr
    policy = g.strict_policy(instance)
    policy["trust"]["trusted_root"] = str(root)
    gated = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml", policy)),
                   "--json", str(release.wheel))  # fmt: skip
    assert gated.exit_code == ExitCode.DENIED, gated.stderr
    assert "outside the validFor of the log key" in gated.stdout
    assert _verify_bundle(invoke, instance, release.dist / f"{g.WHEEL}.sigstore.json",
                          release.wheel).exit_code == 0  # fmt: skip


def _ended(entry: dict[str, Any]) -> None:
    entry.get("publicKey", entry)["validFor"]["end"] = "1971-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("certificateAuthorities", "its certificate was issued at "),
        ("ctlogs", "outside the validFor of that CT log's key in the trust root"),
    ],
)
def test_a_ca_and_a_ct_log_vouch_only_inside_their_validity(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path,
    kind: str, reason: str,
) -> None:  # fmt: skip
    """sigstore checks neither: a CA the root retired in 1971 still issued today's signer."""
    root = _root(instance, tmp_path, lambda r: [_ended(entry) for entry in r[kind]])
    bundle = release.dist / f"{g.WHEEL}.sigstore.json"
    result = _verify_bundle(invoke, instance, bundle, release.wheel, root)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    assert reason in result.stderr
    if kind == "certificateAuthorities":
        assert (
            "outside the validFor of its certificate authority 'CN=attest-dev intermediate"
            in result.stderr
        )
    policy = g.strict_policy(instance)
    policy["trust"]["trusted_root"] = str(root)
    gated = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml", policy)),
                   "--json", str(release.wheel))  # fmt: skip
    assert gated.exit_code == ExitCode.DENIED, gated.stderr
    assert reason in gated.stdout


def _mutated(release: g.Release, name: str, change: Callable[[dict[str, Any]], object]) -> Path:
    bundle = json.loads((release.dist / f"{g.WHEEL}.sigstore.json").read_text())
    change(bundle)
    path = release.dist / name
    path.write_text(json.dumps(bundle))
    return path


def _entry(bundle: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = bundle["verificationMaterial"]["tlogEntries"][0]
    return entry


BUNDLES: dict[str, tuple[Callable[[dict[str, Any]], object], str, str]] = {
    "extra key": (
        lambda b: b.update({f"{SECRET}KEY": 1}),
        "document: a key the format does not have",
        SECRET,
    ),
    "integrated time past uint64": (
        lambda b: _entry(b).update(integratedTime="99999999999999999999"),
        "integratedTime: Value error, Value exceeds uint64 domain",
        "9999999999",
    ),
    "body that is not the logged one": (
        lambda b: _entry(b).update(
            canonicalizedBody=base64.b64encode(json.dumps({SECRET: 1}).encode()).decode()
        ),
        "inclusion proof contains invalid root hash",
        "b'",
    ),
}


@pytest.mark.parametrize("case", list(BUNDLES))
def test_a_refused_bundle_is_not_quoted(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path, case: str
) -> None:
    """Was `InvalidBundle: ghp_SEKRET…KEY: Extra inputs are not permitted`, `Value exceeds
    uint64 domain: 99999999999999999999`, the root hash as a Python bytes literal."""
    change, reason, never = BUNDLES[case]
    bundle = _mutated(release, "odd.sigstore.json", change)
    result = _verify_bundle(invoke, instance, bundle, release.wheel)
    assert result.exit_code == ExitCode.DENIED, result.stderr
    line = _one_line_without_secret(result)
    assert reason in line and never not in line, line
    gated = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml",
                   g.strict_policy(instance))), "--json", str(release.wheel))  # fmt: skip
    assert SECRET not in gated.stdout + gated.stderr and never not in gated.stdout, gated.stdout


def test_a_broken_co_signature_is_a_note_for_its_artifact(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """Was listed as "concerns no artifact judged here"; like a co-signature that does not
    verify, it does not count and is named for the artifact, without denying it."""
    (release.dist / f"{g.WHEEL}.x.sigstore.json").write_text('{"mediaType": "cut sho')
    policy = g.write_policy(tmp_path / "p.yaml", g.strict_policy(instance))
    result = invoke("verify", "--policy", str(policy), "--json", str(release.wheel))
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert not [u for u in run["unjudged"] if u["path"].endswith(".x.sigstore.json")]
    checks = {c["check"]: c for c in run["decisions"][0]["checks"]}
    assert f"not counted: {g.WHEEL}.x.sigstore.json" in checks["signature"]["actual"]
    policy = g.write_policy(tmp_path / "p2.yaml", {**g.strict_policy(instance), "k_of_n": 2})
    short = invoke("verify", "--policy", str(policy), "--json", str(release.wheel))
    failures = json.loads(short.stdout)["decisions"][0]["checks"]
    said = [f for c in failures for f in c["failures"] if ".x.sigstore.json" in f]
    assert said == [f"{g.WHEEL}.x.sigstore.json: unparsable bundle: JSONDecodeError: "
                    "Unterminated string starting at: line 1 column 15 (char 14)"], said  # fmt: skip


def test_a_bundle_chain_with_a_root_ca_prints_no_library_line(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """sigstore warns `this bundle contains a root CA` through `logging`; it reached stderr
    unprefixed. Only the leaf is used, verified against the trust root."""
    root = json.loads(instance.trusted_root.read_text())

    def chained(bundle: dict[str, Any]) -> None:
        leaf = bundle["verificationMaterial"].pop("certificate")
        chain = [leaf, *root["certificateAuthorities"][0]["certChain"]["certificates"]]
        bundle["verificationMaterial"]["x509CertificateChain"] = {"certificates": chain}
        bundle["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"

    caplog.set_level(logging.DEBUG)
    bundle = _mutated(release, "chained.bundle.json", chained)
    result = _verify_bundle(invoke, instance, bundle, release.wheel)
    assert result.exit_code == 0, result.stderr
    assert not [m for m in _sigstore_records(caplog) if "root CA" in m]
    assert "root CA" not in result.stderr  # attest's own handler of sigstore's logger too


# --- a root that does not match names what (was "candidates exhausted", or a log key's time) --

MISMATCHED = {
    "tlogs": "its transparency log entry names log id ",
    "certificateAuthorities": "as issuer, but that authority's key did not sign it",
    "ctlogs": "its certificate's SCT names CT log id ",
}


@pytest.mark.parametrize("part", list(MISMATCHED))
def test_a_root_mismatch_names_what_did_not_match(
    invoke: Invoke,
    instance: LocalInstance,
    other_instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    part: str,
) -> None:
    """The instance's root with one part (its logs, its CAs, its CT logs) another instance's:
    the refusal names that part alone, for the gate and `verify-bundle` alike."""
    other = json.loads(other_instance.trusted_root.read_text())
    root = _root(instance, tmp_path, lambda r: r.update({part: other[part]}))
    checked = _verify_bundle(invoke, instance, release.dist / f"{g.WHEEL}.sigstore.json",
                             release.wheel, root)  # fmt: skip
    assert checked.exit_code == ExitCode.DENIED, checked.stderr
    policy = g.strict_policy(instance)
    policy["trust"]["trusted_root"] = str(root)
    gated = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml", policy)),
                   "--json", str(release.wheel))  # fmt: skip
    assert gated.exit_code == ExitCode.DENIED, gated.stderr
    for text in (checked.stderr, gated.stdout):
        assert "it does not match the trust root: " in text, text
        assert [reason for reason in MISMATCHED.values() if reason in text] == [MISMATCHED[part]]
        assert "candidates exhausted" not in text and "outside the validFor" not in text


def test_the_public_root_names_the_log_the_ca_and_the_ct_log(
    invoke: Invoke, instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = g.strict_policy(instance)
    policy["trust"] = "production"
    gated = invoke("verify", "--policy", str(g.write_policy(tmp_path / "p.yaml", policy)),
                   "--json", str(release.wheel))  # fmt: skip
    assert gated.exit_code == ExitCode.DENIED, gated.stderr
    assert "not a log of the trust root (it holds: " in gated.stderr
    assert (
        "its certificate's issuer 'CN=attest-dev intermediate,O=att…' is not a certificate "
        "authority of the trust root (it holds: CN=sigstore,O=sigstore.dev; " in gated.stderr
    )
    assert "not a CT log of the trust root" in gated.stderr
