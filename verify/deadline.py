"""A bound on the time one artifact's decision may take. The policy's patterns cannot hang the
gate (RE2 matches in linear time), but whatever else makes a decision slow, a plugin or evidence
built to be costly, ends here: an operational error naming the artifact (exit 3), never a
verdict.

The limit is a constant a library caller may lower (tests do), never a setting of the
environment: nothing outside the code can lift it. It is kept with a real-time interval timer
(SIGALRM), which only the main thread can receive; elsewhere the bound is not kept. What the
timer raises into the work is no `Exception`: the gate turns every refusal of sigstore or of a
bundle into a reason (`except Exception`), and a timeout caught there was one more reason; the
work went on to its end (a 1 s limit on reading 400 bundles ended after 9 s)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

from verify.errors import OperationalError

DECISION_LIMIT = 60.0  # seconds; a decision takes milliseconds


class DecisionTimeout(OperationalError):
    """One artifact's decision took longer than the limit: nothing about it is allowed."""


class _Expired(BaseException):
    """Raised into the block when its time is up. Like KeyboardInterrupt, it passes every
    `except Exception` on its way out; `limit` says it as a DecisionTimeout."""


# What a catch-all for a plugin's failures (`except BaseException`: a plugin's `sys.exit()` is
# one) lets pass: ^C, and the expiry that `limit` says itself.
PASSING: tuple[type[BaseException], ...] = (KeyboardInterrupt, _Expired)


@contextlib.contextmanager
def limit(seconds: float, artifact: str) -> Iterator[None]:
    """Raise DecisionTimeout when the block runs longer than `seconds` (no-op off the main
    thread). Raised after the block too if the block caught it: once the time is up, no verdict
    reached after that counts, and no other error replaces this one."""
    if not seconds > 0:  # a zero timer is no timer
        raise ValueError(f"the limit must be positive, not {seconds}")
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return
    expired = running = False

    def expire(signum: int, frame: FrameType | None) -> None:
        nonlocal expired
        expired = True
        if running:
            raise _Expired

    started = time.monotonic()
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    running = True
    try:
        yield
    except _Expired:
        pass  # said below
    finally:
        running = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # someone else's timer was running: give it back what is left
            left = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)
        if expired:
            raise _timeout(seconds, artifact)


def _timeout(seconds: float, artifact: str) -> DecisionTimeout:
    return DecisionTimeout(
        f"deciding on {artifact!r} took longer than {seconds:g} s, the limit for one artifact: "
        "nothing was allowed; retry, and if it persists, report the policy and evidence that "
        "make it slow"
    )
