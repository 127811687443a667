"""The instance's HTTP server on 127.0.0.1: the OIDC issuer's discovery and keys, the CA and
the transparency log, all in one threaded process."""

from __future__ import annotations

import datetime
import json
import re
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization

from attest.instance import ca, oidc, tsa
from attest.instance.log import DuplicateEntry, EntryError, TransparencyLog
from attest.instance.log_v2 import RekorV2Log
from attest.instance.state import HOST, State, utcnow
from verify.text import excerpt as text_excerpt

MAX_BODY = 1 << 20  # 1 MiB: an entry or a CSR is a few KiB
# Seconds one read or write of a connection may wait: a body shorter than its Content-Length,
# a request line never finished or a client that stops reading frees its thread then.
REQUEST_TIMEOUT = 10.0
MAX_DEPTH = 32  # levels of JSON in a body: an entry nests 6 deep
_LENGTH = re.compile(r"[0-9]+")  # ASCII digits only: int() also takes "-1", "+1", "1_0"
# A number in a query (logIndex, firstSize, lastSize): ASCII, and short enough to be a size.
_MAX_DIGITS = 18
_INTEGER = re.compile(rf"-?[0-9]{{1,{_MAX_DIGITS}}}")
_MAX_LINE = 65536  # bytes in a request line, as the standard library reads the first one
_EXCERPT = 60  # characters of a client's input a message may quote
Clock = Callable[[], datetime.datetime]


def excerpt(text: object) -> str:
    """At most _EXCERPT characters of what a client sent, escaped, for a message."""
    return text_excerpt(text, _EXCERPT)


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Instance:
    """What the handlers serve: the state, the log, and the instance's clock (the state's,
    possibly shifted into the past; injectable for tests). Tokens are checked against the real
    clock, on which they are minted and on which the clients check them."""

    def __init__(self, state: State, clock: Clock | None = None) -> None:
        self.state = state
        self.log = TransparencyLog(state)
        self.log_v2 = RekorV2Log(state)
        self.clock = clock or state.now

    def signing_cert(self, headers: Any, request: dict[str, Any]) -> dict[str, Any]:
        token = str(headers.get("Authorization", "")).removeprefix("Bearer ").strip()
        credentials = request.get("credentials")
        if not token and isinstance(credentials, dict):
            token = str(credentials.get("oidcIdentityToken", ""))
        if not token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "no identity token")
        now, real_now = self.clock(), utcnow()
        issuer_key = self.state.keys["issuer"].public_key()
        try:
            claims = oidc.verify(token, issuer_key, self.state.issuer_url, real_now)
        except oidc.TokenError as e:
            raise ApiError(HTTPStatus.UNAUTHORIZED, str(e)) from e
        try:
            key = ca.requested_key(request, claims)
            chain = ca.issue(self.state, key, claims, self.state.issuer_url, now, real_now)
        except ValueError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"bad certificate request: {e}") from e
        except ca.CertificateRequestError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e
        pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

    def add_entry(self, request: dict[str, Any], log: TransparencyLog) -> dict[str, Any]:
        try:
            return log.add(request, self.clock())
        except EntryError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e
        except DuplicateEntry as e:
            raise ApiError(
                HTTPStatus.CONFLICT, f"an equivalent entry already exists: {e.uuid}"
            ) from e

    def timestamp(self, request: bytes) -> bytes:
        assert self.state.tsa is not None  # loaded with the state
        try:
            return tsa.respond(request, self.state.keys["tsa"], self.state.tsa, self.clock())
        except tsa.TimestampRequestError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e

    def entries(self) -> int:
        """The size of the log the signing config announces."""
        return len(self.log_v2 if self.state.rekor_version == 2 else self.log)

    def get_entry(self, uuid: str | None, index: str | None) -> dict[str, Any]:
        position = self.log.index_of(uuid) if uuid else None
        if index is not None:
            position = _integer("logIndex", index)
        if position is None or not 0 <= position < len(self.log):
            raise ApiError(HTTPStatus.NOT_FOUND, "no such entry")
        return self.log.entry(position)

    def proof(self, query: dict[str, list[str]]) -> dict[str, Any]:
        first = _integer("firstSize", query.get("firstSize", ["1"])[0])
        last = _integer("lastSize", query.get("lastSize", [str(len(self.log))])[0])
        try:
            return self.log.consistency(first, last)
        except ValueError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e


def _integer(name: str, text: str) -> int:
    """A query's number; 400 with our message for anything else (int() would take " 1_0 " and
    refuse 5,000 digits with its own text)."""
    if not _INTEGER.fullmatch(text):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, f"{name} must be an integer of at most {_MAX_DIGITS} digits"
        )
    return int(text)


class _NotJsonNumber(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (RFC 8259) has no such value."""


def _no_constant(name: str) -> object:
    raise _NotJsonNumber(name)


class Handler(BaseHTTPRequestHandler):
    """Every request is answered, malformed ones with a 4xx and a JSON message, or the
    connection is closed after REQUEST_TIMEOUT: no request can hold a thread forever."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # so every answer has a status line (never HTTP/0.9)
    server: InstanceServer
    raw_requestline: bytes  # set by the standard library before parse_request

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.request_timeout)
        # Without it, small answers wait ~40 ms for the peer's delayed ACK (Nagle).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        super().finish()
        _linger(self.connection, self.server.request_timeout)  # the connection's last request

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines could carry nothing secret, but keep stderr for errors."""

    def parse_request(self) -> bool:
        self.body_read, self.close_connection = False, True
        self.command, self.request_version = "", self.default_request_version
        if not self.raw_requestline.strip():  # one blank line before a request is ignored
            self.raw_requestline = self.rfile.readline(_MAX_LINE + 1)  # (RFC 9112 section 2.2)
            if not self.raw_requestline:
                return False
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = len(self.requestline.split())  # split as the standard library splits it
        if words < 2 or len(self.raw_requestline) > _MAX_LINE:
            self.send_error(HTTPStatus.BAD_REQUEST, "no request line: METHOD PATH HTTP/1.1")
            return False
        if words == 2:  # HTTP/0.9 `GET /`: no headers follow, and its answer has no status line
            self.send_error(HTTPStatus.BAD_REQUEST, "request line without an HTTP version")
            return False
        if not super().parse_request():
            return False
        if self.request_version.startswith("HTTP/0."):
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported: use HTTP/1.1")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the standard library refuses while parsing (request line, version, headers),
        answered as the API answers: JSON, and always a client's error, so no client retries
        it as a server fault. The connection is closed: what follows cannot be framed."""
        status = HTTPStatus(code)
        said = excerpt(message or status.phrase)  # the standard library quotes the request
        if status == HTTPStatus.NOT_IMPLEMENTED:  # a method there is no do_ for
            status = HTTPStatus.METHOD_NOT_ALLOWED
            said = f"method {excerpt(self.command)} is not allowed: use GET or POST"
        elif status == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED:
            status, said = HTTPStatus.BAD_REQUEST, "unsupported HTTP version: use HTTP/1.1"
        self.close_connection = True
        self._send(status, _error(status, said))

    def _send(self, status: HTTPStatus, body: object) -> None:
        # The standard library answers a request it read as HTTP/0.9 with the bare body, no
        # status line or headers, also when it refuses one later in parsing (`GET /\xa0x
        # HTTP/0.9` is four words to str.split, too many headers): every answer is HTTP/1.1.
        if self.request_version == "HTTP/0.9":
            self.request_version = self.default_request_version
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        kind = "application/timestamp-reply" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET, POST")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _has_body(self) -> bool:
        length = self.headers.get("Content-Length", "0").strip()
        return "Transfer-Encoding" in self.headers or length.lstrip("0") != ""

    def _body(self) -> bytes:
        """The request's body: exactly Content-Length bytes, at most MAX_BODY."""
        if "Transfer-Encoding" in self.headers:
            message = "Transfer-Encoding is not accepted: send a Content-Length"
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, message)
        values = [v.strip() for v in self.headers.get_all("Content-Length") or []]
        # RFC 9110 allows leading zeros (1*DIGIT): a length is judged by its value.
        values = [(v.lstrip("0") or "0") if _LENGTH.fullmatch(v) else v for v in values]
        if not values:
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length")
        if len(set(values)) > 1 or not _LENGTH.fullmatch(values[0]):
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f"Content-Length must be one number of bytes, not {excerpt(', '.join(values))}",
            )
        if len(values[0]) > len(str(MAX_BODY)) or int(values[0]) > MAX_BODY:
            raise ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a body of {excerpt(values[0])} bytes is over the limit of {MAX_BODY} bytes",
            )
        length = int(values[0])
        try:
            data = self.rfile.read(length)
        except TimeoutError as e:
            raise ApiError(
                HTTPStatus.REQUEST_TIMEOUT,
                f"the body did not arrive within {self.server.request_timeout:g} s: "
                f"Content-Length says {length} bytes",
            ) from e
        if len(data) < length:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"the body ended after {len(data)} of its {length} bytes"
            )
        self.body_read = True
        return data

    def _json_body(self) -> dict[str, Any]:
        data = self._body()
        try:
            body = json.loads(data.decode() or "null", parse_constant=_no_constant)
        except UnicodeDecodeError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"body is not UTF-8 (byte {e.start})") from e
        except json.JSONDecodeError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {e}") from e
        except RecursionError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON: nested too deeply") from e
        except _NotJsonNumber as e:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"body is not JSON: {e} is no JSON number"
            ) from e
        except ValueError as e:  # an integer past Python's digit limit
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON: a number too long") from e
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        if _nesting(body) > MAX_DEPTH:  # what reads it recurses: repr, rfc8785, the checks
            raise ApiError(HTTPStatus.BAD_REQUEST, f"body nests over {MAX_DEPTH} levels")
        return body

    def _route(self, method: str) -> tuple[HTTPStatus, object]:
        try:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
        except ValueError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"malformed path {excerpt(self.path)}") from e
        instance = self.server.instance
        state = instance.state
        route = (method, url.path.rstrip("/"))
        if route == ("GET", "/oidc/.well-known/openid-configuration"):
            return HTTPStatus.OK, oidc.discovery(state.issuer_url)
        if route == ("GET", "/oidc/keys"):
            return HTTPStatus.OK, oidc.jwks(state.keys["issuer"].public_key())
        if route == ("POST", "/api/v2/signingCert"):
            return HTTPStatus.CREATED, instance.signing_cert(self.headers, self._json_body())
        if route == ("POST", "/api/v1/log/entries"):
            return HTTPStatus.CREATED, instance.add_entry(self._json_body(), instance.log)
        if route == ("POST", "/api/v2/log/entries"):
            return HTTPStatus.CREATED, instance.add_entry(self._json_body(), instance.log_v2)
        if route == ("POST", "/api/v1/timestamp"):
            return HTTPStatus.OK, instance.timestamp(self._body())
        if route == ("GET", "/api/v1/log/entries"):
            return HTTPStatus.OK, instance.get_entry(None, query.get("logIndex", [""])[0])
        if method == "GET" and url.path.startswith("/api/v1/log/entries/"):
            return HTTPStatus.OK, instance.get_entry(url.path.rsplit("/", 1)[-1], None)
        if route == ("GET", "/api/v1/log"):
            return HTTPStatus.OK, instance.log.info()
        if route == ("GET", "/api/v1/log/proof"):
            return HTTPStatus.OK, instance.proof(query)
        if route == ("GET", "/healthz"):
            return HTTPStatus.OK, {"status": "ok", "entries": instance.entries()}
        raise ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {excerpt(url.path)}")

    def _dispatch(self, method: str) -> None:
        try:
            status, body = self._route(method)
        except ApiError as e:
            status, body = e.status, _error(e.status, str(e))
        except Exception:  # a bug: answered and written to the instance's log, not a hang-up
            traceback.print_exc(file=sys.stderr)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            body = _error(status, "internal error (see the instance's log)")
        if self._has_body() and not self.body_read:
            self.close_connection = True  # what was not read would be taken for a request
        self._send(status, body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


def _nesting(value: object) -> int:
    """How deep `value` nests (walked without recursion), counted up to just past MAX_DEPTH."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_DEPTH:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _error(status: HTTPStatus, message: str) -> dict[str, object]:
    return {"code": status.value, "message": message}


def _linger(connection: socket.socket, timeout: float) -> None:
    """Close as Apache does: send our end's FIN, then read and discard what the client still
    sends (a refused body) until it closes, for `timeout` seconds and MAX_BODY bytes at most.
    Closing with unread input would reset the connection, and the client could lose the
    answer it was sent."""
    deadline = time.monotonic() + timeout
    discarded = 0
    try:
        connection.shutdown(socket.SHUT_WR)
        while discarded <= MAX_BODY and (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            chunk = connection.recv(1 << 16)
            if not chunk:
                return
            discarded += len(chunk)
    except OSError:  # reset, or the timeout: either way the connection is done
        return


class InstanceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, instance: Instance, request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.instance = instance
        self.request_timeout = request_timeout
        super().__init__((HOST, instance.state.port), Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up or stopped reading is no error of ours."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def serve(instance: Instance, stop_after: float | None = None) -> None:
    """Serve until interrupted, or for `stop_after` seconds at most."""
    server = InstanceServer(instance)
    timer = None
    if stop_after is not None:
        timer = threading.Timer(stop_after, server.shutdown)
        timer.daemon = True
        timer.start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if timer is not None:
            timer.cancel()
        server.server_close()
