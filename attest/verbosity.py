"""-v/-vv, -q and --log-format on every command, before or after the subcommand's name (`attest -v
scan ...`, `attest scan ... -vv`, `attest -q sign ...`): the options are added to each command the
CLI resolves, and each occurrence adds up; -q with -v is a usage error. The logs and the quiet
level (`logs.quiet()`, which both sides read) are verify/logs.py's. They are attest's only where
attest's options stand: never after `--`, never among the words of a command `attest build` runs."""

from __future__ import annotations

from typing import Any

import click

from verify import logs
from verify.errors import UsageError

_STATE = "attest.verbosity"


def _state(ctx: click.Context) -> dict[str, Any]:
    """Kept in the context's meta, which the whole invocation shares: one count, one format."""
    state: dict[str, Any] = ctx.meta.setdefault(_STATE, {"count": 0, "quiet": 0, "format": "text"})
    return state


def _configure(state: dict[str, Any]) -> None:
    if state["count"] and state["quiet"]:
        logs.configure(0, state["format"])  # neither is in effect: no traceback for this line
        raise UsageError("-q and -v ask for opposite things: give one of them")
    logs.configure(state["count"] or -state["quiet"], state["format"])


def _more(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    state = _state(ctx)
    state["count"] += count
    _configure(state)


def _less(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    state = _state(ctx)
    state["quiet"] += count
    _configure(state)


def _own_quiet(ctx: click.Context, param: click.Parameter, given: Any) -> Any:
    """A command's own -q counts as attest's: `-qv` on it is refused like `-q -v` anywhere."""
    if given:
        _less(ctx, param, 1)
    return given


def _format(ctx: click.Context, _param: click.Parameter, chosen: str | None) -> None:
    state = _state(ctx)
    if chosen is not None:
        state["format"] = chosen
    _configure(state)


def _options() -> list[click.Option]:
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_more,
            help="Log what each stage does, with timings, on stderr (-vv: debug); "
            "tracebacks on errors.",
        ),
        click.Option(
            ["-q", "--quiet"],
            count=True,
            expose_value=False,
            callback=_less,
            help="Only errors, warnings and results: no progress, no narration on stderr.",
        ),
        click.Option(
            ["--log-format"],
            type=click.Choice(["text", "json"]),
            expose_value=False,
            callback=_format,
            help="text (default) or json: one JSON object per line, for CI.",
        ),
    ]


def accepting(command: click.Command) -> click.Command:
    """`command`, and every subcommand of a group, accepting the options (once, and never over
    an option of its own with the same name)."""
    taken = {opt for param in command.params for opt in param.opts}
    command.params.extend(o for o in _options() if not taken & set(o.opts))
    for param in command.params:
        if "-q" in param.opts and param.callback is None:  # its own -q (verify's) quiets too
            param.callback = _own_quiet
    if _runs_a_command(command):
        command.context_settings["allow_interspersed_args"] = False  # options stand before it
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accepting(sub)
    return command


def _runs_a_command(command: click.Command) -> bool:
    """Whether `command` takes option-like words into a variadic argument (`attest build`'s
    COMMAND): from its first word on, every word is that command's. Not only -v: a `--json` or
    `--step` the build tool takes was attest's too when options could follow the first word."""
    variadic = any(isinstance(p, click.Argument) and p.nargs == -1 for p in command.params)
    unknown = command.context_settings.get("ignore_unknown_options", command.ignore_unknown_options)
    return bool(unknown) and variadic
