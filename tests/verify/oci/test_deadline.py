"""One deadline for all of a fetch from registries (verify/oci/deadline.py): a registry that
drips its answer a byte at a time, each byte well inside the per-read timeout, is cut off at the
deadline, body or headers; a body cut off is never taken as a whole one; `attest verify oci://`
ends with exit 3 naming its --timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.verify.oci import slow_registry
from tests.verify.webhook import reviews as r
from verify.oci import evidence
from verify.oci.client import Registry
from verify.oci.deadline import Deadline, Expired

pytestmark = pytest.mark.network


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_a_dripping_registry_is_cut_off_at_the_deadline(headers: bool) -> None:
    with slow_registry.dripping(every=0.05, headers=headers) as host:
        started = time.monotonic()
        with Deadline(0.5, "the test's 0.5 s") as deadline, pytest.raises(Expired) as raised:
            evidence.gather(f"oci://{host}/app:v1", deadline=deadline)  # per read: 10 s
        took = time.monotonic() - started
    assert f"registry {host}: no complete answer within the test's 0.5 s, the deadline" in str(
        raised.value
    )
    assert took < 3, took


def test_every_read_after_the_deadline_is_refused_unsent() -> None:
    with slow_registry.fast() as host:
        deadline = Deadline(0.0)
        with pytest.raises(Expired, match=f"registry {host}: no complete answer within 0 s"):
            Registry(host, deadline=deadline).manifest("app", "v1")


def test_attest_verify_of_a_dripping_registry_exits_3_at_its_timeout(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    policy = r.policy_file(tmp_path)
    with slow_registry.dripping(every=0.05) as host:
        started = time.monotonic()
        done = invoke(
            "verify", "--policy", str(policy), "--timeout", "1", f"oci://{host}/app:latest"
        )
        took = time.monotonic() - started
    assert done.exit_code == 3, done.output + done.stderr
    assert f"registry {host}: no complete answer within 1 s (--timeout), the deadline" in (
        done.stderr
    )
    assert took < 5, took


def test_deadlines_end_each_at_its_instant_by_one_thread_a_closed_one_never() -> None:
    """The process's one watchdog ends every watched deadline at its instant, a sooner one
    given after a later one too; a deadline closed in time leaves its socket alone."""
    pairs = [socket.socketpair() for _ in range(3)]
    later, closed, sooner = Deadline(30), Deadline(0.05), Deadline(0.1)
    threads = threading.active_count()
    later.watch(pairs[0][0])
    closed.watch(pairs[1][0])
    sooner.watch(pairs[2][0])  # the watchdog waits for `closed`, then must not wait for `later`
    closed.close()
    assert threading.active_count() <= threads + 1  # one thread for them all, if not started
    pairs[2][0].settimeout(5)
    begun = time.monotonic()
    assert pairs[2][0].recv(1) == b""  # shut down at its deadline
    assert time.monotonic() - begun < 2 and sooner.expired
    assert not closed.expired and not later.expired
    pairs[1][1].send(b"x")
    assert pairs[1][0].recv(1) == b"x"  # still open
    later.close()
    for pair in pairs:
        for end in pair:
            end.close()
