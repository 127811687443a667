"""One deadline for all the reading a fetch from registries may do (a webhook review, one `attest
verify oci://` run), which every read obeys.

A per-read timeout bounds only the wait between bytes: a registry that drips one byte a second
keeps a read going for ever. So: each request's connect and read timeouts are at most what is
left of the deadline, a body is checked against it between chunks, and a read still blocked when
the time is up is ended by shutting its socket down. The sessions `session()` makes tell the
deadline of the calling thread (`Deadline.reading`) every socket they use; a timer, started at
the first one, shuts them down at the deadline. A read ended so, or any
read after the deadline, raises `Expired`: a body cut short is never taken for a whole one.

Work that does not read a registry sees the deadline by `Deadline.check` (the webhook checks it
before each image of a review)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from verify.errors import OperationalError

_current = threading.local()  # the deadline the calling thread's reads obey


class Expired(OperationalError):
    """The deadline passed before the registries answered in full: nothing is allowed."""


class Deadline:
    """An instant `seconds` from now; `what` names it in messages (`the review's 8 s`)."""

    def __init__(
        self, seconds: float, what: str = "", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.what = what or f"{seconds:g} s"
        self._clock = clock
        self.at = clock() + seconds
        self.expired = False  # the timer fired: reads in progress were ended
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []  # in use for it
        self._timer: threading.Timer | None = None
        self._closed = False

    def left(self) -> float:
        return 0.0 if self.expired else max(self.at - self._clock(), 0.0)

    def check(self, what: str) -> float:
        """The seconds left, or Expired naming `what` when none are."""
        left = self.left()
        if left <= 0:
            raise Expired(
                f"{what}: no complete answer within {self.what}, the deadline: nothing is "
                "allowed; retry, and if it persists, the registry is too slow"
            )
        return left

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """The block's reads (through `session()`'s sessions) are ended at the deadline."""
        outer = getattr(_current, "deadline", None)
        _current.deadline = self
        try:
            yield
        finally:
            _current.deadline = outer

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._closed:
                return
            self._sockets.append(sock)
            if self._timer is None:
                self._timer = threading.Timer(self.left(), self._expire)
                self._timer.daemon = True
                self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:  # the plain socket's shutdown: it wakes a read blocked in TLS too
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close(self) -> None:
        """The work is over: the timer stops, nothing is shut down after."""
        with self._lock:
            self._closed = True
            self._sockets.clear()
            if self._timer is not None:
                self._timer.cancel()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _watched(sock: Any) -> Any:
    """`sock`, told to the calling thread's deadline: shut down at it."""
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline._watch(sock)
    return sock


# A socket is told when it is connected (before a TLS handshake, which could drip too) and each
# time a pool hands its connection out again (keep-alive).


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _watched(super()._new_conn())  # type: ignore[no-any-return]


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _watched(super()._new_conn())  # type: ignore[no-any-return]


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watched(getattr(connection, "sock", None))
        return connection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        _watched(getattr(connection, "sock", None))
        return connection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def session() -> requests.Session:
    """A session whose reads obey the deadline of the thread that makes them; no proxy or
    netrc from the environment."""
    made = requests.Session()
    made.trust_env = False
    adapter = _Adapter()
    made.mount("http://", adapter)
    made.mount("https://", adapter)
    return made
