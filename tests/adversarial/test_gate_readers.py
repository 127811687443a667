"""Issue 14, the deploy gate's inputs: every file the gate reads (policy, trusted root, bundle,
decision log) is a regular file read no further than its limit, so a FIFO, `/dev/zero` or a 2 GiB
sparse file is one line and exit 2, never a hang or a MemoryError; a file that is not a decision
log is said to be one in one line (exit 2), not as one "tampered" finding per line; `--now` is
judged only between 1970 and 8999, where no date arithmetic on it can overflow. Last, a property
over each reader: whatever the bytes, exit 0, 1 or 2, and exit 2 is one line, never a traceback.

The runs that could block (a FIFO) are child processes with a deadline (`run_attest`)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attest.cli import cli
from tests import signed_release as g
from tests.adversarial.test_properties import BUNDLE_TEMPLATE, JSON, mutated
from tests.conftest import FIXTURES, LocalInstance, run_attest
from verify import decision_log
from verify.errors import ExitCode
from verify.sigstore_adapter import embedded_trusted_root

GIB = 1 << 30
ZEROS = "0" * 64
NOT_REGULAR = "is not a regular file (FIFO, socket, device), expected a file"
ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "https://github.com/acme/web/.github/workflows/release.yml@refs/tags/v1.4.0"


def _policy(path: Path, trust: Any = "production") -> Path:
    document = {
        "version": 1,
        "trust": trust,
        "identities": [{"issuer": ISSUER, "subject": SUBJECT}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def _hostile(tmp_path: Path, kind: str) -> Path:
    """A FIFO without a writer, the endless device, or 2 GiB of NULs that take no disk."""
    if kind == "zero":
        return Path("/dev/zero")
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    else:
        with path.open("wb") as handle:
            handle.truncate(2 * GIB)
    return path


def _one_error_line(done: subprocess.CompletedProcess[str], path: Path, reason: str) -> None:
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"attest: error: {path}: "), done.stderr
    assert reason in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


# --- non-regular and unbounded inputs ---------------------------------------------------------

REASONS = {
    ("policy", "fifo"): NOT_REGULAR,
    ("policy", "zero"): NOT_REGULAR,
    ("policy", "sparse"): "2048.0 MiB, over the 1 MiB limit for a policy",
    ("trusted root", "fifo"): NOT_REGULAR,
    ("trusted root", "zero"): NOT_REGULAR,
    ("trusted root", "sparse"): "2048.0 MiB, over the 4 MiB limit for a trusted root",
    ("decision log", "fifo"): "the decision log must be a regular file, not a FIFO or device",
    ("decision log", "zero"): "the decision log must be a regular file, not a FIFO or device",
    ("decision log", "sparse"): "not a decision log: neither its first nor its last line is a "
    "record the gate writes (name a new file or an existing decision log)",
}


@pytest.mark.parametrize(("what", "kind"), sorted(REASONS))
def test_attest_verify_refuses_a_hostile_input_in_one_line(
    tmp_path: Path, what: str, kind: str
) -> None:
    """Before: the FIFO hung the gate (root, log); /dev/zero and the sparse file as the root
    were read whole (MemoryError); the sparse log was exit 3 (as if retrying could help)."""
    hostile = _hostile(tmp_path, kind)
    artifact = tmp_path / "a.whl"
    artifact.write_bytes(b"a wheel")
    policy, extra = _policy(tmp_path / "policy.yaml"), []
    if what == "policy":
        policy = hostile
    elif what == "trusted root":
        policy = _policy(tmp_path / "policy.yaml", {"trusted_root": str(hostile)})
    else:
        extra = ["--decision-log", str(hostile)]
    done = run_attest("verify", "--policy", str(policy), *extra, str(artifact))
    _one_error_line(done, hostile, REASONS[what, kind])
    assert "DENY" not in done.stderr and "ALLOW" not in done.stderr  # nothing was decided


@pytest.mark.parametrize("kind", ["fifo", "zero", "sparse"])
@pytest.mark.parametrize("option", ["--trusted-root", "--bundle"])
def test_verify_bundle_refuses_a_hostile_root_or_bundle_in_one_line(
    tmp_path: Path, option: str, kind: str
) -> None:
    """The conformance protocol's inputs: a FIFO as --trusted-root hung it before."""
    hostile = _hostile(tmp_path, kind)
    files = {
        "--trusted-root": str(embedded_trusted_root("production")),
        "--bundle": str(tmp_path / "b"),
    }
    files[option] = str(hostile)
    (tmp_path / "b").write_text("{}")
    done = run_attest("verify-bundle", *(a for item in files.items() for a in item),
                      "--certificate-identity", SUBJECT, "--certificate-oidc-issuer", ISSUER,
                      f"sha256:{ZEROS}")  # fmt: skip
    if option == "--bundle" and kind == "sparse":  # a bundle too large is refused: a verdict
        assert done.returncode == ExitCode.DENIED, done.stderr
        assert done.stderr == (
            f"attest: error: refused bundle: {hostile}: 2048.0 MiB, over the 64 MiB limit for a "
            "bundle\n"
        )
        return
    reason = NOT_REGULAR if kind != "sparse" else "over the 4 MiB limit for a trusted root"
    _one_error_line(done, hostile, reason)


# --- the decision log -----------------------------------------------------------------------


def test_a_2_gib_line_of_nuls_is_not_a_decision_log_and_is_read_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """The 2 GiB sparse file is one "line" of NULs: before, one "tampered" finding (exit 1) and
    the gate's append exit 3. Read one record's worth at a time, it is not a log: exit 2."""
    import tracemalloc

    sparse = _hostile(tmp_path, "sparse")
    tracemalloc.start()
    try:
        with pytest.raises(decision_log.NotALog) as refused:
            decision_log.check(sparse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    assert refused.value.exit_code == ExitCode.USAGE
    assert str(refused.value) == (
        f"{sparse}: not a decision log: none of its lines is a record the gate writes (name a "
        "new file or an existing decision log)"
    )


def test_verify_log_on_a_file_that_is_not_a_log_says_so_once(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: exit 1 and one "line N: edited" per line of the policy, then "tampered"."""
    policy = _policy(tmp_path / "policy.yaml")
    for args in ([], ["--repair-torn-tail"], ["--json"]):
        result = invoke("verify-log", *args, str(policy))
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr == (
            f"attest: error: {policy}: not a decision log: none of its lines is a record the "
            "gate writes (name a new file or an existing decision log)\n"
            if args != ["--repair-torn-tail"]
            else f"attest: error: {policy}: not a decision log: its first line is not a record "
            "the gate writes (name a new file or an existing decision log)\n"
        )
        assert result.stdout == ""
    assert policy.read_text().startswith("identities:")  # the repair cut nothing


def test_verify_log_on_a_missing_file_is_a_usage_error_naming_it(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: exit 3 (operational: retry), though no retry finds a file that is not there."""
    missing = tmp_path / "decisions.jsonl"
    for args in ([], ["--repair-torn-tail"]):
        result = invoke("verify-log", *args, str(missing))
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr == f"attest: error: {missing}: no such decision log\n"
    assert not missing.exists()


def test_the_gate_appends_to_no_file_that_is_not_a_log(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: a policy named as the log was exit 3 ("the last line is not a record ..."); a
    text without its final newline was called a torn record, and the repair cut it away."""
    artifact = tmp_path / "a.whl"
    artifact.write_bytes(b"a wheel")
    policy = _policy(tmp_path / "policy.yaml")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"deploy notes, no newline at the end")
    for log in (policy, notes):
        before = log.read_bytes()
        result = invoke(
            "verify", "--policy", str(policy), "--decision-log", str(log), str(artifact)
        )
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr == (
            f"attest: error: {log}: not a decision log: neither its first nor its last line is a "
            "record the gate writes (name a new file or an existing decision log)\n"
        )
        repair = invoke("verify-log", "--repair-torn-tail", str(log))
        assert repair.exit_code == ExitCode.USAGE
        assert "not a decision log: its first line is not a record the gate writes" in repair.stderr
        assert log.read_bytes() == before


def test_a_log_whose_first_record_was_mangled_is_still_a_tampered_log(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """What tells a log from a file that is not one: any record of the gate's in it. An edit of
    the first record (even into text) stays a finding, exit 1."""
    log = tmp_path / "decisions.jsonl"
    for n in range(3):
        decision_log.append(log, [{"artifact": {"name": f"a{n}.whl"}, "decision": "ALLOW"}])
    lines = log.read_bytes().split(b"\n")
    lines[0] = b"this was record 0"
    log.write_bytes(b"\n".join(lines))
    result = invoke("verify-log", str(log))
    assert result.exit_code == ExitCode.DENIED
    assert f"attest: {log}: line 1: edited: not the bytes the gate wrote" in result.stderr
    assert f"{log}: the decision log was tampered with" in result.stderr


# --- --now ----------------------------------------------------------------------------------

SCAN = FIXTURES / "scan"
OUT_OF_RANGE = [
    "0001-01-01T00:00:00+01:00",  # before the calendar in UTC: OverflowError (verify: exit 2)
    "9999-12-31T23:59:59-01:00",  # after it in UTC: OverflowError, exit 3 in the scan
    "9999-12-31T23:59:59Z",  # in the calendar, but a due date 30 days later is not
    "1969-12-31T23:59:59Z",
    "9000-01-01T00:00:00Z",
]


def _now_run(command: str, now: str, tmp_path: Path) -> Result:
    runner = CliRunner()
    if command == "scan":
        args = ["scan", "--allow-stale-db", "--requirements", str(SCAN / "requirements.txt"),
                "--db", str(SCAN / "pypa"), "--now", now]  # fmt: skip
    else:
        artifact = tmp_path / "a.whl"
        artifact.write_bytes(b"a wheel")
        policy = _policy(tmp_path / "policy.yaml")
        args = ["verify", "--policy", str(policy), "--now", now, str(artifact)]
    return runner.invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize("now", OUT_OF_RANGE)
@pytest.mark.parametrize("command", ["verify", "scan"])
def test_a_now_outside_1970_to_8999_is_a_usage_error(
    tmp_path: Path, command: str, now: str
) -> None:
    """Before: the scan ended in "internal error: OverflowError" (exit 3) for both of the
    issue's times, and the gate accepted 9999-12-31, where any due date overflows."""
    result = _now_run(command, now, tmp_path)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr == (
        f"attest: error: --now {now!r} is outside the years 1970 to 8999 (UTC), the range the "
        "gate and the scan judge in\n"
    )


@pytest.mark.parametrize("now", ["1970-01-01T00:00:00Z", "8999-12-31T23:59:59Z"])
def test_the_scan_judges_at_either_end_of_the_range(tmp_path: Path, now: str) -> None:
    result = _now_run("scan", now, tmp_path)
    assert result.exit_code in (ExitCode.OK, ExitCode.DENIED), result.stderr
    assert "attest: scanned 2 components" in result.stderr


@pytest.mark.parametrize("now", ["1970-01-01T00:00:00Z", "8999-12-31T22:59:59-01:00"])
def test_the_gate_judges_a_real_release_at_either_end_of_the_range(
    instance: LocalInstance, release: g.Release, tmp_path: Path, now: str
) -> None:
    """Every rule of the strict policy runs (SLOs, ages, waivers): a verdict, never exit 3."""
    policy = g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance))
    result = CliRunner().invoke(
        cli, ["verify", "--policy", str(policy), "--json", "--now", now, str(release.wheel)]
    )
    assert result.exit_code == ExitCode.DENIED, result.stderr
    failures = " ".join(
        f for c in json.loads(result.stdout)["decisions"][0]["checks"] for f in c["failures"]
    )
    too = "after the judging instant" if now.startswith("1970") else "old"
    assert too in failures


# --- patterns with inline flags ---------------------------------------------------------------


def test_inline_flags_in_ref_patterns_are_honoured_everywhere(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`(?i)` in a ref pattern (identity shorthand, certificate extension, provenance) means
    what RE2 says: the release's refs/tags/v1.4.0 matches REFS/TAGS/V… without regard to case;
    the issue saw exit 3 here."""
    policy = g.strict_policy(instance)
    flagged = r"(?i)REFS/TAGS/V[0-9.]+"
    policy["identities"][0]["github"]["ref_pattern"] = flagged
    policy["identities"][0]["extensions"]["source_ref_pattern"] = flagged
    policy["require"]["provenance"]["ref_pattern"] = "refs/(?i:TAGS)/v(?s).+"
    path = g.write_policy(tmp_path / "policy.yaml", policy)
    when = (release.now + g.DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = CliRunner().invoke(
        cli, ["verify", "--policy", str(path), "--now", when, str(release.wheel)]
    )
    assert result.exit_code == ExitCode.OK, result.stderr
    assert f"attest: ALLOW {release.wheel} (sha256" in result.stderr


@pytest.mark.parametrize("flag", ["(?x)", "(?a)", "(?L)", "(?u)", "(?#note)"])
def test_inline_flags_re2_lacks_are_a_policy_error_naming_the_pattern(
    invoke: Callable[..., Result], tmp_path: Path, flag: str
) -> None:
    policy = tmp_path / "policy.yaml"
    rule = {"issuer": ISSUER, "github": {"repository": "acme/web", "ref_pattern": f"{flag}refs/.+"}}
    policy.write_text(yaml.safe_dump({"version": 1, "trust": "production", "identities": [rule]}))
    result = invoke("verify", "--policy", str(policy), "a.whl")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.count("\n") == 1
    assert (
        f"attest: error: {policy}: identities/0/github/ref_pattern: '{flag}refs/.+' is not a "
        "valid regular expression: invalid perl operator"
    ) in result.stderr


# --- every reader, any bytes: exit 0, 1 or 2, one line when 2, never a traceback -------------

EXAMPLES = int(os.environ.get("ATTEST_PROPERTY_EXAMPLES", "40"))
CLI = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BYTES = st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace"))


def _clean(result: Result, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """The CLI's contract for hostile input."""
    said = result.stderr
    assert result.exit_code in allowed, said
    assert "Traceback" not in said and "internal error" not in said, said
    if result.exit_code == ExitCode.USAGE:
        assert said.count("\n") == 1 and said.startswith("attest: error: "), said


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _policy_text() -> dict[str, Any]:
    rule = {"issuer": ISSUER, "github": {"repository": "acme/web", "ref_pattern": "refs/.+"}}
    return {"version": 1, "trust": "production", "identities": [rule],
            "require": {"signature": True, "max_attestation_age": "30d",
                        "vulnerabilities": {"max_scan_age": "7d", "windows": {"high": 30}}}}  # fmt: skip


POLICIES = (
    BYTES
    | JSON.map(lambda d: yaml.safe_dump(d).encode())
    | mutated(_policy_text(), JSON | st.sampled_from(["99999999999d", "(?i)x", "(?x)x", "1d"])).map(
        lambda d: yaml.safe_dump(d).encode()
    )
)


@CLI
@example(
    content=b"version: 1\ntrust: production\nidentities: []\nmax_trust_root_age: 99999999999d\n"
)
@given(content=POLICIES)
def test_any_policy_file_is_a_verdict_or_one_line(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    where = tmp_path_factory.mktemp("policy")
    (where / "policy.yaml").write_bytes(content)
    (where / "a.whl").write_bytes(b"a wheel")
    result = _run("verify", "--policy", where / "policy.yaml", where / "a.whl")
    _clean(result, (1, 2))  # a dummy artifact is never allowed


def _root_template() -> Any:
    return json.loads(embedded_trusted_root("production").read_bytes())


ROOTS = (
    BYTES
    | JSON.map(lambda d: json.dumps(d).encode())
    | mutated(_root_template()).map(lambda d: json.dumps(d).encode())
)


@CLI
@given(content=ROOTS)
def test_any_trusted_root_file_is_a_verdict_or_one_line(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    where = tmp_path_factory.mktemp("root")
    (where / "root.json").write_bytes(content)
    (where / "b.sigstore.json").write_text(json.dumps(BUNDLE_TEMPLATE))
    result = _run("verify-bundle", "--trusted-root", where / "root.json",
                  "--bundle", where / "b.sigstore.json", "--certificate-identity", SUBJECT,
                  "--certificate-oidc-issuer", ISSUER, f"sha256:{ZEROS}")  # fmt: skip
    _clean(result, (1, 2))  # a made-up bundle never verifies


BUNDLES = (
    BYTES
    | JSON.map(lambda d: json.dumps(d).encode())
    | mutated(copy.deepcopy(BUNDLE_TEMPLATE)).map(lambda d: json.dumps(d).encode())
)


@CLI
@given(content=BUNDLES)
def test_any_bundle_file_is_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    where = tmp_path_factory.mktemp("bundle")
    (where / "b.sigstore.json").write_bytes(content)
    result = _run("verify-bundle", "--bundle", where / "b.sigstore.json",
                  "--certificate-identity", SUBJECT, "--certificate-oidc-issuer", ISSUER,
                  f"sha256:{ZEROS}")  # fmt: skip
    _clean(result, (1, 2))
    assert result.stderr.count("\n") == 1, result.stderr


def _records(count: int) -> list[bytes]:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"attest-records-{os.getpid()}.jsonl"
    path.unlink(missing_ok=True)
    decision_log.append(path, [{"artifact": {"name": f"a{n}.whl"}} for n in range(count)])
    lines = path.read_bytes().splitlines()
    path.unlink()
    return lines


RECORDS = _records(4)
LOG_LINES = st.lists(
    st.sampled_from(RECORDS) | st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
    max_size=8,
)


@CLI
@example(lines=[b"\0" * 40])
@example(lines=[b"{}", RECORDS[1]])
@given(lines=LOG_LINES)
def test_any_decision_log_is_a_verdict_or_one_line(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    """Every line ends in its newline, so none is a torn append (exit 3 by design, with its
    repair named); a log with no record of the gate's in it is not a log: exit 2."""
    log = tmp_path_factory.mktemp("log") / "decisions.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    result = _run("verify-log", log)
    _clean(result)
    ours = any(decision_log._parse(line).seq is not None for line in lines)
    assert (result.exit_code == ExitCode.USAGE) == (bool(lines) and not ours), result.stderr


NOW_TEXTS = (
    st.text(max_size=40)
    | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    | st.sampled_from(OUT_OF_RANGE)
)


@CLI
@given(now=NOW_TEXTS.filter(lambda t: "\0" not in t))  # no process takes a NUL in an argument
def test_any_now_is_a_verdict_or_one_line(
    tmp_path_factory: pytest.TempPathFactory, now: str
) -> None:
    where = tmp_path_factory.mktemp("now")
    for command in ("verify", "scan"):
        _clean(_now_run(command, now, where))
