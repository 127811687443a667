"""The exit-code contract and the one error hierarchy of attest and its gate (the lowest layer:
`verify` may not import `attest`, so both import the tree from here).

Which exit code an error means is decided by the contract base it descends from, and by nothing
else: `PolicyRefusal` 1, `UsageError` (and `InputError`) 2, `OperationalError` 3. A domain error
subclasses one of them; `attest.cli` alone turns the tree into exit codes and messages.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from verify.text import EXCERPT, excerpt


class ExitCode(enum.IntEnum):
    """What a process exit status means, for every attest command."""

    OK = 0  # pass / allow
    DENIED = 1  # policy said no: deny, SLO breached, verification failed
    USAGE = 2  # usage or configuration error: fix the command line or the file named
    OPERATIONAL = 3  # network, service, I/O or a bug: retry; never lets anything through


class AttestError(Exception):
    """Base of every error attest and its gate raise on purpose; the message says what to do
    next. Raise a subclass of a contract base below: a class of no contract (a domain's common
    base) exits 3, like a bug, and so never lets anything through."""

    exit_code: ClassVar[ExitCode] = ExitCode.OPERATIONAL


class PolicyRefusal(AttestError):
    """The policy said no: a deny, a breached SLO, a bundle that does not verify. Retrying will
    not help; fixing the finding will."""

    exit_code = ExitCode.DENIED


class UsageError(AttestError):
    """The command line or a configuration file is wrong: fix it and run again."""

    exit_code = ExitCode.USAGE


class InputError(UsageError):
    """An input file the user named is missing or malformed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class OperationalError(AttestError):
    """Network, service, I/O trouble or a bug: retrying may help; never an allow."""

    exit_code = ExitCode.OPERATIONAL


CONTRACT: tuple[type[AttestError], ...] = (PolicyRefusal, UsageError, OperationalError)


def contract_of(error: AttestError) -> type[AttestError]:
    """The contract base `error` descends from (OperationalError for a class of none): what an
    error that wraps it (a stage of `attest release`) is raised as, to end the same way."""
    return next((base for base in CONTRACT if isinstance(error, base)), OperationalError)


class PluginError(UsageError):
    """A plugin could not be registered or loaded: a configuration problem of the installation."""


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
    shown = logger.handlers[:]  # attest's own stderr handler (verify/logs.py) too: kept, not shown
    logger.handlers = [handler]
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.records
    finally:
        logger.handlers = shown
        logger.propagate = propagate
