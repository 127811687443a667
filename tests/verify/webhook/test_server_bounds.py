"""The webhook's bounds against whoever can reach its port or create a Pod (verify/webhook/
server.py): images judged per review, decision-log lines (bounded, valid JSON, the peer named),
connections, the time to read a request, and a rotated certificate taken up."""

from __future__ import annotations

import io
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.verify.webhook import reviews as r
from verify.webhook import server
from verify.webhook.mounted import Mounted
from verify.webhook.server import MAX_IMAGES, Certificates, TlsServer, Webhook

pytestmark = pytest.mark.network


def _hook(tmp_path: Path, judge: r.RuleJudge | None = None) -> tuple[Webhook, io.StringIO]:
    out = io.StringIO()
    return Webhook(Mounted(r.policy_file(tmp_path)), judge or r.RuleJudge(), out=out), out


def test_a_review_over_the_image_cap_is_denied_unjudged(tmp_path: Path) -> None:
    judge = r.RuleJudge()
    hook, _ = _hook(tmp_path, judge)
    images = [f"registry.example/app{i}@sha256:{'a' * 64}" for i in range(MAX_IMAGES + 1)]
    obj = r.with_containers(r.workload("Pod"), "containers", *images)
    _, answer = hook.answer(r.body(obj))
    hook.close()
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["message"] == (
        f"the object names {MAX_IMAGES + 2} distinct images, over the {MAX_IMAGES} one review "
        "judges: denied"
    )
    assert judge.calls == []


@pytest.mark.parametrize("uid", ["\ud800", "a b", "\x1b[2J"])
def test_a_uid_that_is_not_printable_ascii_is_400(tmp_path: Path, uid: str) -> None:
    hook, out = _hook(tmp_path)
    body = json.dumps(r.review(r.workload("Pod"), uid=uid)).encode()
    status, document = hook.answer(body)
    hook.close()
    assert status == 400
    assert "uid is not 1 to 128 printable ASCII characters" in document["error"]
    assert out.getvalue() == ""


def test_a_decision_log_line_is_bounded_and_names_the_peer(tmp_path: Path) -> None:
    hook, out = _hook(tmp_path)
    obj = r.with_containers(r.workload("Pod"), "containers", *[r.GOOD] * 200)
    r.pod_spec(obj)["containers"][0]["image"] = "a" * 1_000_000
    hook.answer(r.body(obj), "10.0.0.7:51234")
    hook.close()
    line = out.getvalue()
    assert len(line) < 64 * 1024, len(line)
    record = json.loads(line)
    assert record["peer"] == "10.0.0.7:51234"
    assert len(record["images"]) == 64 and record["images_not_listed"] == 137
    assert record["images"][0]["image"] == "a" * 512 + "…"


@pytest.fixture
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Path]]:
    monkeypatch.setattr(server, "REQUEST_READ", 0.5)
    cert, key = r.certificate(tmp_path)
    hook, _ = _hook(tmp_path)
    httpd = TlsServer(("127.0.0.1", 0), hook, Certificates(cert, key).context, max_connections=2)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield httpd.server_port, cert
    finally:
        httpd.shutdown()
        httpd.server_close()
        hook.close()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer closed `sock` within `seconds` (reading until end of file)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_connections_over_the_cap_are_closed_unanswered(serving: tuple[int, Path]) -> None:
    port, _ = serving
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", port)) as third:
        assert _closed_within(third, 2)
    for sock in held:
        sock.close()


def test_a_request_sent_a_byte_at_a_time_is_cut_off(serving: tuple[int, Path]) -> None:
    port, cert = serving
    context = r.client_context(cert)
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"
    ) as tls:
        tls.sendall(
            b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 3 and not closed:
            try:
                tls.sendall(b" ")  # each byte well inside the idle timeout
                time.sleep(0.1)
            except OSError:
                closed = True
        closed = closed or _closed_within(tls, 0.5)
        took = time.monotonic() - started
    assert closed and took < 2, took


def _handshake(port: int, trusted: Path) -> bool:
    try:
        with r.client_context(trusted).wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1"
        ):
            return True
    except ssl.SSLError:
        return False


def test_a_rotated_certificate_is_served_to_new_connections(
    serving: tuple[int, Path], tmp_path: Path
) -> None:
    port, cert = serving
    (tmp_path / "next").mkdir()
    new_cert, new_key = r.certificate(tmp_path / "next")
    assert _handshake(port, cert) and not _handshake(port, new_cert)
    cert.with_name("tls.key").write_bytes(new_key.read_bytes())
    cert.write_bytes(new_cert.read_bytes())
    assert _handshake(port, new_cert)
    cert.with_name("tls.key").write_text("half written")  # a broken change keeps the last
    assert _handshake(port, new_cert)
