"""`attest verify --artifacts-from FILE|-` (issue 19): the artifacts named in a file, one path per
line, judged exactly as the same names on the command line; every line no path can be, and
every file that is not a list, is exit 2 naming it (escaped) and the line."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from attest.cli import cli
from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import artifacts_from
from verify.errors import ExitCode

OPTION = "--artifacts-from"
MINIMAL = {
    "version": 1,
    "trust": "production",
    "identities": [{"issuer": "https://issuer.example", "subject": "a@example.com"}],
    "require": {"signature": True},
}


def _run(*args: str | Path, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)


def _policy(tmp_path: Path, instance: LocalInstance) -> Path:
    return g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance))


def _list(path: Path, *lines: bytes, end: bytes = b"\n") -> Path:
    path.write_bytes(b"\n".join(lines) + end)
    return path


# --- the same decisions -----------------------------------------------------------------------


@pytest.fixture
def mixed(release: g.Release, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names relative to the current directory, in an order that is not sorted: allowed ones, an
    unsigned stranger (denied), and a name that is not UTF-8 (denied: nothing signs it)."""
    monkeypatch.chdir(release.dist.parent)
    stranger = release.dist / "stranger one.whl"
    stranger.write_bytes(b"unsigned\n")
    odd = os.fsencode(release.dist) + b"/caf\xe9 \x1b[31m.whl"
    Path(os.fsdecode(odd)).write_bytes(b"also unsigned\n")
    dist = release.dist.name
    return [f"{dist}/{g.SDIST}", f"{dist}/{stranger.name}", os.fsdecode(odd), f"./{dist}/{g.WHEEL}"]


def test_the_decisions_are_those_of_the_command_line(
    instance: LocalInstance, mixed: list[str], tmp_path: Path
) -> None:
    policy = _policy(tmp_path, instance)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()  # one instant for the three
    common = ("verify", "--policy", policy, "--now", now, "--json")
    named = _run(*common, *mixed)
    listed = _run(*common, OPTION, _list(tmp_path / "list", *map(os.fsencode, mixed)))
    piped = _run(*common, OPTION, "-", stdin=b"\n".join(map(os.fsencode, mixed)))  # no last \n
    assert named.exit_code == ExitCode.DENIED
    decisions = json.loads(named.stdout)["decisions"]
    assert [d["decision"] for d in decisions] == ["ALLOW", "DENY", "DENY", "ALLOW"]
    for run in (listed, piped):
        assert (run.exit_code, run.stdout, run.stderr) == (
            named.exit_code,
            named.stdout,
            named.stderr,
        )


def test_the_rules_on_names_hold_for_a_list(release: g.Release, tmp_path: Path) -> None:
    """Each file once, no evidence, no `-`: as on the command line, naming the argument."""
    policy = g.write_policy(tmp_path / "p.yaml", MINIMAL)
    wheel = os.fsencode(release.wheel)
    cases = {
        (wheel, wheel): f"{release.wheel} is named twice: name each artifact once",
        (wheel + b".sigstore.json",): f"{release.wheel}.sigstore.json is a Sigstore bundle",
        (b"-",): "ARTIFACT -: the gate judges files by name",
    }
    for lines, said in cases.items():
        result = _run("verify", "--policy", policy, OPTION, _list(tmp_path / "l", *lines))
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert result.stderr.startswith(f"attest: error: {said}")


# --- every way a list can be wrong: exit 2 naming it ------------------------------------------


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A policy that loads (the list is read after it); no artifact is ever judged here."""
    return g.write_policy(tmp_path / "policy.yaml", MINIMAL)


def _refused(policy: Path, *args: str | Path, stdin: bytes | None = None) -> str:
    result = _run("verify", "--policy", policy, *args, stdin=stdin)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    [line] = result.stderr.splitlines()
    return line.removeprefix("attest: error: ")


@pytest.mark.parametrize(
    ("lines", "end", "said"),
    [
        ((b"a.whl", b"", b"b.whl"), b"\n", "line 2 is empty: one path per line, none blank"),
        ((b"a.whl", b""), b"\n", "line 2 is empty: one path per line, none blank"),
        (
            (b"a.whl", b"b\0c.whl"),
            b"\n",
            "line 2 holds a NUL byte, which no path can: one path per line (not -print0's list)",
        ),
        (
            (b"a.whl\r", b"b.whl\r"),
            b"\n",
            "line 1 ends in a carriage return (CRLF line ends): one path per line, ending in LF",
        ),
        (
            (b"a.whl", b"x" * 4096),
            b"",
            "line 2: over 4095 bytes, the limit for the list of artifacts (--artifacts-from)",
        ),
    ],
)
def test_a_line_no_path_can_be_is_refused_by_number(
    policy: Path, tmp_path: Path, lines: tuple[bytes, ...], end: bytes, said: str
) -> None:
    listed = _list(tmp_path / "list.txt", *lines, end=end)
    assert _refused(policy, OPTION, listed) == f"{OPTION} {listed}: {said}"
    # the same from standard input
    assert _refused(policy, OPTION, "-", stdin=listed.read_bytes()) == (
        f"{OPTION} standard input: {said}"
    )


@pytest.mark.parametrize("end", [b"", b"\n"])
def test_the_longest_path_is_a_line(tmp_path: Path, end: bytes) -> None:
    longest = b"x" * artifacts_from.PATH_MAX
    listed = _list(tmp_path / "list", longest, b"y", longest, end=end)
    assert artifacts_from.named((), listed) == tuple(map(Path, ["x" * 4095, "y", "x" * 4095]))


def test_a_list_over_its_limit_is_refused(
    policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts_from, "LIMIT", 1 << 10)
    listed = _list(tmp_path / "list", *[b"dist/a-%04d.whl" % i for i in range(100)])
    assert _refused(policy, OPTION, listed) == (
        f"{OPTION} {listed}: over the 0.000976562 MiB limit for the list of artifacts ({OPTION})"
    )


@pytest.mark.parametrize("content", [b"", b"\n"])
def test_a_list_of_no_artifact_is_refused(policy: Path, tmp_path: Path, content: bytes) -> None:
    """An empty set never allows; a lone newline is a blank line."""
    listed = tmp_path / "list"
    listed.write_bytes(content)
    said = (
        "names no artifact: none allowed (an empty set never allows)"
        if not content
        else "line 1 is empty: one path per line, none blank"
    )
    assert _refused(policy, OPTION, listed) == f"{OPTION} {listed}: {said}"
    assert _refused(policy, OPTION, "-", stdin=content).startswith(f"{OPTION} standard input: ")


def test_arguments_and_a_list_together_are_refused(policy: Path, tmp_path: Path) -> None:
    listed = _list(tmp_path / "list", b"b.whl")
    assert _refused(policy, OPTION, listed, "a.whl") == (
        f"ARTIFACT arguments and {OPTION}: name the artifacts in one place, on the command line "
        "or in the file"
    )


def test_a_list_that_is_not_a_readable_file_is_refused(policy: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing \x1b[2J.txt"  # the name escaped where it is shown
    assert _refused(policy, OPTION, missing) == (
        f"{OPTION} {tmp_path}/missing \\x1b[2J.txt: cannot be read: No such file or directory"
    )
    assert _refused(policy, OPTION, tmp_path) == (
        f"{OPTION} {tmp_path}: is a directory, expected a file"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _refused(policy, OPTION, fifo) == (
        f"{OPTION} {fifo}: is not a regular file (FIFO, socket, device), expected a file (a list "
        "from a pipe: give - and pipe it in)"
    )
    assert _refused(policy, OPTION, "/proc/self/environ") == (
        f"{OPTION} /proc/self/environ: is in /proc, a kernel pseudo file system: never read as "
        "input"
    )


def test_standard_input_is_read_for_one_option(policy: Path) -> None:
    result = _run("verify", "--policy", "-", OPTION, "-", stdin=policy.read_bytes())
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == (
        f"attest: error: {OPTION} -: standard input is already taken by --policy -: one run "
        "reads standard input for one option and writes standard output for one; name a file\n"
    )
