"""The `attest` command line: a thin layer that parses, calls a stage's library function, maps
errors to exit codes (here, and only here) and renders.

Stages are plugins (entry-point group `attest.stages`) loaded only when named, so a broken or
slow plugin costs nothing to the commands that do not use it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from click.exceptions import NoArgsIsHelpError, NoSuchCommand, NoSuchOption

from attest import output, plugins, verbosity
from verify import logs
from verify.errors import AttestError, ExitCode, without_input
from verify.plugins import Registry, failure
from verify.text import examples, shown


class Failure(click.ClickException):
    """An error on its way out: its message for people and the exit code of the contract."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance

    def show(self, file: IO[Any] | None = None) -> None:
        if self.message:  # a reader that closed the pipe needs no message
            click.echo(f"attest: error: {shown(self.format_message())}", err=True)


_READER_GONE = (
    "attest: note: the reader of standard output closed it before all of it was written (exit 3)"
)


def exit_code_for(exc: BaseException) -> int:
    """The one mapping from exceptions to exit codes: the error tree's contract base decides
    (`verify/errors.py`), anything else is a usage error (click's) or operational."""
    if isinstance(exc, AttestError):
        return int(exc.exit_code)
    if isinstance(exc, click.ClickException):
        return int(ExitCode.USAGE)
    return int(ExitCode.OPERATIONAL)  # I/O, interruption, or a bug: retry, never pass


def _message_for(exc: BaseException) -> str:
    if isinstance(exc, AttestError):
        return str(exc)
    if isinstance(exc, click.ClickException):
        return exc.format_message()
    if isinstance(exc, (KeyboardInterrupt, click.Abort)):
        return "interrupted; output files already complete were kept, none is partial"
    if isinstance(exc, BrokenPipeError):
        return ""  # the reader has gone (`attest ... | head`): nothing to tell anyone
    if isinstance(exc, SystemExit):  # attest ends through click: a plugin or library called it
        return (
            f"internal error: {failure(exc)} before the command finished. Rerun with -v for a "
            "traceback and report it."
        )
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    # a library's message may quote the input it choked on: quoted literals and long runs go
    return (
        f"internal error: {type(exc).__name__}: {without_input(exc)}. Rerun with -v for a "
        "traceback and report it."
    )


SIMILAR = 0.7  # `strat` is `status` (0.73), `--bogus` is not `--verbose` (0.5)


def _usage_message(exc: click.UsageError) -> str:
    """click's usage error as attest's one line, lower-cased like attest's own: for a mistyped
    command or option the closest known name, else where the help is."""
    named = isinstance(exc, (NoSuchCommand, NoSuchOption))  # click's own list of names left out
    message = exc.message if named else exc.format_message()
    message = message[:1].lower() + message[1:]
    closest = _closest(exc)
    if closest:
        return f"{message} Did you mean {closest!r}?"
    if exc.ctx is None:
        return message
    return f"{message.rstrip('.')}; see '{exc.ctx.command_path} --help'"


def _closest(exc: click.UsageError) -> str | None:
    """The known name most like a mistyped command or long option, case and dashes ignored
    (`VERIFY` is `verify`), if it is similar enough: click's own cutoff counts the dashes
    alike and suggested `--verbose` for `--bogus`. Stage plugins are commands too."""
    ctx = exc.ctx
    if ctx is None:
        return None
    if isinstance(exc, NoSuchCommand) and isinstance(ctx.command, click.Group):
        typed, known = exc.command_name, ctx.command.list_commands(ctx)
    elif isinstance(exc, NoSuchOption) and exc.option_name.startswith("--"):
        params = ctx.command.get_params(ctx)
        typed = exc.option_name
        known = [o for p in params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
    else:
        return None
    ratio, best = max(
        ((_similarity(typed, k), k) for k in known), key=lambda s: s[0], default=(0.0, "")
    )
    return best if ratio >= SIMILAR else None


def _similarity(typed: str, known: str) -> float:
    import difflib  # here: only a mistyped name needs it, not every command's start-up

    return difflib.SequenceMatcher(
        None, typed.lstrip("-").lower(), known.lstrip("-").lower()
    ).ratio()


@contextmanager
def _mapped_errors(verbose: bool = False) -> Iterator[None]:
    """Turn every error into a `Failure` with the contract's exit code; tracebacks only with -v
    (frames and exception types: `logs.exception`)."""
    try:
        yield
    except (NoArgsIsHelpError, Failure, click.exceptions.Exit):
        raise  # the help a bare group shows, or already on its way out
    except click.UsageError as exc:  # one `attest: error:` line, not click's usage block
        raise Failure(_usage_message(exc), exc.exit_code) from exc
    except BaseException as exc:  # a plugin's sys.exit(0) too: only click's own exit ends a command
        if isinstance(exc, BrokenPipeError):  # spare the interpreter's own flush at exit
            sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115
            output.inform(_READER_GONE)  # a note, not an error: `| head` is no mistake
        if verbose or logs.verbosity() > 0:  # -v before or after the subcommand's name
            logs.exception(exc, __name__)
        raise Failure(_message_for(exc), exit_code_for(exc)) from exc


class AttestCLI(click.Group):
    """A click group whose commands are the core commands plus the installed stage plugins,
    each accepting the verbosity options wherever they stand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        verbosity.accepting(self)

    @staticmethod
    def _stages(ctx: click.Context) -> Registry[click.Command]:
        """The stage plugins, read once per invocation (kept on the root context)."""
        meta = ctx.find_root().meta
        if plugins.STAGES not in meta:
            meta[plugins.STAGES] = plugins.stages()
        registry: Registry[click.Command] = meta[plugins.STAGES]
        return registry

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._stages(ctx).names()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self._stages(ctx):
            command = self._stages(ctx).load(cmd_name)
        return None if command is None else verbosity.accepting(command)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _mapped_errors():  # a -v already parsed has configured the logs
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _mapped_errors(bool(ctx.params.get("verbose"))):
            result = super().invoke(ctx)
            output.undelivered(ctx)  # a reader that went away: not a pass (a verdict stays)
            return result


@click.group(
    "attest",
    cls=AttestCLI,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples(
        "attest sbom --output sbom.cdx.json",
        "attest verify --policy policy.yaml dist/*.whl",
        "attest -q sign dist/*.whl dist/*.tar.gz    # -q: errors, warnings and results only",
    ),
)
# the installed distribution's metadata: what pip installed, not a copy in the source
@click.version_option(package_name="attest-pipeline", prog_name="attest")
def cli() -> None:
    """attest: SBOM, vulnerability SLOs, keyless signing, provenance and an offline deploy gate
    for Python projects.

    Exit codes: 0 pass, 1 policy said no, 2 usage or configuration error, 3 operational error.

    Shell completion: eval "$(_ATTEST_COMPLETE=bash_source attest)" in ~/.bashrc (zsh_source,
    fish_source for the others; see the README).
    """


@cli.group("plugins", epilog=examples("attest plugins list --json"))
def plugins_group() -> None:
    """Inspect the installed plugins."""


@plugins_group.command("list", epilog=examples("attest plugins list", "attest plugins list --json"))
@click.option("--json", "as_json", is_flag=True, help="Print the plugins as JSON on stdout.")
def plugins_list(as_json: bool) -> None:
    """List every plugin by group: stages, SBOM sources, vulnerability sources, gate checks."""
    found = plugins.describe_all()
    if as_json:
        data = {
            group: [
                {
                    "name": p.name,
                    "target": p.target,
                    "distribution": p.distribution,
                    "version": p.version,
                }
                for p in infos
            ]
            for group, infos in found.items()
        }
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    for group, infos in found.items():
        click.echo(f"{group}: {plugins.GROUPS[group]}")
        if not infos:
            click.echo("  (none installed)")
        for p in infos:
            click.echo(shown(f"  {p.name:<16} {p.target}  [{p.distribution} {p.version}]"))


def main() -> None:
    cli(prog_name="attest")
