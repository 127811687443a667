"""The CLI contract: --version, --help everywhere, exit codes mapped in one place, no traceback
for expected errors unless -v."""

from __future__ import annotations

from collections.abc import Callable

import click
import pytest
from click.testing import CliRunner, Result

from attest import __version__
from attest.cli import AttestCLI, cli
from verify.errors import (
    ExitCode,
    InputError,
    OperationalError,
    PluginError,
    PolicyRefusal,
    UsageError,
)


def test_version(invoke: Callable[..., Result]) -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"attest, version {__version__}"


def _command_paths(group: click.Group, ctx: click.Context) -> list[list[str]]:
    paths: list[list[str]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        paths.append([name])
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, parent=ctx, info_name=name)
            paths.extend([name, *rest] for rest in _command_paths(command, sub_ctx))
    return paths


def test_help_on_every_command(invoke: Callable[..., Result]) -> None:
    paths = _command_paths(cli, click.Context(cli, info_name="attest"))
    assert ["sbom"] in paths and ["plugins", "list"] in paths
    for path in [[], *paths]:
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.stderr)
        assert result.stdout.startswith("Usage: "), path


def _group_raising(exc: BaseException) -> AttestCLI:
    @click.command("boom")
    def boom() -> None:
        raise exc

    group = AttestCLI(name="attest", params=[click.Option(["-v", "--verbose"], is_flag=True)])
    group.add_command(boom)
    return group


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (PolicyRefusal("SLO breached"), ExitCode.DENIED, "SLO breached"),
        (UsageError("give one source"), ExitCode.USAGE, "give one source"),
        (InputError("uv.lock", "not valid TOML"), ExitCode.USAGE, "uv.lock: not valid TOML"),
        (PluginError("registered twice"), ExitCode.USAGE, "registered twice"),
        (click.BadParameter("bad value"), ExitCode.USAGE, "bad value"),
        (OperationalError("service down"), ExitCode.OPERATIONAL, "service down"),
        (OSError(28, "No space left on device"), ExitCode.OPERATIONAL, "No space left"),
        (KeyboardInterrupt(), ExitCode.OPERATIONAL, "interrupted"),
        (RuntimeError("a bug"), ExitCode.OPERATIONAL, "internal error: RuntimeError: a bug"),
    ],
)
def test_exceptions_map_to_exit_codes(exc: BaseException, code: int, message: str) -> None:
    result = CliRunner().invoke(_group_raising(exc), ["boom"])
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_internal_error_does_not_quote_what_the_library_quoted() -> None:
    """A bug's message is shown, but a library's message may quote the input it choked on."""
    secret = "ghp_" + "S" * 36
    result = CliRunner().invoke(_group_raising(ValueError(f"bad value {secret!r}")), ["boom"])
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "internal error: ValueError: bad value" in result.stderr
    assert secret not in result.stderr


def test_verbose_shows_the_traceback() -> None:
    result = CliRunner().invoke(_group_raising(RuntimeError("a bug")), ["-v", "boom"])
    assert result.exit_code == ExitCode.OPERATIONAL
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: a bug" in result.stderr


@pytest.mark.parametrize(
    "args", [["no-such-command"], ["sbom", "--no-such-option"], ["sbom", "--format", "yaml"]]
)
def test_usage_errors_exit_2(invoke: Callable[..., Result], args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == ExitCode.USAGE
    assert "Traceback" not in result.stderr


def test_plugins_list_json(invoke: Callable[..., Result]) -> None:
    import json

    result = invoke("plugins", "list", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {
        "attest.stages",
        "attest.sbom_sources",
        "attest.vuln_sources",
        "verify.checks",
    }
    stages = {p["name"]: p for p in data["attest.stages"]}
    assert stages["sbom"]["distribution"] == "attest-pipeline"
    assert stages["sbom"]["target"] == "attest.sbom.command:sbom"
    sources = {p["name"] for p in data["attest.sbom_sources"]}
    assert sources >= {"environment", "requirements", "uv-lock", "pylock", "poetry-lock"}


def test_plugins_list_text(invoke: Callable[..., Result]) -> None:
    result = invoke("plugins", "list")
    assert result.exit_code == 0
    assert "attest.stages:" in result.stdout
    assert "sbom" in result.stdout and "[attest-pipeline" in result.stdout


def test_a_closed_pipe_is_not_an_error_message() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        f"{sys.executable} -m attest plugins list | head -n 1",
        shell=True, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout.startswith("attest.stages:")
    assert "error" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("command", "warning"),
    [
        (["sign"], "a token on the command line shows in the process list"),  # threat I2
        (["provenance"], "a token on the command line shows in the process list"),
        (["sbom"], "(it is run: trust it)"),  # threat E7
        (["scan"], "(it is run: trust it)"),
    ],
)
def test_help_says_where_an_option_exposes_or_trusts(
    invoke: Callable[..., Result], command: list[str], warning: str
) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert warning in " ".join(result.stdout.split())  # click wraps the lines
