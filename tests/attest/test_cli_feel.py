"""The CLI as people meet it: a typo gets a suggestion, every error is one `attest: error:` line,
every --help shows examples that parse, -q goes anywhere (and never with -v), and shell
completion is generated for bash, zsh and fish."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from attest.cli import cli
from tests.conftest import LocalInstance
from verify.errors import ExitCode


def _tree() -> list[tuple[list[str], click.Command]]:
    """Every command path under `attest` (the root `[]` too), with its command."""
    found: list[tuple[list[str], click.Command]] = []

    def walk(command: click.Command, path: list[str], ctx: click.Context) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, (path, name)
                walk(sub, [*path, name], click.Context(sub, parent=ctx, info_name=name))

    walk(cli, [], click.Context(cli, info_name="attest"))
    return found


TREE = _tree()
PATHS = [path for path, _ in TREE]
GROUPS = [(path, command) for path, command in TREE if isinstance(command, click.Group)]


def test_the_tree_is_the_whole_cli() -> None:
    """The walks below cover the stages, the core groups and their commands."""
    assert {("sbom",), ("verify",), ("instance", "up"), ("plugins", "list")} <= {
        tuple(p) for p in PATHS
    }


def _one_error_line(result: Result) -> str:
    """The single stderr line of a refused invocation (exit 2, nothing on stdout)."""
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("attest: error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["verfy"], "attest: error: no such command 'verfy'. Did you mean 'verify'?"),
        (["VERIFY"], "attest: error: no such command 'VERIFY'. Did you mean 'verify'?"),
        (["plugins", "list", "--bogus"], "attest: error: no such option '--bogus'; see "
         "'attest plugins list --help'"),  # not `--verbose`: too unlike to be meant
        (["instance", "strat"], "attest: error: no such command 'strat'. Did you mean 'status'?"),
        (["plugins", "lst"], "attest: error: no such command 'lst'. Did you mean 'list'?"),
        (["sbom", "--formt"], "attest: error: no such option '--formt'. Did you mean '--format'?"),
        (["verify", "--polcy"], "attest: error: no such option '--polcy'. Did you mean '--policy'?"),
        (["-vq", "sbom"], "attest: error: -q and -v ask for opposite things: give one of them"),
        (["sbom", "--format", "yaml"], "attest: error: invalid value for '--format': 'yaml' is "
         "not one of 'json', 'xml'; see 'attest sbom --help'"),
        (["provenance"], "attest: error: missing argument 'ARTIFACTS...'; see "
         "'attest provenance --help'"),
    ],
)  # fmt: skip
def test_a_usage_error_is_one_line_with_a_suggestion(
    invoke: Callable[..., Result], args: list[str], line: str
) -> None:
    """Before: click's block (`Usage: …`, `Try …`, blank, `Error: No such command 'verfy'.`),
    and no suggestion for a stage plugin's name (click knew only the core commands)."""
    assert _one_error_line(invoke(*args)) == line


@pytest.mark.parametrize(
    ("path", "group"), GROUPS, ids=[" ".join(p) or "attest" for p, _ in GROUPS]
)
def test_every_group_suggests_each_of_its_commands(path: list[str], group: click.Group) -> None:
    ctx = click.Context(group, info_name=path[-1] if path else "attest")
    for name in group.list_commands(ctx):
        line = _one_error_line(CliRunner().invoke(cli, [*path, f"{name}x"]))
        assert line.endswith(f"Did you mean {name!r}?"), line


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "attest" for p in PATHS])
def test_every_command_refuses_in_one_error_line(path: list[str]) -> None:
    """An unknown option (or, for `build`, whose unknown words are its command's, the missing
    --product) is exactly one line on stderr, `attest: error:` first, exit 2."""
    line = _one_error_line(CliRunner().invoke(cli, [*path, "--no-such-option-xyz"]))
    assert ("no such option" in line) or ("missing option" in line), line


def _examples(help_text: str) -> list[list[str]]:
    """The words of each command line under `Examples:` (a trailing `\\` continues a line; a
    comment or a redirection is the shell's, not attest's)."""
    lines = [line.strip() for line in help_text.splitlines()]
    if "Examples:" not in lines:
        return []
    logical: list[str] = []
    continued = False
    for line in lines[lines.index("Examples:") + 1 :]:
        text = line.strip()
        if continued:
            logical[-1] += " " + text
        elif text:
            logical.append(text)
        continued = text.endswith("\\")
    examples = []
    for text in logical:
        words = shlex.split(text.replace("\\", " "), comments=True)
        examples.append(words[: words.index(">")] if ">" in words else words)
    return examples


def _command_path(words: list[str]) -> list[str]:
    """The subcommand names in `words` (after `attest`), checked to exist, options skipped."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="attest")
    path: list[str] = []
    for word in words:
        if word.startswith("-"):
            continue
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(ctx, word)
        assert sub is not None, f"no command {word!r} in attest {' '.join(path)}"
        command, path = sub, [*path, word]
        ctx = click.Context(sub, parent=ctx, info_name=word)
    return path


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "attest" for p in PATHS])
def test_every_help_shows_examples_that_parse(
    invoke: Callable[..., Result], path: list[str]
) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    examples = _examples(result.stdout)
    assert examples, f"attest {' '.join(path)} --help shows no example"
    for example in examples:
        assert example[0] == "attest", example
        words = example[1:]
        used = _command_path(words)
        assert used[: len(path)] == path, (path, example)  # a command's examples are its own
        # every option it names is one the command knows: --help is handled once all parse
        at = words.index(used[-1]) + 1 if used else 0
        parsed = invoke(*words[:at], "--help", *words[at:])
        assert parsed.exit_code == 0, (example, parsed.stderr)


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "attest" for p in PATHS])
def test_no_example_globs_a_whole_dist(invoke: Callable[..., Result], path: list[str]) -> None:
    """`dist/*` holds the bundles once signed: an example names the artifacts."""
    for example in _examples(invoke(*path, "--help").stdout):
        assert not [w for w in example if w.endswith("/*")], example


def test_an_example_is_shown_as_written(invoke: Callable[..., Result]) -> None:
    """click rewraps help paragraphs; an example's line is kept whole."""
    result = invoke("scan", "--help")
    assert (
        "\n    attest scan --lock uv.lock --waivers waivers.yaml --format sarif -o scan.sarif\n"
        in (result.stdout)
    )


def _requirements(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(f"requests==2.31.0 --hash=sha256:{'a' * 64}\n")
    return path


@pytest.mark.parametrize("where", ["before", "after", "last"])
def test_quiet_anywhere_leaves_out_what_was_done(
    invoke: Callable[..., Result], tmp_path: Path, where: str
) -> None:
    """-q before or after the subcommand: the SBOM on stdout is the same, the line saying what
    was described goes, the warning (no pyproject.toml) stays."""
    given = ["--requirements", str(_requirements(tmp_path)), "--reproducible"]
    args = {
        "before": ["-q", "sbom", *given],
        "after": ["sbom", "-q", *given],
        "last": ["sbom", *given, "--quiet"],
    }[where]
    loud, quiet = invoke("sbom", *given), invoke(*args)
    assert loud.exit_code == quiet.exit_code == 0
    assert quiet.stdout == loud.stdout
    assert "attest: SBOM of 1 components" in loud.stderr
    assert quiet.stderr.splitlines() == [
        line for line in loud.stderr.splitlines() if line.startswith("attest: warning: ")
    ]
    assert quiet.stderr.startswith("attest: warning: no pyproject.toml")
    again = invoke("sbom", *given)  # -q is the invocation's, not the process's
    assert again.stderr == loud.stderr


def test_quiet_leaves_out_what_the_instance_says(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    loud = invoke("instance", "down", "--state", str(state))
    assert (loud.exit_code, loud.stderr) == (0, "attest: instance was not running\n")
    quiet = invoke("instance", "down", "--state", str(state), "-q")
    assert (quiet.exit_code, quiet.stderr, quiet.stdout) == (0, "", "")


def test_quiet_keeps_errors(invoke: Callable[..., Result], tmp_path: Path) -> None:
    result = invoke("-q", "sbom", "--requirements", str(tmp_path / "missing.txt"))
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("attest: error: ") and "missing.txt" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-q", "plugins", "list", "-v"],
        ["-v", "plugins", "-q", "list"],
        ["plugins", "list", "-qv"],
        ["verify", "-qv"],  # verify's own -q counts as attest's
        ["verify", "-vq"],
        ["-v", "verify", "--quiet"],
    ],
)
def test_quiet_and_verbose_together_are_a_usage_error(
    invoke: Callable[..., Result], args: list[str]
) -> None:
    line = _one_error_line(invoke(*args))
    assert "-q and -v ask for opposite things: give one of them" in line


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_is_generated(shell: str) -> None:
    """What the README tells people to put in their shell's startup file."""
    result = CliRunner().invoke(
        cli, [], env={"_ATTEST_COMPLETE": f"{shell}_source"}, prog_name="attest"
    )
    assert result.exit_code == 0, result.stderr
    assert "_attest_completion" in result.stdout
    assert f"_ATTEST_COMPLETE={shell}_complete" in result.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_bash_completes_commands_stages_included() -> None:
    """The generated script, sourced in a real bash, completes `attest ver` to the gate's
    commands (stage plugins, which click alone does not list) and `attest instance st`."""
    script = (
        'eval "$(_ATTEST_COMPLETE=bash_source attest)"\n'
        "COMP_WORDS=(attest ver); COMP_CWORD=1; _attest_completion attest\n"
        'echo "${COMPREPLY[@]}"\n'
        "COMPREPLY=(); COMP_WORDS=(attest instance st); COMP_CWORD=2; _attest_completion attest\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    scripts = str(Path(sys.executable).parent)  # where the `attest` entry point is installed
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "--norc", "-c", script],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["verify verify-bundle verify-log", "status"]


# --- `dist/*` once the dist holds evidence ------------------------------------------------------

EVIDENCE_REFUSED = (
    "attest: error: {first} is a Sigstore bundle (evidence), not an artifact (1 more such "
    "argument(s) too): name the artifacts, e.g. dist/*.whl dist/*.tar.gz"
)


@pytest.mark.parametrize(
    "command",
    [
        ["-q", "sign"],
        ["provenance"],
        ["attest", "--predicate", "sbom", "--sbom", "sbom.cdx.json"],
        ["release", "--policy", "policy.yaml"],
    ],
    ids=lambda c: c[1] if c[0] == "-q" else c[0],
)
def test_a_dist_glob_with_bundles_is_refused_before_anything_is_signed(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path, command: list[str]
) -> None:
    """`attest sign dist/*` run a second time signed the bundles themselves (a
    `.sigstore.json.sigstore.json` and log entries for it)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("app-1.0-py3-none-any.whl", "app-1.0.tar.gz"):
        (dist / name).write_text(name)
        (dist / f"{name}.sigstore.json").write_text("{}")
    before, entries = sorted(dist.iterdir()), instance.entries()
    result = invoke(
        *command, "--trust-config", str(instance.trust_config),
        "--identity-token", instance.token(), *map(str, before),
    )  # fmt: skip
    first = dist / "app-1.0-py3-none-any.whl.sigstore.json"
    assert _one_error_line(result) == EVIDENCE_REFUSED.format(first=first)
    assert sorted(dist.iterdir()) == before and instance.entries() == entries


# --- standard output closed, or its reader gone -------------------------------------------------

DEMO = Path(__file__).parents[2] / "examples"


def _attest_into(stdout: int | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`attest ARGS` with `stdout` as its fd 1 (None: closed, as `>&-`)."""
    line = shlex.join([sys.executable, "-m", "attest", *args])
    return subprocess.run(
        ["sh", "-c", f"exec {line} >&-" if stdout is None else f"exec {line}"],
        stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=DEMO / "demo-project",
        timeout=120, check=False,
    )  # fmt: skip


def test_a_closed_standard_output_is_said() -> None:
    """Before: `internal error: AttributeError` (sys.stdout is None)."""
    done = _attest_into(None, "sbom", "--lock", "uv.lock", "-o", "-")
    assert done.returncode == ExitCode.OPERATIONAL
    assert done.stderr.splitlines() == [
        "attest: error: standard output is closed: nothing was written; name a file with -o FILE"
    ]


def _gone_reader() -> int:
    """A pipe whose reader has already gone: every write is EPIPE, deterministically."""
    read, write = os.pipe()
    os.close(read)
    return write


def test_a_verdict_stays_when_the_reader_has_gone() -> None:
    """`attest scan | true` with overdue findings: exit 1 (the SLO breached), not 3."""
    write = _gone_reader()
    try:
        done = _attest_into(
            write, "-q", "scan", "--lock", "uv.lock", "--db", str(DEMO / "advisories"),
            "--now", "2026-07-15T00:00:00Z", "--format", "markdown",
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == ExitCode.DENIED, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        "attest: error: 2 findings overdue under the SLO policy: flask 2.2.5"
    )
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_output_not_delivered_never_passes() -> None:
    """The SBOM never reached a reader: exit 3 (as a tool SIGPIPE ends: never 0), one note."""
    write = _gone_reader()
    try:
        done = _attest_into(write, "sbom", "--lock", "uv.lock", "-o", "-")
    finally:
        os.close(write)
    assert done.returncode == ExitCode.OPERATIONAL
    assert done.stderr.splitlines()[-1] == (
        "attest: note: the reader of standard output closed it before all of it was written "
        "(exit 3)"
    )
    assert "Traceback" not in done.stderr and "error" not in done.stderr
