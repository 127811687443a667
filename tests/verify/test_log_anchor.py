"""`attest log anchor` signs the decision log's head on the real local instance, and
`attest verify-log --anchored` checks, offline, every anchor against the trust root, the named
signer and the log: cut records, a rewritten record and a forged anchor are refused, saying
why; no anchor at all is a refusal."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import LocalInstance
from tests.signed_release import stamp, utc_now
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


def _verify(invoke: Invoke, instance: LocalInstance, log: Path, *more: str) -> Result:
    return invoke(
        "verify-log", "--anchored", "--trusted-root", str(instance.trusted_root),
        "--certificate-identity", OPS, "--certificate-oidc-issuer", instance.issuer, *more,
        str(log),
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
    assert (
        "anchor 2.sigstore.json: signed by 'https://example.com/mallory' (issuer "
        f"'{instance.issuer}'), not by the signer expected: --certificate-identity "
        f"'{OPS}' --certificate-oidc-issuer '{instance.issuer}'"
    ) in forged.stderr
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


def test_deleted_anchors_show_only_against_what_the_checker_knows(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """The limit (README, THREAT_MODEL): the newest anchor deleted and the log cut back to the
    last one kept is a consistent log with anchors; --min-records and --max-anchor-age, known
    from elsewhere, refuse it, saying why."""
    log = _log(tmp_path / "decisions.jsonl", 3)
    assert _anchor(invoke, instance, log).exit_code == 0
    kept = log.read_bytes()
    _log(log, 2)
    assert _anchor(invoke, instance, log).exit_code == 0
    later = stamp(utc_now() + datetime.timedelta(hours=2))
    known = ("--min-records", "5", "--max-anchor-age", "3h", "--now", later)
    ok = _verify(invoke, instance, log, *known)
    assert ok.exit_code == 0, ok.stderr
    log_anchor.bundle_path(log, 5).unlink()
    log.write_bytes(kept)
    assert _verify(invoke, instance, log).exit_code == 0  # the limit: nothing shows it
    cut = _verify(invoke, instance, log, "--min-records", "5")
    assert cut.exit_code == ExitCode.DENIED
    assert "the anchors sign at most 3 records, fewer than --min-records 5" in cut.stderr
    stale = _verify(invoke, instance, log, "--max-anchor-age", "1h", "--now", later)
    assert stale.exit_code == ExitCode.DENIED
    assert "over 1h before" in stale.stderr and "newer anchors were deleted" in stale.stderr
    bad = _verify(invoke, instance, log, "--max-anchor-age", "soon")
    assert bad.exit_code == ExitCode.USAGE and "--max-anchor-age: not a duration" in bad.stderr


def test_anchors_of_another_log_name_are_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """Anchors sign the log's name: the log renamed with its anchors (or another host's log
    of another name put in its place) is refused, unless the checker states the name."""
    log = _log(tmp_path / "decisions.jsonl", 2)
    assert _anchor(invoke, instance, log).exit_code == 0
    renamed = tmp_path / "prod.jsonl"
    log.rename(renamed)
    log_anchor.directory(log).rename(log_anchor.directory(renamed))
    result = _verify(invoke, instance, renamed)
    assert result.exit_code == ExitCode.DENIED
    assert (
        "anchor 2.sigstore.json: signs the log named 'decisions.jsonl', not 'prod.jsonl': "
        "another log's anchor"
    ) in result.stderr
    stated = _verify(invoke, instance, renamed, "--log-name", "decisions.jsonl")
    assert stated.exit_code == 0, stated.stderr


def test_options_that_would_be_ignored_are_refused(
    invoke: Invoke, instance: LocalInstance, tmp_path: Path
) -> None:
    """--anchored checks the chain and the anchors: an option of the chain alone with it, or
    an option of the anchors without it, would be silently ignored: exit 2 naming it."""
    log = _log(tmp_path / "decisions.jsonl", 1)
    for option in (["--json"], ["--head"], ["--expect-head", "a" * 64], ["--repair-torn-tail"]):
        result = _verify(invoke, instance, log, *option)
        assert result.exit_code == ExitCode.USAGE, option
        assert f"{option[0]}: not with --anchored" in result.stderr
    for option in (["--min-records", "3"], ["--log-name", "x"], ["--trusted-root", str(log)]):
        result = invoke("verify-log", *option, str(log))
        assert result.exit_code == ExitCode.USAGE, option
        assert f"{option[0]}: only with --anchored" in result.stderr
