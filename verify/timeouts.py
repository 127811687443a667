"""`--timeout DURATION` of the commands whose whole run has a deadline (`attest build`, `attest
trust update`, reading registries in `attest verify oci://`): read as policies write durations,
or whole seconds, and said back to a person."""

from __future__ import annotations

import datetime

from verify.errors import UsageError
from verify.policy import MAX_DURATION, PolicyError, duration, human
from verify.text import excerpt, quoted


def timeout_of(text: str) -> datetime.timedelta:
    """`--timeout`: a duration as policies write it (`30m`, `2h`, `1d`) or whole seconds."""
    if text.isascii() and text.isdigit():
        seconds = text.lstrip("0")
        limit = int(MAX_DURATION.total_seconds())
        if len(seconds) > len(str(limit)) or int(seconds or 0) > limit:
            raise UsageError(f"--timeout: {excerpt(text)} seconds is over 1000 years")
        span = datetime.timedelta(seconds=int(seconds or 0))
    else:
        try:
            span = duration(text, f"--timeout {quoted(text)}")
        except PolicyError as e:  # the hint is for a text that is not a duration at all
            hint = (
                "" if str(e).endswith("is over 1000 years") else " (or whole seconds, such as 900)"
            )
            raise UsageError(f"{e}{hint}") from e
    if not span:
        raise UsageError("--timeout: 0 would stop it before it starts; give a duration")
    return span


def spoken(span: datetime.timedelta) -> str:
    """A timeout as a person reads it: `1h`, `90m`, or seconds when not whole minutes."""
    seconds = int(span.total_seconds())
    return human(span) if seconds % 60 == 0 else f"{seconds} s"
