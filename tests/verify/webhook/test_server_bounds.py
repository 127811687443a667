"""The webhook's bounds against whoever can reach its port or create a Pod (verify/webhook/
server.py): images judged per review, decision-log lines (bounded, valid JSON, the peer named),
connections, the time to read a request, and a rotated certificate taken up."""

from __future__ import annotations

import contextlib
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
    monkeypatch.setattr(server, "HANDSHAKE", 0.5)
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


def _exchange(port: int, cert: Path, request: bytes) -> bytes:
    """Everything the server sends back to `request` on one connection, until it closes."""
    with r.client_context(cert).wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1"
    ) as tls:
        tls.sendall(request)
        received = b""
        with contextlib.suppress(OSError):
            while chunk := tls.recv(65536):
                received += chunk
        return received


def _post(headers: bytes, body: bytes = b"") -> bytes:
    return (
        b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + headers
        + b"\r\n"
        + body
    )


def test_two_content_lengths_are_400_and_the_connection_closes(
    serving: tuple[int, Path],
) -> None:
    """A body read by one length here and another by a proxy would smuggle a second request:
    the review inside the body must never be answered."""
    port, cert = serving
    inner = r.body(r.workload("Pod"))
    smuggled = _post(b"Content-Length: %d\r\n" % len(inner), inner)
    for first, second in ((0, len(smuggled)), (len(smuggled), 0)):
        lengths = b"Content-Length: %d\r\nContent-Length: %d\r\n" % (first, second)
        received = _exchange(port, cert, _post(lengths, smuggled))
        assert received.startswith(b"HTTP/1.1 400 "), received[:200]
        assert b"give one Content-Length, in ASCII digits" in received
        assert received.count(b"HTTP/1.1 ") == 1, received


@pytest.mark.parametrize("length", ["\u00b2", "+5", "0x10", "1 2", "-1"])
def test_a_content_length_not_in_ascii_digits_is_400_without_a_traceback(
    serving: tuple[int, Path], capfd: pytest.CaptureFixture[str], length: str
) -> None:
    port, cert = serving
    received = _exchange(port, cert, _post(f"Content-Length: {length}\r\n".encode()))
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert b"give one Content-Length, in ASCII digits" in received
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_dropping_its_connection_leaves_no_traceback(
    serving: tuple[int, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    port, cert = serving
    tls = r.client_context(cert).wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1"
    )
    tls.sendall(_post(b"Content-Length: 1000\r\n", b"{"))
    tls.shutdown(socket.SHUT_RDWR)  # gone mid-body, without TLS's close_notify
    tls.close()
    time.sleep(1)
    assert "Traceback" not in capfd.readouterr().err


def test_a_connection_failing_otherwise_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = r.certificate(tmp_path)
    hook, _ = _hook(tmp_path)
    httpd = TlsServer(("127.0.0.1", 0), hook, Certificates(cert, key).context)
    try:
        raise KeyError("\x1b[2J")
    except KeyError:
        httpd.handle_error(None, ("127.0.0.1", 1))
    finally:
        httpd.server_close()
        hook.close()
    assert capsys.readouterr().err == "attest webhook: a connection failed: KeyError\n"


@pytest.mark.parametrize("sent", [b"", b"\x16\x03\x01"])
def test_a_connection_silent_or_dripping_in_its_handshake_is_closed_at_its_deadline(
    serving: tuple[int, Path], sent: bytes
) -> None:
    """Connections that never finish a handshake would hold every slot (and with
    `failurePolicy: Fail`, stop every deploy): each is closed at HANDSHAKE."""
    port, _ = serving
    with socket.create_connection(("127.0.0.1", port)) as silent:
        silent.sendall(sent)
        started = time.monotonic()
        assert _closed_within(silent, 3)
        assert time.monotonic() - started < 2
