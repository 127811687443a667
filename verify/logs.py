"""Logging: every logger of attest and of the gate lives under the one root `attest` (the gate's
as `attest.verify.*`), quiet unless the CLI's -v (info) or -vv (debug) asks; `timed` logs a
stage's start and end with its duration. Logs go to stderr only (stdout carries reports), and
every message passes through `verify.text.shown`: input never reaches a log unescaped. The
traceback -v shows on an error (`exception`) names frames and exception types, never a message."""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from verify.text import shown

ROOT = "attest"
LogFormat = Literal["text", "json"]
_LEVELS = (logging.NOTSET, logging.INFO, logging.DEBUG)  # by the number of -v
LIBRARIES = ("sigstore",)  # their warnings reach stderr through attest's prefix, never raw


def get(name: str) -> logging.Logger:
    """The logger for the module `name` (its `__name__`) under the one root."""
    inside = name == ROOT or name.startswith(f"{ROOT}.")
    return logging.getLogger(name if inside else f"{ROOT}.{name}")


@contextmanager
def timed(logger: logging.Logger, stage: str, doing: str = "") -> Iterator[None]:
    """Log `stage` starting (saying what it is `doing`) and ending, with its duration; also as a
    decorator. A failure is logged as such, then propagates unchanged."""
    logger.info("%s: start%s", stage, f": {doing}" if doing else "", extra={"stage": stage})
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        _ended(logger, stage, "failed after", started)
        raise
    _ended(logger, stage, "done in", started)


def _ended(logger: logging.Logger, stage: str, how: str, started: float) -> None:
    duration = round(time.perf_counter() - started, 3)
    logger.info("%s: %s %.3f s", stage, how, duration, extra={"stage": stage, "duration": duration})


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = record.levelname.lower()
        return f"attest: {moment} {level} {record.name}: {shown(record.getMessage())}"


def _utc(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Warning(logging.Formatter):
    """A library's warning when attest shows no logs: one line, as attest's own warnings."""

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        return f"attest: {level}: {record.name}: {shown(record.getMessage())}"


class _Json(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and stage and duration (seconds)
    when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": shown(record.getMessage()),
        }
        for field in ("stage", "duration"):
            if hasattr(record, field):
                line[field] = getattr(record, field)
        return json.dumps(line, ensure_ascii=True)


class _Stderr(logging.Handler):
    """Writes to the stderr of the moment (a test runner swaps it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


class _Asked:
    """What `configure` was last asked for (tracebacks on errors follow it)."""

    verbosity = 0
    log_format: LogFormat = "text"


def configure(verbosity: int, log_format: LogFormat = "text") -> None:
    """Show the `attest` logs on stderr: none at 0 (the library's default), info at 1, debug
    at 2 or more; below 0 (-q) none either, and `quiet()` tells the commands to leave out their
    lines for people that say nothing is wrong. Replaces what an earlier call set up."""
    root = logging.getLogger(ROOT)
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    _Asked.verbosity = min(max(verbosity, -1), len(_LEVELS) - 1)
    _Asked.log_format = log_format
    level = _LEVELS[max(_Asked.verbosity, 0)]
    root.setLevel(level)
    root.propagate = level == logging.NOTSET  # shown once: here, not again by the root's handlers
    if level != logging.NOTSET:
        handler = _Stderr()
        handler.setFormatter(_Json() if log_format == "json" else _Text())
        root.addHandler(handler)
    for name in LIBRARIES:
        _library(logging.getLogger(name), log_format, level)


def _library(logger: logging.Logger, log_format: LogFormat, level: int) -> None:
    """A library's warnings (and errors) in attest's format, not Python's bare last resort."""
    for handler in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(handler)
    handler = _Stderr()
    plain = _Warning() if level == logging.NOTSET else _Text()
    handler.setFormatter(_Json() if log_format == "json" else plain)
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    logger.propagate = False


def verbosity() -> int:
    """What `configure` was last asked for: -1 quiet (-q), 0 no logs, 1 info, 2 debug."""
    return _Asked.verbosity


def quiet() -> bool:
    """Whether -q asked for errors, warnings and results only: no progress, no narration."""
    return _Asked.verbosity < 0


def exception(exc: BaseException, name: str) -> None:
    """Write the traceback of `exc`, caught by the module `name`, to stderr (text, or one JSON
    object from that module's logger with --log-format json):
    for each exception of its chain, the earliest first as Python prints them, its type and its
    frames (file, line, function), never its message. A library's message may quote input that
    attest's own error line leaves out on purpose (a line of an included file holding a token, a
    server's reply); that line, escaped, is the message."""
    chain = _chain(exc)
    if _Asked.log_format == "json":
        record: dict[str, object] = {
            "time": _utc(time.time()),
            "level": "info",  # what -v shows; the error itself is attest's error line
            "logger": get(name).name,
            "message": f"traceback: {_type(exc)}",
            "exc_type": _type(exc),
            "frames": _frames(exc),
            "chain": [  # what led to it, its direct cause or context first
                {"exc_type": _type(earlier), "frames": _frames(earlier), "how": how}
                for earlier, how in chain[1:]
            ],
        }
        lines = [json.dumps(record, ensure_ascii=True)]
    else:
        lines = []
        for each, how in reversed(chain):
            lines.append("Traceback (most recent call last):")
            lines += [
                f'  File "{frame["file"]}", line {frame["line"]}, in {frame["function"]}'
                for frame in _frames(each)
            ]
            lines.append(_type(each))
            if each is not exc:
                lines += ["", _LED_TO[how], ""]
    sys.stderr.write("".join(f"{line}\n" for line in lines))
    sys.stderr.flush()


_LED_TO = {
    "cause": "The above exception was the direct cause of the following exception:",
    "context": "During handling of the above exception, another exception occurred:",
}


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """`exc` and what led to it, latest first, each with how it led to the one before it
    (`cause`: raise ... from; `context`: raised while handling), as Python walks them."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    how = "cause"
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, how))
        if current.__cause__ is not None:
            current, how = current.__cause__, "cause"
        elif not current.__suppress_context__:
            current, how = current.__context__, "context"
        else:
            current = None
    return chain


def _type(exc: BaseException) -> str:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    return shown(name)


def _frames(exc: BaseException) -> list[dict[str, object]]:
    return [
        {
            "file": shown(frame.f_code.co_filename),
            "line": line,
            "function": shown(frame.f_code.co_name),
        }
        for frame, line in traceback.walk_tb(exc.__traceback__)
    ]
