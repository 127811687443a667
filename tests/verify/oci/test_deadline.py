"""One deadline for all of a fetch from registries (verify/oci/deadline.py): a registry that
drips its answer a byte at a time, each byte well inside the per-read timeout, is cut off at the
deadline, body or headers; a body cut off is never taken as a whole one; `attest verify oci://`
ends with exit 3 naming its --timeout."""

from __future__ import annotations

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
