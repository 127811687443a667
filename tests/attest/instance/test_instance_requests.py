"""The local instance answers every malformed request with a 4xx and a JSON message, over raw
sockets to a real instance on 127.0.0.1: nothing is left unanswered, no connection is dropped
without an answer, and no request holds a thread longer than the request timeout."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attest.instance.server import MAX_BODY, MAX_DEPTH, Instance, InstanceServer
from attest.instance.state import HOST, create_state
from tests.conftest import LocalInstance

BOUND = 30.0  # seconds any answer may take here (the request timeout is 10 s)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@dataclasses.dataclass(frozen=True)
class Answer:
    version: int
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    closed: bool  # the instance closed the connection after it

    def refusal(self) -> tuple[int, str]:
        """An error's status and message, checked to be the API's JSON form."""
        assert self.headers["Content-Type"] == "application/json"
        data = json.loads(self.body)
        assert data["code"] == self.status
        return self.status, str(data["message"])


def exchange(port: int, request: bytes, *, half_close: bool = True, method: str = "") -> Answer:
    """Send `request` raw, then read one answer as an HTTP client would (a 100 Continue is
    skipped). With `half_close`, our end of the connection is shut after the request, so a body
    shorter than its Content-Length ends there instead of waiting for the timeout."""
    with socket.create_connection((HOST, port), timeout=BOUND) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = http.client.HTTPResponse(sock, method=method or None)
        answer.begin()
        body = answer.read()  # exactly Content-Length bytes
        sock.settimeout(1.0)
        try:
            closed = sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            closed = False
        return Answer(answer.version, answer.status, answer.headers, body, closed)


def post(path: str, headers: str, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


def healthy(port: int) -> None:
    assert exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


ENTRIES = "/api/v1/log/entries"


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        ("Content-Length: -1\r\n", "-1"),  # never answered before: read until EOF
        ("Content-Length: abc\r\n", "abc"),  # dropped the connection before
        ("Content-Length: +2\r\n", "+2"),
        ("Content-Length: 1_0\r\n", "1_0"),  # int() reads it as 10
        ("Content-Length: 2\r\nContent-Length: 3\r\n", "2, 3"),
    ],
)
def test_a_malformed_content_length_is_refused(
    instance: LocalInstance, headers: str, shown: str
) -> None:
    port = _port(instance.url)
    answer = exchange(port, post(ENTRIES, headers, b"{}"), half_close=False)
    assert answer.refusal() == (400, f"Content-Length must be one number of bytes, not {shown}")
    assert answer.closed and answer.headers["Connection"] == "close"
    healthy(port)


def test_a_body_over_the_limit_is_refused_before_it_is_read(instance: LocalInstance) -> None:
    port = _port(instance.url)
    # only the headers: the answer comes without waiting for the body
    answer = exchange(port, post(ENTRIES, "Content-Length: 99999999999\r\n"), half_close=False)
    assert answer.refusal() == (
        413, f"a body of 99999999999 bytes is over the limit of {MAX_BODY} bytes"
    )  # fmt: skip
    # the body sent anyway: the refusal still reaches the client (the rest is read and dropped)
    size = MAX_BODY + 1
    answer = exchange(port, post(ENTRIES, f"Content-Length: {size}\r\n", b"x" * size))
    assert answer.refusal()[0] == 413 and answer.closed
    # a length of many digits is no number to convert
    answer = exchange(port, post(ENTRIES, f"Content-Length: {'9' * 5000}\r\n"))
    status, message = answer.refusal()
    assert status == 413 and message.startswith("a body of 999") and len(message) < 120
    healthy(port)


def test_a_length_with_leading_zeros_is_judged_by_its_value(instance: LocalInstance) -> None:
    """RFC 9110 allows leading zeros: 37 digits whose value is 2 are a body of 2 bytes (it was
    refused as "a body of 000…2 bytes is over the limit")."""
    port = _port(instance.url)
    answer = exchange(port, post(ENTRIES, f"Content-Length: {'0' * 36}2\r\n", b"[]"))
    assert answer.refusal() == (400, "body must be a JSON object")
    answer = exchange(port, post(ENTRIES, f"Content-Length: {'0' * 40}{MAX_BODY + 1}\r\n"))
    assert answer.refusal() == (
        413, f"a body of {MAX_BODY + 1} bytes is over the limit of {MAX_BODY} bytes"
    )  # fmt: skip
    healthy(port)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("", "a POST needs a Content-Length"),
        (
            "Transfer-Encoding: chunked\r\n",
            "Transfer-Encoding is not accepted: send a Content-Length",
        ),
    ],
)
def test_a_post_without_a_length_is_refused(
    instance: LocalInstance, headers: str, message: str
) -> None:
    answer = exchange(_port(instance.url), post(ENTRIES, headers, b"2\r\n{}\r\n0\r\n\r\n"))
    assert answer.refusal() == (411, message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe{}", "body is not UTF-8 (byte 0)"),
        (b"{'a': 1}", "body is not JSON: Expecting property name enclosed in double quotes"),
        (b"[" * 200_000 + b"]" * 200_000, "body is not JSON: nested too deeply"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, f"body nests over {MAX_DEPTH} levels"),
        (b'{"a": ' + b"9" * 5000 + b"}", "body is not JSON: a number too long"),
        (b'{"a": NaN}', "body is not JSON: NaN is no JSON number"),  # accepted before
        (b'{"a": [-Infinity]}', "body is not JSON: -Infinity is no JSON number"),
        (b"[]", "body must be a JSON object"),
        (b"", "body must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    instance: LocalInstance, body: bytes, message: str
) -> None:
    port = _port(instance.url)
    for path in (ENTRIES, "/api/v2/signingCert"):
        answer = exchange(port, post(path, f"Content-Length: {len(body)}\r\n", body))
        status, said = answer.refusal()
        assert status == 400 and said.startswith(message), said
    healthy(port)


def test_a_body_shorter_than_its_length(instance: LocalInstance) -> None:
    """The client ends its side early: the instance says so at once."""
    request = post(ENTRIES, "Content-Length: 10\r\n", b"{}")
    answer = exchange(_port(instance.url), request)
    assert answer.refusal() == (400, "the body ended after 2 of its 10 bytes")
    assert answer.closed


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[int]:
    """The real server, in this process, with a request timeout of half a second."""
    state = create_state(tmp_path / "state", 0)
    server = InstanceServer(Instance(state), request_timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(BOUND)


def _handler_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("Thread-") and t.daemon)


def _ended(sock: socket.socket) -> bytes:
    """Everything the instance sends until it closes the connection."""
    sock.settimeout(BOUND)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.network
def test_a_body_that_never_arrives_times_out_and_frees_its_thread(quick: int) -> None:
    before = _handler_threads()
    started = time.monotonic()
    with socket.create_connection((HOST, quick)) as sock:
        sock.sendall(post(ENTRIES, "Content-Length: 10\r\n", b"{}"))  # and then nothing
        data = _ended(sock)
    assert time.monotonic() - started < BOUND
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["message"] == (
        "the body did not arrive within 0.5 s: Content-Length says 10 bytes"
    )
    # a request line never finished: the connection is closed after the timeout
    with socket.create_connection((HOST, quick)) as sock:
        sock.sendall(b"GET /heal")
        assert _ended(sock) == b""
    deadline = time.monotonic() + BOUND
    while _handler_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _handler_threads() <= before  # no thread left waiting


@pytest.mark.parametrize(
    ("request_line", "status", "message"),
    [
        ("GET /nope HTTP/1.1", 404, "no route GET /nope"),
        ("POST /healthz HTTP/1.1", 404, "no route POST /healthz"),
        ("GET /" + "a" * 500 + " HTTP/1.1", 404, "no route GET /" + "a" * 59 + "…"),
        ("GET /\x1b[31mred HTTP/1.1", 404, "no route GET /\\x1b[31mred"),
        ("FOO / HTTP/1.1", 405, "method FOO is not allowed: use GET or POST"),
        ("GET /healthz", 400, "request line without an HTTP version"),
        ("GET /healthz HTTP/0.9", 400, "HTTP/0.9 is not supported: use HTTP/1.1"),
        ("GET /healthz HTTP/2.0", 400, "unsupported HTTP version: use HTTP/1.1"),
        ("GET / x HTTP/1.1", 400, "Bad request syntax ('GET / x HTTP/1.1')"),
        # refused by the standard library after it read HTTP/0.9: answered without a status line
        # before (str.split takes U+00A0 and U+0085 for spaces: four words)
        ("GET / x HTTP/0.9", 400, "Bad request syntax ('GET / x HTTP/0.9')"),
        ("GET /\xa00 HTTP/0.9", 400, "Bad request syntax ('GET /\\xa00 HTTP/0.9')"),
        ("GET /\x85x HTTP/0.9", 400, "Bad request syntax ('GET /\\x85x HTTP/0.9')"),
        ("GET /api/v1/log/proof?firstSize=1&lastSize=-3 HTTP/1.1", 400,
         "no consistency proof from 1 to -3"),  # dropped the connection before
        ("GET /api/v1/log/proof?firstSize=1&lastSize=99999999999 HTTP/1.1", 400,
         "no consistency proof from 1 to 99999999999"),
        ("GET /api/v1/log/entries?logIndex=x HTTP/1.1", 400,
         "logIndex must be an integer of at most 18 digits"),
        # int() refused these with its own text ("Exceeds the limit (4300 digits)...")
        ("GET /api/v1/log/proof?firstSize=1&lastSize=" + "9" * 5000 + " HTTP/1.1", 400,
         "lastSize must be an integer of at most 18 digits"),
        ("GET /api/v1/log/entries?logIndex=" + "9" * 5000 + " HTTP/1.1", 400,
         "logIndex must be an integer of at most 18 digits"),
        ("GET /api/v1/log/proof?firstSize=1_0&lastSize=1 HTTP/1.1", 400,
         "firstSize must be an integer of at most 18 digits"),
    ],
)  # fmt: skip
def test_what_the_instance_cannot_route_is_refused(
    instance: LocalInstance, request_line: str, status: int, message: str
) -> None:
    port = _port(instance.url)
    answer = exchange(port, f"{request_line}\r\nHost: x\r\n\r\n".encode("latin-1"))
    assert answer.version == 11  # a status line, even for HTTP/0.9
    assert answer.refusal() == (status, message)
    if status == 405:
        assert answer.headers["Allow"] == "GET, POST"
    healthy(port)


@pytest.mark.parametrize(
    ("fields", "message"),
    [("a: b\r\n" * 101, "Too many headers"), (f"a: {'x' * 70_000}\r\n", "Line too long")],
)
def test_headers_refused_after_an_http_0_9_request_line_get_a_status_line(
    instance: LocalInstance, fields: str, message: str
) -> None:
    """The standard library read the version as HTTP/0.9 before it refused the headers, and
    sent the refusal as a bare body (the client saw BadStatusLine)."""
    answer = exchange(_port(instance.url), f"GET /healthz HTTP/0.9\r\n{fields}\r\n".encode())
    assert answer.version == 11
    assert answer.refusal() == (431, message)


def test_a_blank_line_before_a_request_is_ignored(instance: LocalInstance) -> None:
    answer = exchange(_port(instance.url), b"\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 200 and json.loads(answer.body)["status"] == "ok"


def test_keep_alive_survives_refusals_whose_body_was_read(instance: LocalInstance) -> None:
    """A refused body that was read leaves the connection usable; one that was not, closes it
    (its bytes would be taken for the next request)."""
    port = _port(instance.url)
    connection = http.client.HTTPConnection(HOST, port, timeout=BOUND)
    try:
        connection.request("POST", ENTRIES, body=b"[]")
        first = connection.getresponse()
        assert first.status == 400 and first.getheader("Connection") is None
        first.read()
        sock = connection.sock
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200 and connection.sock is sock
    finally:
        connection.close()
    with socket.create_connection((HOST, port), timeout=BOUND) as sock:
        sock.sendall(post("/nope", "Content-Length: 2\r\n", b"GE"))
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.status == 404 and answer.getheader("Connection") == "close"


# --- any request ---------------------------------------------------------------------------

_TOKEN = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), min_size=1, max_size=12)
_METHODS = st.one_of(st.sampled_from(["GET", "POST", "HEAD", "PUT", "OPTIONS"]), _TOKEN)
_PATHS = st.one_of(
    st.sampled_from(
        ["/healthz", ENTRIES, "/api/v2/signingCert", "/api/v1/log/proof", "/oidc/keys", "*"]
    ),
    _TOKEN.map(lambda t: "/" + t),
    st.builds(
        lambda p, q: f"{p}?{q}",
        st.sampled_from(["/api/v1/log/proof", ENTRIES]),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
    ),
)
_VERSIONS = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2", "HTTP/1.1.1", "x", ""])
_HEADER_VALUES = st.one_of(
    st.integers(-5, 2 * MAX_BODY).map(str),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=20),
)
_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            ["Content-Length", "Transfer-Encoding", "Expect", "Connection", "Authorization"]
        )
        | _TOKEN.filter(lambda t: ":" not in t),
        _HEADER_VALUES,
    ),
    max_size=4,
)
_BODIES = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(method=_METHODS, path=_PATHS, version=_VERSIONS, headers=_HEADERS, body=_BODIES)
# Found by hypothesis: answered without a status line (HTTP/0.9 read, then refused).
@example(method="GET", path="/\xa00", version="HTTP/0.9", headers=[], body=b"")
@example(method="POST", path="/\x85x", version="HTTP/0.9", headers=[], body=b"{}")
@example(method="\xa0", path="/", version="HTTP/0.9", headers=[], body=b"")
@example(method="GET", path="/", version="HTTP/0.9", headers=[("a", "b")] * 101, body=b"")
@example(method="GET", path="/\xa0", version="", headers=[], body=b"")
def test_any_request_gets_a_well_formed_answer(
    instance: LocalInstance,
    method: str,
    path: str,
    version: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """For any request line, headers and body: one HTTP/1.1 answer, 2xx or 4xx, in JSON,
    within the bound; and the instance keeps serving."""
    port = _port(instance.url)
    line = " ".join(w for w in (method, path, version) if w)
    fields = "".join(f"{name}: {value}\r\n" for name, value in headers)
    started = time.monotonic()
    answer = exchange(port, f"{line}\r\n{fields}\r\n".encode("latin-1") + body, method=method)
    assert time.monotonic() - started < BOUND
    assert answer.version == 11
    assert 200 <= answer.status < 300 or 400 <= answer.status < 500, answer.status
    if answer.body or method != "HEAD":
        data = json.loads(answer.body)
        if answer.status >= 400:
            assert answer.refusal()[1] and len(data["message"]) < 200
    healthy(port)


def _dsse_entry(envelope: str, verifiers: object) -> bytes:
    return json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {"proposedContent": {"envelope": envelope, "verifiers": verifiers}},
        }
    ).encode()


def test_entries_and_tokens_no_check_can_read_are_refused(instance: LocalInstance) -> None:
    """What used to escape the checks (a TypeError, a RecursionError, a float canonical JSON
    cannot write) and drop the connection is a 400 or 401 with its reason."""
    port = _port(instance.url)
    pem = instance.state.root.public_bytes(serialization.Encoding.PEM)
    verifier = base64.b64encode(pem).decode()
    envelope = '{"payload": "", "payloadType": "t", "signatures": [{"sig": ""}], "x": 1e400}'
    cases = [
        (_dsse_entry(envelope, 5), "proposedContent.verifiers must be a list"),
        (_dsse_entry(envelope, [verifier]), "malformed DSSE envelope: "),
        (_dsse_entry("[" * 100_000, [verifier]), "malformed DSSE envelope: "),
        (
            json.dumps({"apiVersion": "0.0.1", "kind": "k" * 1000}).encode(),
            "unsupported entry type 'kkkkk",
        ),
    ]
    for body, message in cases:
        answer = exchange(port, post(ENTRIES, f"Content-Length: {len(body)}\r\n", body))
        status, said = answer.refusal()
        assert status == 400 and said.startswith(message) and len(said) < 200, said
    nested = base64.urlsafe_b64encode(b"[" * 40_000).decode().rstrip("=")
    body = b'{"certificateSigningRequest": ""}'
    request = post(
        "/api/v2/signingCert",
        f"Authorization: Bearer {nested}.e30.AA\r\nContent-Length: {len(body)}\r\n",
        body,
    )
    assert exchange(port, request).refusal() == (401, "malformed token")
    healthy(port)
