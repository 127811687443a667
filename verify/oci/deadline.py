"""One deadline for all the reading a fetch from registries may do (a webhook review, one `attest
verify oci://` run), which every read obeys.

A per-read timeout bounds only the wait between bytes: a registry that drips one byte a second
keeps a read going for ever. So: each request's connect and read timeouts are at most what is
left of the deadline, a body is checked against it between chunks, and a read still blocked when
the time is up is ended by shutting its socket down. The sessions `session()` makes tell the
deadline of the calling thread (`Deadline.reading`) every socket they use; from the first one,
the process's one watchdog thread shuts them down at the deadline (a thread per deadline cost
a served review two thread starts). A read ended so, or any
read after the deadline, raises `Expired`: a body cut short is never taken for a whole one.

Work that does not read a registry sees the deadline by `Deadline.check` (the webhook checks it
before each image of a review). The webhook also bounds the reading of each request it serves
with one (verify/webhook/server.py).

The same hook on new connections keeps a review's registry reads off the cluster's own
network (`public_only`): the address a connection reached is checked, so no name, redirect or
DNS answer leads a read to a loopback, private or link-local service."""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import os
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
        self._watched = False  # told to the watchdog
        self._closed = False

    def left(self) -> float:
        return 0.0 if self.expired else max(self.at - self._clock(), 0.0)

    def check(self, what: str) -> float:
        """The seconds left, or Expired saying `what` was not done when none are."""
        left = self.left()
        if left <= 0:
            raise Expired(f"{what} within {self.what}, the deadline: nothing is allowed; retry")
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

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (unless closed before)."""
        with self._lock:
            if self._closed:
                return
            self._sockets.append(sock)
            if not self._watched:
                self._watched = True
                _WATCHDOG.add(time.monotonic() + self.left(), self)

    def end(self) -> None:
        """The deadline is now: every read in progress is cut off, and any later refused."""
        with self._lock:
            if self._closed:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:  # the plain socket's shutdown: it wakes a read blocked in TLS too
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close(self) -> None:
        """The work is over: nothing is shut down after (the watchdog passes it by)."""
        with self._lock:
            self._closed = True
            self._sockets.clear()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Watchdog:
    """One daemon thread for the process that ends each watched deadline at its instant
    (`time.monotonic`), in order; a closed deadline's `end` does nothing. Started at the first
    deadline watched."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a child has no thread of its parent's

    def reset(self) -> None:
        self._due: list[tuple[float, int, Deadline]] = []  # a heap by instant
        self._order = itertools.count()  # ties in the order given
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, at: float, deadline: Deadline) -> None:
        with self._changed:
            heapq.heappush(self._due, (at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            if self._due[0][2] is deadline:  # sooner than what it waits for
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, due = heapq.heappop(self._due)
            with contextlib.suppress(Exception):  # one deadline's trouble stops no other's
                due.end()


_WATCHDOG = _Watchdog()


class NotPublic(OperationalError):
    """A connection for a review's image reached an address that is not public."""


@contextlib.contextmanager
def public_only() -> Iterator[None]:
    """The block's connections (through `session()`'s sessions) must reach public addresses:
    one to a loopback, private, link-local or otherwise reserved address is closed before
    anything is sent on it (NotPublic), whichever name or redirect led there."""
    outer = getattr(_current, "public_only", False)
    _current.public_only = True
    try:
        yield
    finally:
        _current.public_only = outer


def _watched(sock: Any, new: bool = False) -> Any:
    """`sock`, told to the calling thread's deadline (shut down at it); a new one checked to
    reach a public address when the thread asks for that."""
    if new and getattr(_current, "public_only", False):
        address = ipaddress.ip_address(sock.getpeername()[0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global:
            sock.close()
            raise NotPublic(f"{address} is not a public address: not reached")
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)
    return sock


# A socket is told when it is connected (before a TLS handshake, which could drip too) and each
# time a pool hands its connection out again (keep-alive).


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _watched(super()._new_conn(), new=True)  # type: ignore[no-any-return]


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _watched(super()._new_conn(), new=True)  # type: ignore[no-any-return]


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
