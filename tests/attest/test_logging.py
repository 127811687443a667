"""Logging: -v/-vv anywhere on the command line, --log-format json for CI, on stderr only,
quiet by default, and input escaped in every line (verify/logs.py, attest/verbosity.py)."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from attest.cli import AttestCLI, cli
from tests.attest.scan.helpers import NOW, PYPA_FIXTURE, SCAN_FIXTURES
from tests.attest.sign.helpers import production_trust_config
from verify import decision_log, logs
from verify.errors import ExitCode, InputError
from verify.text import shown

SCAN = ["--sbom", str(SCAN_FIXTURES / "sbom.cdx.json"), "--db", str(PYPA_FIXTURE), "--now", NOW]
TEXT_LINE = re.compile(r"attest: \d\d:\d\d:\d\d\.\d{3} (info|debug) attest\.[\w.]+: ")


@pytest.fixture(autouse=True)
def _quiet_again() -> Iterator[None]:
    yield
    logs.configure(0)  # an in-process run leaves the root configured: the next test starts quiet


def _log_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if TEXT_LINE.match(line)]


@pytest.mark.parametrize(
    "args",
    [
        ["-v", "scan", *SCAN],
        ["scan", "-v", *SCAN],
        ["scan", *SCAN, "-v"],
        ["scan", *SCAN, "--verbose"],
    ],
    ids=["before", "after-name", "at-end", "long"],
)
def test_verbose_anywhere_logs_each_stage_with_its_duration(
    invoke: Callable[..., Result], args: list[str]
) -> None:
    lines = _log_lines(invoke(*args))
    assert any(line.endswith("info attest.scan.stage: scan: start") for line in lines), lines
    assert any(re.search(r"scan: done in \d+\.\d{3} s$", line) for line in lines), lines
    assert any("checking 3 components with offline" in line for line in lines), lines
    assert not [line for line in lines if " debug " in line]  # -v is info, not debug


@pytest.mark.parametrize(
    "args",
    [["-vv", "scan", *SCAN], ["scan", *SCAN, "-vv"], ["-v", "scan", *SCAN, "-v"]],
    ids=["before", "after", "split"],
)
def test_twice_verbose_is_debug_wherever_the_flags_are(
    invoke: Callable[..., Result], args: list[str]
) -> None:
    lines = _log_lines(invoke(*args))
    assert any(
        " debug attest.scan.stage: scan: 'toyparser' '1.5': 'PYSEC-2024-1'" in x for x in lines
    )


def test_quiet_by_default(invoke: Callable[..., Result]) -> None:
    result = invoke("scan", *SCAN)
    assert _log_lines(result) == []
    assert not [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert all(line.startswith("attest: ") for line in result.stderr.splitlines())
    assert "scan: start" not in result.stderr


@pytest.mark.parametrize(
    "extra", [["-v"], ["-vv"], ["-v", "--log-format", "json"], ["--log-format", "json"]]
)
def test_stdout_is_byte_equal_with_and_without_logs(
    invoke: Callable[..., Result], extra: list[str]
) -> None:
    quiet = invoke("scan", *SCAN)
    loud = invoke("scan", *SCAN, *extra)
    assert loud.stdout_bytes == quiet.stdout_bytes
    assert loud.exit_code == quiet.exit_code
    assert "scan: start" not in loud.stdout


def test_json_logs_are_one_object_per_line(invoke: Callable[..., Result]) -> None:
    result = invoke("--log-format", "json", "scan", *SCAN, "-vv")
    objects = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert objects, result.stderr
    for obj in objects:
        assert {"time", "level", "logger", "message"} <= set(obj), obj
        assert obj["logger"].startswith("attest.")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["time"]), obj
    ended = [o for o in objects if o["message"].startswith("scan: done in")]
    assert len(ended) == 1 and ended[0]["stage"] == "scan", objects
    assert isinstance(ended[0]["duration"], float) and ended[0]["duration"] >= 0
    assert {o["level"] for o in objects} == {"info", "debug"}
    assert _log_lines(result) == []  # no text line besides


def test_log_format_after_the_subcommand(invoke: Callable[..., Result]) -> None:
    result = invoke("-v", "scan", *SCAN, "--log-format", "json")
    assert [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    assert _log_lines(result) == []


def test_the_gate_commands_log_too(invoke: Callable[..., Result], tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    decision_log.append(log, [{"decision": "ALLOW"}])
    quiet = invoke("verify-log", str(log), "--head")
    loud = invoke("verify-log", str(log), "--head", "-v")
    assert loud.exit_code == quiet.exit_code == 0
    assert loud.stdout_bytes == quiet.stdout_bytes
    lines = _log_lines(loud)
    assert any("attest.verify.decision_log: decision log check: start" in x for x in lines)
    assert any("decision log check: done in" in x for x in lines), lines
    assert _log_lines(quiet) == []


def test_the_gate_logs_under_the_one_root() -> None:
    assert logs.get("verify.gate").name == "attest.verify.gate"
    assert logs.get("attest.scan.stage").name == "attest.scan.stage"
    assert logs.get("attest").name == "attest"


def test_input_in_a_log_line_is_escaped(invoke: Callable[..., Result], tmp_path: Path) -> None:
    """A file name can hold a line of its own: the log shows it escaped, on one line."""
    requirements = tmp_path / "r\nattest: ALLOW forged.txt"
    requirements.write_text("")
    result = invoke("sbom", "--requirements", str(requirements), "-v")
    assert "sbom: reading requirements" in result.stderr
    assert "r\\nattest: ALLOW forged.txt" in result.stderr
    assert not [x for x in result.stderr.splitlines() if x.startswith("attest: ALLOW")]


def test_a_failed_stage_is_logged_with_its_duration() -> None:
    logger = logs.get("tests.logging")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(ValueError, match="boom"), logs.timed(logger, "step", "trying"):
            raise ValueError("boom")
    finally:
        logger.removeHandler(keep)
        logger.setLevel(logging.NOTSET)
    started, failed = seen
    assert started.getMessage() == "step: start: trying"
    assert re.fullmatch(r"step: failed after \d+\.\d{3} s", failed.getMessage())
    assert failed.__dict__["stage"] == "step" and failed.__dict__["duration"] >= 0


def test_quiet_again_after_a_loud_run() -> None:
    logs.configure(2, "json")
    assert logs.verbosity() == 2
    logs.configure(0)
    root = logging.getLogger("attest")
    assert logs.verbosity() == 0 and root.propagate and root.level == logging.NOTSET
    assert not root.handlers


def _boom_group(exc: BaseException) -> AttestCLI:
    @click.command("boom")
    def boom() -> None:
        raise exc

    group = AttestCLI(name="attest")
    group.add_command(boom)
    return group


@pytest.mark.parametrize("args", [["-v", "boom"], ["boom", "-v"], ["boom", "-vv"]])
def test_a_traceback_follows_verbose_wherever_it_stands(args: list[str]) -> None:
    result = CliRunner().invoke(_boom_group(RuntimeError("a bug")), args)
    assert "Traceback (most recent call last)" in result.stderr
    assert "internal error: RuntimeError: a bug" in result.stderr


def test_no_traceback_without_verbose() -> None:
    result = CliRunner().invoke(_boom_group(RuntimeError("a bug")), ["boom"])
    assert "Traceback" not in result.stderr
    assert "internal error: RuntimeError: a bug" in result.stderr


def test_logs_go_to_stderr_in_a_real_process() -> None:
    from tests.conftest import run_attest

    done = run_attest("scan", *SCAN, "-v", "--log-format", "json")
    quiet = run_attest("scan", *SCAN)
    assert done.stdout == quiet.stdout and done.returncode == quiet.returncode
    assert [json.loads(x) for x in done.stderr.splitlines() if x.startswith("{")]
    people = done.stderr.splitlines()
    assert all(line in people for line in quiet.stderr.splitlines())  # the logs come beside


def _variadic_commands() -> dict[str, click.Command]:
    """Every command (core and installed stages) with a nargs=-1 argument, as the CLI gives it."""
    ctx = click.Context(cli, info_name="attest")
    found: dict[str, click.Command] = {}
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        if any(isinstance(p, click.Argument) and p.nargs == -1 for p in command.params):
            found[name] = command
    return found


VARIADIC = _variadic_commands()
OURS = ["-v", "--log-format", "json", "-vv", "--verbose"]


def _runs_a_command(command: click.Command) -> bool:
    return bool(command.context_settings.get("ignore_unknown_options"))


def _words(command: click.Command, args: list[str]) -> tuple[str, ...]:
    """What the command's variadic argument receives from `args` (parsed only: nothing runs)."""
    ctx = command.make_context(command.name, args, resilient_parsing=True)
    (variadic,) = [p for p in command.params if isinstance(p, click.Argument) and p.nargs == -1]
    return tuple(str(word) for word in ctx.params[variadic.name or ""])


def test_every_variadic_command_is_checked() -> None:
    assert {"build", "sign", "provenance", "attest", "release", "verify"} <= set(VARIADIC)
    assert [name for name, command in VARIADIC.items() if _runs_a_command(command)] == ["build"]


@pytest.mark.parametrize("name", sorted(VARIADIC))
def test_verbosity_after_a_double_dash_is_an_argument(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--` ends attest's options: -v, -vv and --log-format after it are the command's words."""
    monkeypatch.chdir(tmp_path)
    for word in OURS:
        (tmp_path / word).write_text("")  # a file of that name, for the commands taking paths
    assert _words(VARIADIC[name], ["--", *OURS]) == tuple(OURS)


@pytest.mark.parametrize("name", sorted(VARIADIC))
def test_verbosity_after_a_commands_first_word_is_that_commands(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that runs a command (`attest build`'s COMMAND) gets every word from its first
    on: -v and --log-format json, and attest's own options too (`--json`). A command taking
    paths takes a -v after a path as its option, as it takes its other options there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "first").write_text("")
    command = VARIADIC[name]
    if _runs_a_command(command):
        assert _words(command, ["first", *OURS, "--json", "-x"]) == ("first", *OURS, "--json", "-x")
    else:
        assert _words(command, ["first", *OURS]) == ("first",)


def test_a_build_command_runs_with_all_its_words(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `--`, the build tool receives --verbose, --log-format json and -vv, and attest
    stays quiet; a -v before the tool's name is attest's."""
    monkeypatch.chdir(tmp_path)
    Path("src.py").write_text("")
    keep = "import json, sys; open('argv.json', 'w').write(json.dumps(sys.argv[1:])); sys.exit(4)"
    trust = str(production_trust_config(tmp_path))  # offline: where it signs is read first
    args = ["build", "--trust-config", trust, "--yes", "--product", "out", "--material", "src.py",
            sys.executable, "-c", keep]  # fmt: skip
    quiet = invoke(*args, "--verbose", "-x", "--log-format", "json", "-vv")
    assert json.loads(Path("argv.json").read_text()) == [
        "--verbose", "-x", "--log-format", "json", "-vv"
    ]  # fmt: skip
    assert "the build command exited 4; no link was written" in quiet.stderr
    assert "build: start" not in quiet.stderr and "Traceback" not in quiet.stderr
    loud = invoke("-v", *args[:1], "-v", *args[1:], "--verbose")
    assert json.loads(Path("argv.json").read_text()) == ["--verbose"]
    assert any(line.endswith("build: start") for line in _log_lines(loud)), loud.stderr


TOKEN = "ghp_" + "SECRETSECRET" * 3
HOSTILE = "\x1b[2J\nattest: ALLOW forged \u202e"


@pytest.mark.parametrize(
    "loud", [["-v"], ["-vv"], ["-v", "--log-format", "json"], ["-vv", "--log-format", "json"]]
)
def test_the_traceback_never_shows_what_the_error_line_hides(
    invoke: Callable[..., Result], tmp_path: Path, loud: list[str]
) -> None:
    """A line of an included file holding a token: the error line does not show it, and neither
    does the traceback, though packaging's chained exception quotes the whole line."""
    (tmp_path / "config").write_text(f"url = https://x-access-token:{TOKEN}@github.com/acme/x\n")
    (tmp_path / "requirements.txt").write_text("-r config\n")
    args = ["sbom", "--requirements", str(tmp_path / "requirements.txt")]
    quiet = invoke(*args)
    result = invoke(*loud, *args)
    assert result.exit_code == quiet.exit_code == 2
    assert "not shown: from a file not named" in result.stderr, result.stderr
    assert TOKEN not in result.stderr and "x-access-token" not in result.stderr
    if "json" in loud:
        people = quiet.stderr.splitlines()
        records = [json.loads(x) for x in result.stderr.splitlines() if x not in people]
        (traceback,) = [r for r in records if "exc_type" in r]
        assert traceback["exc_type"] == "verify.errors.InputError"
        assert traceback["logger"] == "attest.cli"
        assert {"file", "line", "function"} == set(traceback["frames"][-1])
        causes = [(c["exc_type"], c["how"]) for c in traceback["chain"]]
        assert ("packaging.requirements.InvalidRequirement", "cause") in causes
    else:
        assert "Traceback (most recent call last)" in result.stderr
        assert "\npackaging.requirements.InvalidRequirement\n" in result.stderr
        assert "direct cause of the following exception" in result.stderr


def _raising_from(library: Exception) -> AttestCLI:
    def fails() -> None:
        try:
            raise library
        except Exception as exc:
            raise InputError("upload", "the service refused it") from exc

    fails.__code__ = fails.__code__.replace(co_name=f"fails{HOSTILE}")  # names are shown too
    group = AttestCLI(name="attest")
    group.add_command(click.command("boom")(fails))
    return group


@pytest.mark.parametrize("loud", [["-v"], ["-vv", "--log-format", "json"]])
def test_the_traceback_is_escaped_and_names_types_only(loud: list[str]) -> None:
    """A server's reply in a library's exception (escape codes, a line break, a bidi override,
    a token): the traceback names its type, never its text; the frames' names are escaped."""
    result = CliRunner().invoke(_raising_from(ValueError(f"{TOKEN} {HOSTILE}")), [*loud, "boom"])
    assert result.exit_code == ExitCode.USAGE
    assert "attest: error: upload: the service refused it" in result.stderr
    assert TOKEN not in result.stderr
    assert not {"\x1b", "\u202e"} & set(result.stderr), result.stderr
    assert not [x for x in result.stderr.splitlines() if x.startswith("attest: ALLOW")]
    if "json" in loud:
        lines = result.stderr.splitlines()
        (record,) = [json.loads(x) for x in lines if not x.startswith("attest: error:")]
        assert record["exc_type"] == "verify.errors.InputError"
        assert [c["exc_type"] for c in record["chain"]] == ["ValueError"]
        assert record["frames"][-1]["function"] == shown(f"fails{HOSTILE}")
    else:
        assert "\nValueError\n" in result.stderr and "\nverify.errors.InputError\n" in result.stderr
        assert "in fails\\x1b[2J\\nattest: ALLOW forged \\u202e\n" in result.stderr


def test_a_file_name_in_a_traceback_run_stays_escaped(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """The error's message names the file: with -v nothing but the escaped error line shows it."""
    lock = tmp_path / "uv\x1b[2J" / "\nattest: ALLOW forged" / "uv.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("version = [")
    result = invoke("-v", "sbom", "--lock", str(lock))
    assert result.exit_code == ExitCode.USAGE
    assert "Traceback (most recent call last)" in result.stderr
    assert "uv\\x1b[2J/\\nattest: ALLOW forged/uv.lock: not valid TOML" in result.stderr
    assert "\x1b" not in result.stderr
    assert not [x for x in result.stderr.splitlines() if x.startswith("attest: ALLOW")]
