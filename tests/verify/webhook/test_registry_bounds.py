"""What whoever may create a Pod can make the webhook's registry reads do (verify/webhook/
registry.py): a registry that drips its answers holds at most its own slots, for at most the
review's deadline, and reviews naming other registries are judged meanwhile; an image named at
the webhook's own loopback or the cluster's network is not read; a failure to reach a registry
is said alike whatever it was (no port scanner)."""

from __future__ import annotations

import concurrent.futures
import io
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.verify.oci import slow_registry
from tests.verify.webhook import reviews as r
from verify.oci.client import Registry, RegistryError
from verify.webhook.judging import DigestJudge
from verify.webhook.mounted import Mounted
from verify.webhook.registry import HostSlots, RegistrySource
from verify.webhook.server import Webhook

pytestmark = pytest.mark.network


def _message(answer: dict[str, Any]) -> str:
    assert answer["response"]["allowed"] is False
    said: str = answer["response"]["status"]["message"]
    return said


def test_a_dripping_registry_leaves_the_other_registries_reviews_judged_promptly(
    tmp_path: Path,
) -> None:
    with slow_registry.dripping(every=0.05) as slow, slow_registry.fast() as quick:
        slots = HostSlots(per_host=2, slow=0.3)
        source = RegistrySource(registries={slow, quick}, slots=slots)
        hook = Webhook(
            Mounted(r.policy_file(tmp_path)),
            DigestJudge(source),
            deadline=2.0,
            workers=4,
            out=io.StringIO(),
        )
        dripping = f"{slow}/app@{slow_registry.IMAGE_DIGEST}"
        with concurrent.futures.ThreadPoolExecutor(6) as clients:
            held = [
                clients.submit(hook.answer, r.body(r.workload("Pod", dripping))) for _ in range(6)
            ]
            time.sleep(0.6)  # the dripping registry's two slots are slow by now
            started = time.monotonic()
            _, other = hook.answer(
                r.body(r.workload("Pod", f"{quick}/app@{slow_registry.IMAGE_DIGEST}"))
            )
            took = time.monotonic() - started
            said = [_message(f.result()[1]) for f in held]
        ended = time.monotonic()
        while slots._running and time.monotonic() - ended < 1:
            time.sleep(0.02)  # the abandoned reads end at the deadline: no slot stays taken
        assert slots._running == {}
        hook.close()
    assert took < 1.0, took
    assert "no verified signature" in _message(other), other  # judged, not timed out
    assert (
        sum(f"registry {slow}: no complete answer within the review's 2 s" in m for m in said) == 2
    )
    assert (
        sum(f"registry {slow} is slow: 2 fetches from it are in progress" in m for m in said) == 4
    )


def test_an_image_at_a_loopback_or_private_address_is_not_read(tmp_path: Path) -> None:
    policy = r.policy_file(tmp_path)
    hook = Webhook(Mounted(policy), DigestJudge(RegistrySource()), out=io.StringIO())
    with slow_registry.fast() as host:
        port = host.rsplit(":", 1)[1]
        for named in (f"localhost:{port}", host, "10.1.2.3:5000", "169.254.169.254"):
            image = f"{named}/internal/admin@sha256:{'0' * 64}"
            _, answer = hook.answer(r.body(r.workload("Pod", image)))
            assert (
                f"cannot be judged: registry {named} is a loopback, private or link-local "
                "address: not read"
            ) in _message(answer)
    hook.close()


def _listening(answer: bytes | None) -> tuple[socket.socket, list[bytes]]:
    """A socket on 127.0.0.1 that accepts, records what it is sent, and says `answer`."""
    server = socket.create_server(("127.0.0.1", 0))
    heard: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return
            with peer:
                if answer is not None:
                    peer.sendall(answer)
                peer.settimeout(1)
                try:
                    heard.append(peer.recv(4096))
                except OSError:
                    heard.append(b"")

    threading.Thread(target=serve, daemon=True).start()
    return server, heard


def test_a_name_that_leads_to_a_loopback_address_is_closed_unsent() -> None:
    """`public` (a review's image): the address a connection reached is checked before
    anything is sent, whichever name (or DNS answer, or redirect) led there."""
    server, heard = _listening(None)
    with server:
        host = f"127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(RegistryError) as raised:
            Registry(host, public=True).manifest("app", "v1")
        time.sleep(0.2)
    assert str(raised.value) == f"registry {host} unreachable"
    assert heard in ([], [b""])  # connected, then closed: not one byte sent


def test_a_closed_port_and_a_service_that_is_no_registry_are_said_alike() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_host = f"127.0.0.1:{closed.getsockname()[1]}"
    server, _ = _listening(b"SSH-2.0-OpenSSH_9.2\r\n")
    with server:
        open_host = f"127.0.0.1:{server.getsockname()[1]}"
        said = []
        for host in (closed_host, open_host):
            with pytest.raises(RegistryError) as raised:
                Registry(host).manifest("app", "v1")
            said.append(str(raised.value).replace(host, "HOST"))
    assert said == ["registry HOST unreachable"] * 2
