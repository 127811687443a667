"""Work shared among forked processes (and threads in each): the sign stage's per-artifact loop,
and the cold parse of an advisory database's records.

sigstore-python spends most of a signature in Python (requests, pydantic models, then our
self-check), so threads share one core whatever their number: they only overlap the waits for
the log. Forked children each have their own interpreter and inherit the parent's objects as
they are: the signing session with its one certificate and ephemeral key is neither pickled,
nor sent anywhere, nor requested again.

Semantics are those of a thread pool whose first failure stops the rest: every worker (a thread
in a process) starts its first item; after a failure, or ^C in the parent, each worker stops
before its next item, and a task stops at its next `checkpoint()` (the signer calls it before
each upload to the log: an entry there is for good). The parent waits for the steps in flight
to end before it raises. The failure of the lowest item is raised, a real one before a stop.
"""

from __future__ import annotations

import contextlib
import gc
import io
import mmap
import os
import pickle
import selectors
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar, cast

from verify.errors import CONTRACT, OperationalError

# Linux only: macOS forbids using its system frameworks in a forked child (requests reads the
# proxy settings through them), and Windows has no fork.
FORK_IS_SAFE = sys.platform.startswith("linux")
R = TypeVar("R")
Record = tuple[int, bool, object]  # (item, succeeded, result or exception)
_worker = threading.local()  # the running worker's `stopped`, for checkpoint()


class Stopped(OperationalError):
    """A task stopped at a checkpoint because the run was stopped (a failure, or ^C)."""


def stopping() -> bool:
    """Whether the run this worker belongs to was stopped (never, outside a run)."""
    stopped = getattr(_worker, "stopped", None)
    return bool(stopped is not None and stopped())


def checkpoint(what: str) -> None:
    """Stopped, when the run was stopped: `what` must not start after a failure or ^C."""
    if stopping():
        raise Stopped(f"{what} was not started: the run was stopped")


class Counter:
    """A count that forked children (and threads) add to and the parent reads."""

    def __init__(self) -> None:
        import multiprocessing  # here: a scan's start-up needs no shared counter

        context = multiprocessing.get_context("fork" if FORK_IS_SAFE else None)
        self._value = context.Value("q", 0)  # shared memory, and a lock shared across fork

    def add(self) -> None:
        with self._value.get_lock():
            self._value.value += 1

    @property
    def value(self) -> int:
        return int(self._value.value)


def cores() -> int:
    """The cores this process may run on (its affinity, as a container's CPU set limits it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run(task: Callable[[int], R], count: int, processes: int, threads: int) -> list[R]:
    """`task(i)` for i in range(count), by `threads` threads in each of `processes` forked
    children (items dealt out in turn); in this process, with as many threads in all, when one
    process is enough or forking is unsafe. Results are in item order."""
    stop = mmap.mmap(-1, 1)  # anonymous and shared: forked children see each other's writes
    if processes <= 1 or not FORK_IS_SAFE:
        return _results(_threads(task, range(count), stop, processes * threads), count)
    # What exists now lives until the process ends: frozen, no collection walks it again, so
    # the children do not copy the pages a collection would touch (gc.freeze's documented use),
    # and this process's exit skips it in each of its final collections (~0.1 s).
    gc.freeze()
    pipes: dict[int, int] = {}  # read end -> child pid
    parent = os.getpid()
    try:
        for k in range(processes):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child never returns
                os.close(read)
                for other in pipes:
                    os.close(other)
                _child(task, range(k, count, processes), stop, threads, parent, write)
            os.close(write)
            pipes[read] = pid
        received = _collect(list(pipes))
    except BaseException:
        stop[0] = 1  # ^C: each child finishes the items it is on, then stops
        raise
    finally:
        for read in pipes:
            os.close(read)  # a child still writing gets EPIPE rather than blocking forever
        statuses = [os.waitpid(pid, 0)[1] for pid in pipes.values()]
    return _results(received, count, statuses)


def _child(
    task: Callable[[int], object],
    items: Sequence[int],
    stop: mmap.mmap,
    threads: int,
    parent: int,
    out: int,
) -> NoReturn:
    """Run `items` and report them; leave with os._exit so that nothing of the parent's
    (atexit handlers, stdio buffers, a test runner's stack) runs twice."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle (see run)
    status = 1
    try:
        records = _threads(task, items, stop, threads, parent)
        with os.fdopen(out, "wb") as report:
            pickle.dump([(item, ok, _portable(value)) for item, ok, value in records], report)
        status = 0
    finally:
        os._exit(status)  # with status 1 the parent reports the child's end


def _threads(
    task: Callable[[int], object],
    items: Sequence[int],
    stop: mmap.mmap,
    threads: int,
    parent: int | None = None,
) -> list[Record]:
    """`items` by `threads` threads, each taking the next item in turn; records in any order.
    A child (`parent` given) also stops when its parent is gone."""
    pending = iter(items)
    lock = threading.Lock()
    records: list[Record] = []

    def stopped() -> bool:
        return bool(stop[0]) or (parent is not None and os.getppid() != parent)

    def work() -> None:
        _worker.stopped = stopped
        first = True
        while True:
            with lock:
                item = None if not first and stopped() else next(pending, None)
            if item is None:
                return
            first = False
            record = _attempt(task, item)
            records.append(record)
            if not record[1]:
                stop[0] = 1

    workers = [threading.Thread(target=work) for _ in range(max(1, min(threads, len(items))))]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except BaseException:
        stop[0] = 1  # ^C: the workers finish the steps they are on, then stop
        for worker in workers:
            worker.join()  # so that nothing starts or ends after the caller hears of it
        raise
    return records


def _attempt(task: Callable[[int], object], item: int) -> Record:
    try:
        return (item, True, task(item))
    except BaseException as e:  # handed to the caller, which raises it
        return (item, False, e)


def _portable(value: object) -> object:
    """An error as the parent can re-raise it: itself when it survives pickling, else the
    nearest of its attest classes that does (same exit code and message), else an operational
    error naming it (an error whose constructor takes more than its message does not)."""
    if not isinstance(value, BaseException):
        return value
    for cls in type(value).__mro__:
        if cls is type(value) or issubclass(cls, CONTRACT):  # a domain's base has none
            with contextlib.suppress(Exception):
                candidate = value if cls is type(value) else cls(str(value))
                pickle.loads(pickle.dumps(candidate))  # noqa: S301 - our own bytes
                return candidate
    return OperationalError(f"internal error: {type(value).__name__}: {value}")


def _collect(reads: list[int]) -> list[Record]:
    """What the children report, read as it comes (a full pipe would stall a child)."""
    buffers = {read: bytearray() for read in reads}
    with selectors.DefaultSelector() as selector:
        for read in reads:
            selector.register(read, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    buffers[key.fd] += chunk
                else:
                    selector.unregister(key.fd)
    return [record for data in buffers.values() for record in _records(bytes(data))]


def _records(data: bytes) -> list[Record]:
    """A child's records; none when it ended before reporting (its exit status tells why)."""
    with contextlib.suppress(EOFError, pickle.UnpicklingError):
        return cast("list[Record]", pickle.load(io.BytesIO(data)))  # noqa: S301 - our child's
    return []


def _results(received: list[Record], count: int, statuses: Sequence[int] = ()) -> list[R]:
    failures = sorted(((item, value) for item, ok, value in received if not ok), key=_real_first)
    if failures:
        raise cast("BaseException", failures[0][1])
    done = {item: cast("R", value) for item, _, value in received}
    if len(done) != count:
        ended = ", ".join(_ending(status) for status in statuses if status)
        raise OperationalError(
            f"a worker process ended unexpectedly ({ended or 'no report'}); "
            "nothing was written for the items it had not reported"
        )
    return [done[i] for i in range(count)]


def _real_first(failure: tuple[int, object]) -> tuple[bool, int]:
    """The lowest item's failure, a real one before a stop it caused."""
    return isinstance(failure[1], Stopped), failure[0]


def _ending(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
