"""The one retry policy for attest's network calls (the CA, the transparency log, GitHub's OIDC
endpoint, the vulnerability services): which failures are transient, how many attempts, how
long to wait between them. The gate is offline and never retries."""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import ssl
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

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy makes at least one attempt")

    def wait(self, failed: int, error: BaseException) -> float:
        """Seconds to wait after attempt number `failed` failed with the transient `error`: the
        server's Retry-After when it gave one, else the backoff; never more than `cap` (a
        service asking for an hour gets a few seconds, then counts as down)."""
        asked = retry_after(error)
        if asked is None:
            asked = self.backoff * 2 ** (failed - 1)
        return min(asked, self.cap)


NETWORK = Policy()


class GaveUp(Exception):
    """A call that failed for good: its last `error` after `attempts` attempts. `spent` says the
    error was transient, so every attempt was made; otherwise it was permanent and not retried."""

    def __init__(self, error: Exception, attempts: int, spent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.spent = spent


def call(attempt: Callable[[], T], policy: Policy, catch: tuple[type[Exception], ...]) -> T:
    """`attempt()`, made again after a transient failure, as `policy` says. A failure among
    `catch` ends as `GaveUp` (the caller words it); any other exception passes unchanged."""
    for made in range(1, policy.attempts + 1):
        try:
            return attempt()
        except catch as e:
            again = transient(e)
            if not again or made == policy.attempts:
                raise GaveUp(e, made, spent=again) from e
            time.sleep(policy.wait(made, e))
    raise AssertionError("unreachable: Policy makes at least one attempt")


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


def retry_after(error: BaseException) -> float | None:
    """The seconds an HTTP answer in `error`'s chain asked to wait (Retry-After: seconds or an
    HTTP date), None when it asked nothing readable."""
    answer = _http_answer(error)
    value = answer.headers.get("Retry-After", "").strip() if answer is not None else ""
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an HTTP date is GMT
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (moment - datetime.datetime.now(datetime.timezone.utc)).total_seconds())
