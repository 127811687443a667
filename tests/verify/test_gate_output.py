"""What `attest verify` prints (issue 16): one summary line ending every run, `-q` with only the
denials and that line, and `-` (standard input) for the gate's one-file options, on a real
release signed against the local instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from attest.cli import cli
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify.command import summary
from verify.errors import ExitCode
from verify.policy import MAX_POLICY

DEV_ROOT = "; trust root: the local development instance (never for production)"


def _run(*args: str | Path, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)


def _policy(tmp_path: Path, instance: LocalInstance, **changes: object) -> Path:
    return g.write_policy(tmp_path / "policy.yaml", {**g.strict_policy(instance), **changes})


def _lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


def test_summary_text() -> None:
    assert summary(200, 2, "enforce") == "200 artifacts: 198 allowed, 2 denied"
    assert summary(1, 0, "enforce") == "1 artifact: 1 allowed, 0 denied"
    assert summary(3, 1, "audit") == (
        "3 artifacts: 2 allowed, 1 denied (audit mode: would deny, allowed through; exiting 0)"
    )
    assert summary(0, 0, "enforce") == "0 artifacts: none allowed (an empty set never allows)"


def test_an_all_allowed_run_ends_with_the_summary(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    result = _run("verify", "--policy", _policy(tmp_path, instance), release.wheel, release.sdist)
    assert result.exit_code == 0, result.stderr
    assert _lines(result)[-1] == f"attest: 2 artifacts: 2 allowed, 0 denied{DEV_ROOT}"
    assert f"attest: ALLOW {release.wheel}" in result.stderr  # without -q: every decision


def test_a_run_with_a_denial_ends_with_the_summary_as_its_refusal(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    stranger = release.dist / "stranger.whl"
    stranger.write_bytes(b"unsigned\n")
    policy = _policy(tmp_path, instance)
    result = _run("verify", "--policy", policy, release.wheel, stranger, release.sdist)
    assert result.exit_code == ExitCode.DENIED
    assert _lines(result)[-1] == f"attest: error: 3 artifacts: 2 allowed, 1 denied{DEV_ROOT}"
    assert "denied 1 of 3" not in result.stderr  # the old ending is gone, not repeated


def test_an_audit_run_with_a_denial_says_it_was_let_through(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    stranger = release.dist / "stranger.whl"
    stranger.write_bytes(b"unsigned\n")
    policy = _policy(tmp_path, instance, mode="audit")
    result = _run("verify", "--policy", policy, release.wheel, stranger)
    assert result.exit_code == 0, result.stderr
    assert _lines(result)[-1] == (
        "attest: 2 artifacts: 1 allowed, 1 denied (audit mode: would deny, allowed through; "
        f"exiting 0){DEV_ROOT}"
    )


def test_no_artifact_is_no_allow_and_the_error_says_so(
    instance: LocalInstance, tmp_path: Path
) -> None:
    result = _run("verify", "--policy", _policy(tmp_path, instance))
    assert result.exit_code == ExitCode.USAGE
    assert _lines(result) == [
        "attest: error: 0 artifacts: none allowed (an empty set never allows): name at least "
        "one ARTIFACT to verify"
    ]


@pytest.mark.parametrize("quiet", ["-q", "--quiet"])
def test_quiet_prints_only_the_denials_and_the_summary(
    instance: LocalInstance, release: g.Release, tmp_path: Path, quiet: str
) -> None:
    strangers = [release.dist / f"stranger-{i}.whl" for i in range(5)]
    for path in strangers:
        path.write_bytes(b"unsigned\n")
    artifacts = [release.wheel, *strangers, release.sdist]
    policy = _policy(tmp_path, instance)
    result = _run("verify", quiet, "--json", "--policy", policy, *artifacts)
    assert result.exit_code == ExitCode.DENIED
    lines = _lines(result)
    denied = [d for d in json.loads(result.stdout)["decisions"] if d["decision"] == "DENY"]
    assert len(denied) == 5
    # per denial: its DENY line, then each failed check and that check's failures
    failed = [c for d in denied for c in d["checks"] if c["result"] == "FAIL"]
    assert failed and all(c["failures"] for c in failed)
    assert len(lines) == len(denied) + sum(1 + len(c["failures"]) for c in failed) + 1
    assert lines[-1] == f"attest: error: 7 artifacts: 2 allowed, 5 denied{DEV_ROOT}"
    assert [line for line in lines if line.startswith("attest: DENY")] == [
        f"attest: DENY {p} (sha256 {d['artifact']['sha256']})"
        for p, d in zip(strangers, denied, strict=True)
    ]
    assert "ALLOW" not in result.stderr and "PASS" not in result.stderr
    assert "expected:" not in result.stderr and "warning" not in result.stderr


@pytest.mark.parametrize("where", ["after", "before"])  # verify's own -q, attest's anywhere
def test_quiet_all_allowed_prints_the_summary_alone(
    instance: LocalInstance, release: g.Release, tmp_path: Path, where: str
) -> None:
    policy = _policy(tmp_path, instance)
    words = ["verify", "--policy", policy, release.wheel, release.sdist]
    result = _run(*(["-q", *words] if where == "before" else [*words, "-q"]))
    assert result.exit_code == 0, result.stderr
    assert _lines(result) == [f"attest: 2 artifacts: 2 allowed, 0 denied{DEV_ROOT}"]


def test_a_dist_glob_that_holds_the_bundles_is_refused(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    """`attest verify dist/*`: the bundles were judged as artifacts and denied (exit 1)."""
    named = sorted(release.dist.iterdir())
    result = _run("verify", "--policy", _policy(tmp_path, instance), *named)
    assert result.exit_code == ExitCode.USAGE
    first = next(p for p in named if p.name.endswith(".sigstore.json"))
    others = sum(p.name.endswith(".sigstore.json") for p in named) - 1
    assert _lines(result) == [
        f"attest: error: {first} is a Sigstore bundle (evidence), not an artifact ({others} more "
        "such argument(s) too): name the artifacts, e.g. dist/*.whl dist/*.tar.gz"
    ]


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_one_file_named_twice_is_refused(
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spelling: str,
) -> None:
    """It was judged twice and counted as 2 artifacts."""
    monkeypatch.chdir(release.dist)
    again = g.WHEEL if spelling == "same" else f"../{release.dist.name}/{g.WHEEL}"
    result = _run("verify", "--policy", _policy(tmp_path, instance), g.WHEEL, again)
    assert result.exit_code == ExitCode.USAGE
    said = "is named twice" if spelling == "same" else f"and {again} are the same file"
    assert _lines(result) == [f"attest: error: {g.WHEEL} {said}: name each artifact once"]


# --- `-` --------------------------------------------------------------------------------------


def test_policy_from_standard_input(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    text = _policy(tmp_path, instance).read_bytes()
    result = _run("verify", "--policy", "-", "--json", release.wheel, stdin=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["policy"]["path"] == "-"
    assert _lines(result)[-1] == f"attest: 1 artifact: 1 allowed, 0 denied{DEV_ROOT}"
    # the content read is the content judged by: an empty standard input is an empty policy
    empty = _run("verify", "--policy", "-", release.wheel, stdin=b"")
    assert empty.exit_code == ExitCode.USAGE
    assert "attest: error: -: the policy is empty" in empty.stderr


def test_a_policy_on_standard_input_keeps_the_size_limit(release: g.Release) -> None:
    result = _run("verify", "--policy", "-", release.wheel, stdin=b"#" * (MAX_POLICY + 1))
    assert result.exit_code == ExitCode.USAGE
    assert f"standard input: over the {MAX_POLICY >> 20:g} MiB limit for a policy" in (
        result.stderr
    )


def test_dash_is_refused_where_it_cannot_work(
    instance: LocalInstance, release: g.Release, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, instance)
    log = _run("verify", "--policy", policy, "--decision-log", "-", release.wheel)
    assert log.exit_code == ExitCode.USAGE
    assert (
        "attest: error: --decision-log -: not accepted: the log is appended to and its last record read back"
        in (log.stderr)
    )
    assert not Path("-").exists()
    artifact = _run("verify", "--policy", policy, "-", stdin=b"the wheel\n")
    assert artifact.exit_code == ExitCode.USAGE
    assert "ARTIFACT -: the gate judges files by name, with the bundles beside them" in (
        artifact.stderr
    )


def _verify_bundle(instance: LocalInstance, *args: str | Path, stdin: bytes | None) -> Result:
    return _run(
        "verify-bundle",
        "--certificate-identity",
        g.WORKFLOW,
        "--certificate-oidc-issuer",
        instance.issuer,
        *args,
        stdin=stdin,
    )


def test_verify_bundle_reads_each_of_its_files_from_standard_input(
    instance: LocalInstance, release: g.Release
) -> None:
    bundle = release.dist / f"{g.WHEEL}.sigstore.json"
    root = instance.trusted_root
    ok = f"attest: OK: {{}} signed by {g.WORKFLOW} (issuer {instance.issuer})"
    cases: list[tuple[list[str | Path], bytes, str]] = [
        (["--bundle", "-", "--trusted-root", root, release.wheel], bundle.read_bytes(), ""),
        (["--bundle", bundle, "--trusted-root", root, "-"], release.wheel.read_bytes(), "-"),
        (["--bundle", bundle, "--trusted-root", "-", release.wheel], root.read_bytes(), ""),
    ]
    for args, stdin, target in cases:
        result = _verify_bundle(instance, *args, stdin=stdin)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stderr.strip() == ok.format(target or release.wheel)
    # the input read is the input verified: another artifact's bytes on stdin do not verify
    other = _verify_bundle(
        instance, "--bundle", bundle, "--trusted-root", root, "-", stdin=b"the sdist\n"
    )
    assert other.exit_code == ExitCode.DENIED, other.stderr


@pytest.mark.parametrize(
    ("args", "first", "second"),
    [
        (["--bundle", "-", "-"], "--bundle", "FILE_OR_DIGEST"),
        (["--bundle", "-", "--trusted-root", "-", "x"], "--bundle", "--trusted-root"),
    ],
)
def test_two_options_never_both_read_standard_input(
    instance: LocalInstance, args: list[str], first: str, second: str
) -> None:
    result = _verify_bundle(instance, *args, stdin=b"{}")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.splitlines() == [
        f"attest: error: {second} -: standard input is already taken by {first} -: one run "
        "reads standard input for one option and writes standard output for one; name a file"
    ]
