"""The exit-code contract and the gate's error hierarchy.

The exit codes live here because both packages honour them and `verify` may not import `attest`.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
from collections.abc import Iterator
from typing import Any

from verify.text import EXCERPT, excerpt


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


# A literal a library's message quotes (`b'\\x0f…'`, `'ghp_…'`): a repr of the input, left out;
# any other run longer than an excerpt (a number, a digest, base64) is cut to one.
_QUOTED = re.compile(r"(?<!\w)b?(?:'(?:[^'\\\n]|\\.)*'" + r'|"(?:[^"\\\n]|\\.)*")(?!\w)')
_LONG = re.compile(rf"\S{{{EXCERPT + 1},}}")


def unquoted(message: str, limit: int = 200) -> str:
    """A library's message without the input it may interpolate (sigstore writes the bytes of
    an inclusion proof it refused): quoted literals left out, long runs cut to an excerpt."""
    message = _QUOTED.sub("'…'", message)
    return _LONG.sub(lambda m: excerpt(m.group()), message)[:limit]


def _pydantic_problem(problem: Any) -> str:
    """One pydantic refusal as field and rule: an unknown key is input (`{"ghp_…": 1}`), so it
    is never named; a validator's own message ends with the value it refused (`Value exceeds
    uint64 domain: 9999…`), so only what comes before that is kept."""
    where = [excerpt(part) if isinstance(part, str) else str(part) for part in problem["loc"]]
    if problem["type"] == "extra_forbidden":
        return f"{'.'.join(where[:-1]) or 'document'}: a key the format does not have"
    message = problem["msg"]
    if problem["type"] in ("value_error", "assertion_error"):
        message = unquoted(message.partition(": ")[0])
    return f"{'.'.join(where) or 'document'}: {message}"


def without_input(error: BaseException, limit: int = 200) -> str:
    """Why untrusted input was refused, never quoting more of the input than an excerpt:
    pydantic's messages carry `input_value=...` (a bundle that is a symlink to /etc/shadow would
    copy its first line into the gate's output and the decision log), its locations carry
    unknown keys, and a library's message may carry the value it refused."""
    import pydantic  # here, not at the top: every command imports this module, few fail

    link: BaseException | None = error
    while link is not None and not isinstance(link, pydantic.ValidationError):
        link = link.__cause__ or link.__context__
    if link is None:
        return unquoted(str(error), limit)
    problems = link.errors(include_url=False, include_input=False, include_context=False)
    said = "; ".join(_pydantic_problem(p) for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{said[:limit]}{more}"


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def library_warnings() -> Iterator[list[logging.LogRecord]]:
    """sigstore's log records (warnings and worse) inside the block, kept from stderr, where
    Python's last-resort handler would print them unprefixed; the caller decides what each
    means (a trusted root that logs is malformed)."""
    handler = _Kept()
    logger = logging.getLogger("sigstore")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
