"""The judging instant given as `--now` (by `attest verify`, `attest scan`, `attest release`; the
one parser of it, also of `attest instance up --clock`): parsed once, in
UTC, and only between EARLIEST and LATEST. Every date computed from it (a due date, an age limit)
is it plus or minus a policy duration of at most 1000 years, so the bounds keep all of them
inside the calendar (years 1 to 9999): past them, Python's dates overflow (exit 3, "internal
error"), and nobody judges a deployment in the year 1 or 9999."""

from __future__ import annotations

import datetime

from verify.errors import UsageError
from verify.text import quoted

UTC = datetime.timezone.utc
EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime.datetime(9000, 1, 1, tzinfo=UTC)  # excluded: + 1000 years stays before 10000
_SHOWN = 40  # characters of the text quoted back


class BadInstant(UsageError, ValueError):
    """`--now` is not a time, or outside EARLIEST..LATEST; the message says which (exit 2)."""


def given(text: str | None, assume_utc: bool = False) -> datetime.datetime:
    """`--now` of any command: `parse(text)`, or the wall clock when not given."""
    return datetime.datetime.now(UTC) if text is None else parse(text, assume_utc)


def parse(text: str, assume_utc: bool = False, option: str = "--now") -> datetime.datetime:
    """`text` (ISO 8601 / RFC 3339; `Z` allowed) as an aware time in UTC. Without a time zone it
    is UTC when `assume_utc`, else BadInstant (a deploy gate does not guess the zone). `option`
    names the option in messages."""
    said = f"{option} {quoted(text, _SHOWN)}"
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise BadInstant(f"{said} is not a time (ISO 8601, e.g. 2026-11-23T12:00:00Z)") from e
    if moment.tzinfo is None:
        if not assume_utc:
            raise BadInstant(f"{said} needs a time zone (e.g. 2026-11-23T12:00:00Z)")
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the calendar starts
        moment = EARLIEST - datetime.timedelta(days=1)  # out of range, said below
    if not EARLIEST <= moment < LATEST:
        raise BadInstant(
            f"{said} is outside the years {EARLIEST.year} to {LATEST.year - 1} (UTC), "
            "the range the gate and the scan judge in"
        )
    return moment
