"""The one retry policy (attest/retry.py) against real loopback HTTP servers: what is transient
(refused, timeout, 5xx, 429) and what is not (4xx, a malformed answer), the backoff and its cap,
and a server's Retry-After obeyed only up to the cap. Every test is bounded in time."""

from __future__ import annotations

import dataclasses
import email.utils
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from attest import retry
from attest.sign import identity
from tests.loopback import dripping, serving, unused_port
from verify.errors import OperationalError

pytestmark = pytest.mark.network  # a loopback server per test

QUICK = retry.Policy(attempts=3, backoff=0.05, cap=0.2)


class Scripted:
    """A loopback server answering the n-th request with `script[n]` (the last entry for every
    later one): a status, or "slow" to answer after the client's timeout."""

    def __init__(self, *script: int | str, retry_after: str | None = None) -> None:
        self.script = script
        self.retry_after = retry_after
        self.requests = 0
        self.last = 0.0  # time.monotonic() of the last request

    @contextmanager
    def serve(self) -> Iterator[str]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = api.script[min(api.requests, len(api.script) - 1)]
                api.requests += 1
                api.last = time.monotonic()
                if answer == "slow":
                    time.sleep(1.0)
                    answer = 200
                body = b'{"value": "a token"}' if answer == 200 else b"{}"
                self.send_response(int(answer))
                if api.retry_after is not None and answer != 200:
                    self.send_header("Retry-After", api.retry_after)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        with serving(Handler, lifetime=30) as base:
            yield base


def _get(url: str, timeout: float = 5) -> requests.Response:
    answer = requests.get(url, timeout=timeout)
    answer.raise_for_status()
    return answer


def _call(url: str, policy: retry.Policy = QUICK, timeout: float = 5) -> requests.Response:
    return retry.call(lambda: _get(url, timeout), policy, (requests.RequestException,))


@pytest.mark.parametrize("transient", [500, 502, 503, 504, 429])
def test_transient_answers_are_retried_to_success(transient: int) -> None:
    server = Scripted(transient, transient, 200)
    with server.serve() as base:
        assert _call(base).status_code == 200
    assert server.requests == 3


@pytest.mark.parametrize("permanent", [400, 401, 403, 404, 410])
def test_client_errors_are_not_retried(permanent: int) -> None:
    server = Scripted(permanent, 200)
    with server.serve() as base, pytest.raises(retry.GaveUp) as gave_up:
        _call(base)
    assert server.requests == 1
    assert (gave_up.value.attempts, gave_up.value.spent) == (1, False)
    assert isinstance(gave_up.value.error, requests.HTTPError)


def test_attempts_are_bounded_and_the_last_error_is_kept() -> None:
    server = Scripted(503)
    with server.serve() as base:
        start = time.monotonic()
        with pytest.raises(retry.GaveUp) as gave_up:
            _call(base)
        elapsed = time.monotonic() - start
    assert server.requests == QUICK.attempts == 3
    assert (gave_up.value.attempts, gave_up.value.spent) == (3, True)
    assert "503 Server Error" in str(gave_up.value.error)
    # waits of 0.05 and 0.1 s between the three attempts, none after the last one
    assert 0.15 <= elapsed < 0.15 + 2


def test_a_refused_connection_is_transient() -> None:
    url = f"http://127.0.0.1:{unused_port()}/"
    with pytest.raises(retry.GaveUp) as gave_up:
        _call(url)
    assert (gave_up.value.attempts, gave_up.value.spent) == (3, True)
    assert isinstance(gave_up.value.error, requests.ConnectionError)


def test_a_timeout_is_transient() -> None:
    server = Scripted("slow", 200)
    with server.serve() as base:
        assert _call(base, timeout=0.3).status_code == 200
    assert server.requests == 2


def test_a_malformed_answer_is_not_retried() -> None:
    server = Scripted(200)
    with server.serve() as base, pytest.raises(retry.GaveUp) as gave_up:
        retry.call(lambda: _get(base).json()["missing"], QUICK, (KeyError,))
    assert server.requests == 1
    assert (gave_up.value.attempts, gave_up.value.spent) == (1, False)


def test_other_exceptions_pass_unchanged() -> None:
    made: list[int] = []

    def fails() -> None:
        made.append(1)
        raise OperationalError("did not answer within 60 s")

    with pytest.raises(OperationalError, match="did not answer within 60 s"):
        retry.call(fails, QUICK, (requests.RequestException,))
    assert made == [1]


@pytest.mark.parametrize("asked", ["3600", email.utils.formatdate(time.time() + 3600, usegmt=True)])
def test_retry_after_is_obeyed_up_to_the_cap(asked: str) -> None:
    """A server asking for an hour (in seconds or as an HTTP date) gets the cap, 0.2 s."""
    server = Scripted(429, retry_after=asked)
    with server.serve() as base:
        start = time.monotonic()
        with pytest.raises(retry.GaveUp) as gave_up:
            _call(base)
        elapsed = time.monotonic() - start
    assert server.requests == 3
    assert gave_up.value.spent
    assert 2 * QUICK.cap <= elapsed < 2 * QUICK.cap + 2


def test_a_short_retry_after_is_waited_instead_of_the_backoff() -> None:
    server = Scripted(503, 200, retry_after="0")
    with server.serve() as base:
        start = time.monotonic()
        assert _call(base, retry.Policy(attempts=2, backoff=5, cap=10)).status_code == 200
        elapsed = time.monotonic() - start
    assert server.requests == 2
    assert elapsed < 2  # not the 5 s backoff: the server said it may be asked again at once


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = retry.Policy(attempts=6, backoff=0.5, cap=2.0)
    error = requests.ConnectionError()
    assert [policy.wait(n, error) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert retry.Policy(attempts=3, backoff=0.5, cap=2.0) == retry.NETWORK


@given(
    failed=st.integers(min_value=1, max_value=200),
    backoff=st.floats(min_value=0, max_value=10),
    cap=st.floats(min_value=0, max_value=10),
    asked=st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
)
def test_no_wait_exceeds_the_cap(
    failed: int, backoff: float, cap: float, asked: int | None
) -> None:
    answer = requests.Response()
    answer.status_code = 429
    if asked is not None:
        answer.headers["Retry-After"] = str(asked)
    error = requests.HTTPError(response=answer)
    wait = retry.Policy(attempts=2, backoff=backoff, cap=cap).wait(failed, error)
    assert 0 <= wait <= cap


@contextmanager
def _raw(answer: bytes) -> Iterator[str]:
    """A loopback server answering every request with these bytes, status line and headers
    included (http.server would not send a header that is not ASCII)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler, lifetime=30) as base:
        yield base


def test_an_unreadable_retry_after_is_ignored_for_the_backoff() -> None:
    """`²` is a digit to str.isdigit, not to float(): before, the first 503 carrying it ended
    sign, scan and the OIDC token fetch with exit 3 "internal error: ValueError"."""
    superscript = b"HTTP/1.1 503 Unavailable\r\nRetry-After: \xb2\r\nContent-Length: 2\r\n\r\n{}"
    with _raw(superscript) as base:
        start = time.monotonic()
        with pytest.raises(retry.GaveUp) as gave_up:
            _call(base, retry.Policy(attempts=2, backoff=0.3, cap=1.0))
        elapsed = time.monotonic() - start
    assert gave_up.value.attempts == 2 and gave_up.value.spent
    assert gave_up.value.error.response.headers["Retry-After"] == "\xb2"  # type: ignore[attr-defined]
    assert 0.3 <= elapsed < 0.3 + 2  # the backoff: the header asked nothing readable


def _asking(value: str) -> requests.HTTPError:
    answer = requests.Response()
    answer.status_code = 503
    answer.headers["Retry-After"] = value
    return requests.HTTPError(response=answer)


@given(value=st.text(), cap=st.floats(min_value=0, max_value=10))
def test_any_retry_after_is_none_or_a_wait_within_the_cap(value: str, cap: float) -> None:
    asked = retry.retry_after(_asking(value), cap)
    assert asked is None or 0 <= asked <= cap


@given(
    value=st.one_of(
        st.from_regex(r"\A\s*[0-9]{1,400}\s*\Z"),
        st.builds(email.utils.formatdate, st.floats(min_value=-(10**10), max_value=10**11)),
        st.from_regex(
            r"\A[A-Za-z]{3}, [0-9]{1,6} [A-Za-z]{3} -?[0-9]{1,6} [0-9:]{1,9} [A-Z+0-9-]{1,5}\Z"
        ),
    ),
    cap=st.floats(min_value=0, max_value=10),
)
def test_a_retry_after_that_looks_readable_never_raises(value: str, cap: float) -> None:
    """Text shaped like the header's two forms, where a parser is likelier to break."""
    asked = retry.retry_after(_asking(value), cap)
    assert asked is None or 0 <= asked <= cap


def test_each_attempt_is_bounded_by_the_deadline_in_all() -> None:
    """requests' timeout is per read: an answer dripping a byte at a time kept `attest scan`
    waiting past its --timeout, without end."""
    policy = retry.Policy(attempts=2, backoff=0.05, cap=0.2, deadline=0.5)
    with dripping() as base:
        start = time.monotonic()
        with pytest.raises(retry.GaveUp) as gave_up:
            retry.call(lambda: _get(base, timeout=5).content, policy, (requests.RequestException,))
        elapsed = time.monotonic() - start
    assert isinstance(gave_up.value.error, retry.Late)
    assert str(gave_up.value.error) == "did not answer within 0.5 s"
    assert (gave_up.value.attempts, gave_up.value.spent) == (2, True)  # a timeout: transient
    assert 1.0 <= elapsed < 1.0 + 2
    with pytest.raises(ValueError, match="deadline must be positive"):
        retry.Policy(deadline=0)


def _wrapped(inner: Exception) -> requests.RequestException:
    """`inner` as requests raises it: an SSLError caused by the ssl module's error."""
    try:
        raise requests.exceptions.SSLError(inner) from inner
    except requests.RequestException as e:
        return e


def test_a_refused_certificate_is_not_transient() -> None:
    """requests' SSLError is a ConnectionError; a certificate refused will be refused again,
    while a TLS connection dropped may not be."""
    refused = _wrapped(ssl.SSLCertVerificationError("certificate verify failed"))
    assert not retry.transient(refused)
    assert retry.transient(_wrapped(ssl.SSLEOFError("EOF occurred in violation of protocol")))


def test_a_policy_makes_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        retry.Policy(attempts=0)


# -- the callers ----------------------------------------------------------------------------------


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[Scripted]:
    """GitHub's OIDC token endpoint as a scripted loopback server, with the quick policy."""
    monkeypatch.setattr(identity, "RETRY", QUICK)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
    yield Scripted(200)


def test_github_token_endpoint_throttling_is_retried(
    github: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a 429 was final (only 5xx were retried)."""
    github.script = (429, 200)
    with github.serve() as base:
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{base}/token")
        assert identity.github_ambient_token() == "a token"
    assert github.requests == 2


def test_github_token_endpoint_down_is_operational_after_the_attempts(
    github: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a wait followed even the last attempt (2 s of nothing, with the real policy)."""
    monkeypatch.setattr(identity, "RETRY", retry.Policy(attempts=2, backoff=1.0, cap=1.0))
    github.script = (503,)
    with github.serve() as base:
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{base}/token")
        with pytest.raises(OperationalError) as caught:
            identity.github_ambient_token()
        after_last = time.monotonic() - github.last
    assert github.requests == 2
    assert "could not get an identity token from GitHub's OIDC endpoint (HTTP 503)" in str(
        caught.value
    )
    assert "id-token: write" in str(caught.value)
    assert after_last < 0.9  # no wait of 1 s after the last attempt


def test_github_token_endpoint_with_an_unreadable_retry_after_or_dripping(
    github: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `Retry-After: ²` ended the fetch with "internal error: ValueError", and an
    endpoint dripping its answer held it past its 30 s timeout without end."""
    superscript = b"HTTP/1.1 503 Unavailable\r\nRetry-After: \xb2\r\nContent-Length: 2\r\n\r\n{}"
    with _raw(superscript) as base:
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{base}/token")
        with pytest.raises(OperationalError, match=r"OIDC endpoint \(HTTP 503\)"):
            identity.github_ambient_token()
    monkeypatch.setattr(identity, "RETRY", dataclasses.replace(QUICK, attempts=1, deadline=0.5))
    with dripping() as base:
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{base}/token")
        with pytest.raises(
            OperationalError, match=r"OIDC endpoint \(did not answer within 0.5 s\)"
        ):
            identity.github_ambient_token()


def test_the_policies_of_sign_and_of_the_token_fetch_bound_each_attempt() -> None:
    """sigstore's requests carry no timeout; requests' own is per read (the scan's deadline is
    its --timeout: tests/attest/scan/test_services.py)."""
    from attest.sign import session

    assert (session.RETRY.deadline, identity.RETRY.deadline) == (60.0, identity.TIMEOUT)
