"""The exit-code contract and the gate's error hierarchy.

The exit codes live here because both packages honour them and `verify` may not import `attest`.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a process exit status means, for every attest command."""

    OK = 0  # pass / allow
    DENIED = 1  # policy said no: deny, SLO breached, verification failed
    USAGE = 2  # usage or configuration error: fix the command line or the file named
    OPERATIONAL = 3  # network, service, I/O or a bug: retry; never lets anything through


class VerifyError(Exception):
    """Base of every error the gate raises on purpose; `exit_code` says how the CLI ends."""

    exit_code: ExitCode = ExitCode.OPERATIONAL


class PluginError(VerifyError):
    """A plugin could not be registered or loaded: a configuration problem of the installation."""

    exit_code = ExitCode.USAGE


def without_input(error: BaseException, limit: int = 200) -> str:
    """Why untrusted input was refused, never quoting the input: pydantic's messages carry
    `input_value=...`, so a bundle that is a symlink to /etc/shadow would copy its first line
    into the gate's output and the decision log."""
    import pydantic  # here, not at the top: every command imports this module, few fail

    link: BaseException | None = error
    while link is not None and not isinstance(link, pydantic.ValidationError):
        link = link.__cause__ or link.__context__
    if link is None:
        return str(error)[:limit]
    problems = link.errors(include_url=False, include_input=False, include_context=False)
    said = "; ".join(
        f"{'.'.join(map(str, p['loc'])) or 'document'}: {p['msg']}" for p in problems[:3]
    )
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{said[:limit]}{more}"
