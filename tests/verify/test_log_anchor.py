"""`attest log anchor` signs the decision log's head on the real local instance, and
`attest verify-log --anchored` checks, offline, every anchor against the trust root, the named
signer and the log: cut records, a rewritten record and a forged anchor are refused, saying
why; no anchor at all is a refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import LocalInstance
from verify import decision_log, log_anchor
from verify.errors import ExitCode

Invoke = Callable[..., Result]
OPS = "https://example.com/ops"


def _log(path: Path, count: int) -> Path:
    decision_log.append(path, [{"decision": "ALLOW", "n": i} for i in range(count)])
    return path


def _anchor(invoke: Invoke, instance: LocalInstance, log: Path, who: str = OPS) -> Result:
    env = {"ATTEST_IDENTITY_TOKEN": instance.token(who)}
    return invoke("log", "anchor", "--trust-config", str(instance.trust_config), str(log), env=env)


def _verify(invoke: Invoke, instance: LocalInstance, log: Path, root: Path | None = None) -> Result:
    return invoke(
        "verify-log", "--anchored", "--trusted-root", str(root or instance.trusted_root),
        "--certificate-identity", OPS, "--certificate-oidc-issuer", instance.issuer, str(log),
    )  # fmt: skip


def test_anchored_log_verifies_and_every_tampering_is_named(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    log = _log(tmp_path / "decisions.jsonl", 3)
    made = _anchor(invoke, instance, log)
    assert made.exit_code == 0, made.stderr
    assert log_anchor.bundle_path(log, 3).is_file()
    _log(log, 2)  # appended after the anchor: still holds
    made = _anchor(invoke, instance, log)
    assert made.exit_code == 0, made.stderr
    again = _anchor(invoke, instance, log)
    assert again.exit_code == ExitCode.USAGE and "already anchored at 5 records" in again.stderr
    ok = _verify(invoke, instance, log)
    assert ok.exit_code == 0, ok.stderr
    assert "2 anchor(s) hold, the newest at 5 records" in ok.stderr
    lines = log.read_bytes().splitlines(keepends=True)
    # truncation below the newest anchor (a consistent prefix: the chain alone sees nothing)
    log.write_bytes(b"".join(lines[:4]))
    cut = _verify(invoke, instance, log)
    assert cut.exit_code == ExitCode.DENIED
    assert "5.sigstore.json: the log holds 4 records, fewer than the 5 anchored" in cut.stderr
    # a record before the anchors rewritten, and the chain rebuilt after it: a consistent log
    rewritten = tmp_path / "rewritten.jsonl"
    records = [json.loads(line) for line in lines]
    records[1]["decision"] = "DENY"
    decision_log.append(
        rewritten,
        [{k: v for k, v in r.items() if k not in ("seq", "prev", "hash")} for r in records],
    )
    assert decision_log.check(rewritten).intact
    log.write_bytes(rewritten.read_bytes())
    bad = _verify(invoke, instance, log)
    assert bad.exit_code == ExitCode.DENIED
    assert "3.sigstore.json: record 3 hashes to" in bad.stderr and "was rewritten" in bad.stderr


def test_forged_anchors_are_refused(
    invoke: Invoke, instance: LocalInstance, other_instance: LocalInstance, tmp_path: Path
) -> None:
    log = _log(tmp_path / "decisions.jsonl", 2)
    assert _anchor(invoke, instance, log, who="https://example.com/mallory").exit_code == 0
    forged = _verify(invoke, instance, log)
    assert forged.exit_code == ExitCode.DENIED
    assert "2.sigstore.json: does not verify" in forged.stderr
    log_anchor.bundle_path(log, 2).unlink()
    assert _anchor(invoke, other_instance, log).exit_code == 0  # another root's signer
    assert _verify(invoke, instance, log).exit_code == ExitCode.DENIED
    log_anchor.bundle_path(log, 2).unlink()
    assert _anchor(invoke, instance, log).exit_code == 0
    anchor = log_anchor.bundle_path(log, 2)
    anchor.rename(anchor.with_name("1.sigstore.json"))  # claims another count
    renamed = _verify(invoke, instance, log)
    assert renamed.exit_code == ExitCode.DENIED
    assert "1.sigstore.json: signs 2 records" in renamed.stderr


def test_anchored_with_no_anchor_is_a_refusal(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    log = _log(tmp_path / "decisions.jsonl", 1)
    result = _verify(invoke, instance, log)
    assert result.exit_code == ExitCode.DENIED
    assert "no anchors in" in result.stderr and "an empty set never allows" in result.stderr
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert "has no record: nothing to anchor" in _anchor(invoke, instance, empty).stderr
