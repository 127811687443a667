"""The one retry policy for attest's network calls (the CA, the transparency log, GitHub's OIDC
endpoint, the vulnerability services): which failures are transient, how many attempts, how
long one attempt may take in all, how long to wait between them. The gate is offline and never
retries."""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import os
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Policy:
    attempts: int = 3  # the first call included
    backoff: float = 0.5  # seconds before the second attempt, doubled before each later one
    cap: float = 2.0  # seconds: the longest wait, also the cap on a server's Retry-After
    # seconds one attempt may take in all, or None: requests' timeouts are per connect and per
    # read, so a service sending its answer a byte at a time is never timed out by them
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy makes at least one attempt")
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError(f"a deadline must be positive, not {self.deadline}")

    def wait(self, failed: int, error: BaseException) -> float:
        """Seconds to wait after attempt number `failed` failed with the transient `error`: the
        server's Retry-After when it gave one, else the backoff; never more than `cap` (a
        service asking for an hour gets a few seconds, then counts as down)."""
        asked = retry_after(error, self.cap)
        if asked is None:
            asked = self.backoff * 2 ** (failed - 1)
        return min(asked, self.cap)

    def attempt(self, call: Callable[[], T]) -> T:
        """`call()`, abandoned as `Late` when it runs past the deadline."""
        return call() if self.deadline is None else _THREADS.run(call, self.deadline)


NETWORK = Policy()


class Late(TimeoutError):
    """An attempt that did not finish within its policy's deadline: transient, like any
    timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not answer within {seconds:g} s")
        self.seconds = seconds


class GaveUp(Exception):
    """A call that failed for good: its last `error` after `attempts` attempts. `spent` says the
    error was transient, so every attempt was made; otherwise it was permanent and not retried."""

    def __init__(self, error: Exception, attempts: int, spent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.spent = spent


def call(attempt: Callable[[], T], policy: Policy, catch: tuple[type[Exception], ...]) -> T:
    """`attempt()`, made again after a transient failure, as `policy` says, each attempt within
    its deadline. A failure among `catch`, or an attempt that was `Late`, ends as `GaveUp` (the
    caller words it); any other exception passes unchanged."""
    for made in range(1, policy.attempts + 1):
        try:
            return policy.attempt(attempt)
        except catch as e:
            error: Exception = e
        except Late as e:
            error = e
        again = transient(error)
        if not again or made == policy.attempts:
            raise GaveUp(error, made, spent=again) from error
        time.sleep(policy.wait(made, error))
    raise AssertionError("unreachable: Policy makes at least one attempt")


class _Threads:
    """Long-lived daemon threads that make the attempts bounded by a deadline: the caller waits
    for the deadline, then gives up; a daemon thread left waiting on a stalled service does not
    keep the process alive. The threads live as long as the process because an HTTP client may
    keep one session per thread (sigstore does): reusing the threads reuses the connections."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """No threads, no jobs. Also a forked child's start: it has none of the parent's
        threads and may have inherited the lock held (its calls open their own connections)."""
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], _Job]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def run(self, call: Callable[[], T], deadline: float) -> T:
        job = _Job()
        with self._lock:
            if self._idle == 0:
                threading.Thread(target=self._serve, daemon=True).start()
            else:
                self._idle -= 1
        self._jobs.put((call, job))
        if not job.done.wait(deadline):
            raise Late(deadline)
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[return-value]

    def _serve(self) -> None:
        while True:
            call, job = self._jobs.get()
            try:
                job.value = call()
            except BaseException as e:  # handed to the caller's thread
                job.error = e
            with self._lock:
                self._idle += 1
            job.done.set()


@dataclasses.dataclass
class _Job:
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    value: object = None
    error: BaseException | None = None


_THREADS = _Threads()
os.register_at_fork(after_in_child=_THREADS.reset)


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, outermost first: sigstore and pip-audit wrap requests'
    errors (`raise ServiceError from http_error`)."""
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _http_answer(error: BaseException) -> requests.Response | None:
    for cause in chain(error):
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            return cause.response
    return None


def transient(error: BaseException) -> bool:
    """Whether another attempt may succeed: a refused or dropped connection, a timeout, HTTP 429
    or 5xx. Anything else (4xx, a malformed answer, a TLS certificate refused, a redirect loop)
    will fail the same way again. The innermost cause decides: pip-audit turns both a connect
    timeout and a redirect loop into the built-in ConnectionError."""
    for cause in reversed(list(chain(error))):
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            status = cause.response.status_code
            return status == 429 or 500 <= status <= 599
        if isinstance(cause, (ssl.SSLCertVerificationError, requests.TooManyRedirects)):
            return False
        if isinstance(cause, (requests.ConnectionError, requests.Timeout)):
            return True
        if isinstance(cause, (ConnectionError, TimeoutError)):
            return True
    return False


def retry_after(error: BaseException, cap: float) -> float | None:
    """The seconds an HTTP answer in `error`'s chain asked to wait (Retry-After: seconds or an
    HTTP date), at most `cap`; None when it asked nothing readable, which is ignored (the
    backoff applies): the header is the server's to write, and `²` is a digit to `isdigit`."""
    answer = _http_answer(error)
    value = answer.headers.get("Retry-After", "").strip() if answer is not None else ""
    if value.isascii() and value.isdigit():
        return min(float(value), cap)
    try:
        moment = email.utils.parsedate_to_datetime(value)
        if moment.tzinfo is None:  # an HTTP date is GMT
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        asked = (moment - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(0.0, asked), cap)
