"""Logging: every logger of attest and of the gate lives under the one root `attest` (the gate's
as `attest.verify.*`), quiet unless the CLI's -v (info) or -vv (debug) asks; `timed` logs a
stage's start and end with its duration. Logs go to stderr only (stdout carries reports), and
every message passes through `verify.text.shown`: input never reaches a log unescaped."""

from __future__ import annotations

import datetime
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from verify.text import shown

ROOT = "attest"
LogFormat = Literal["text", "json"]
_LEVELS = (logging.NOTSET, logging.INFO, logging.DEBUG)  # by the number of -v


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


class _Json(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and stage and duration (seconds)
    when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        line: dict[str, object] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
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
    verbosity = 0  # what `configure` was last asked for (tracebacks on errors follow it)


def configure(verbosity: int, log_format: LogFormat = "text") -> None:
    """Show the `attest` logs on stderr: none at 0 (the library's default), info at 1, debug
    at 2 or more; replaces what an earlier call set up."""
    root = logging.getLogger(ROOT)
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    _Asked.verbosity = min(max(verbosity, 0), len(_LEVELS) - 1)
    level = _LEVELS[_Asked.verbosity]
    root.setLevel(level)
    root.propagate = level == logging.NOTSET  # shown once: here, not again by the root's handlers
    if level != logging.NOTSET:
        handler = _Stderr()
        handler.setFormatter(_Json() if log_format == "json" else _Text())
        root.addHandler(handler)


def verbosity() -> int:
    """What `configure` was last asked for: 0 quiet, 1 info, 2 debug."""
    return _Asked.verbosity
