"""The instance's HTTP server on 127.0.0.1: the OIDC issuer's discovery and keys, the CA and
the transparency log, all in one threaded process."""

from __future__ import annotations

import base64
import datetime
import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization

from attest.instance import ca, oidc
from attest.instance.log import DuplicateEntry, EntryError, TransparencyLog
from attest.instance.state import HOST, State, utcnow

MAX_BODY = 1 << 20  # 1 MiB: an entry or a CSR is a few KiB
Clock = Callable[[], datetime.datetime]


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
            csr = base64.b64decode(str(request.get("certificateSigningRequest", "")), validate=True)
            key = ca.requested_key(csr)
            chain = ca.issue(self.state, key, claims, self.state.issuer_url, now, real_now)
        except ValueError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"bad certificate request: {e}") from e
        except ca.CertificateRequestError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e
        pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]
        return {"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}}

    def add_entry(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.log.add(request, self.clock())
        except EntryError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e
        except DuplicateEntry as e:
            raise ApiError(
                HTTPStatus.CONFLICT, f"an equivalent entry already exists: {e.uuid}"
            ) from e

    def get_entry(self, uuid: str | None, index: str | None) -> dict[str, Any]:
        position = self.log.index_of(uuid) if uuid else None
        if index is not None:
            try:
                position = int(index)
            except ValueError as e:
                raise ApiError(HTTPStatus.BAD_REQUEST, "logIndex must be an integer") from e
        if position is None or not 0 <= position < len(self.log):
            raise ApiError(HTTPStatus.NOT_FOUND, "no such entry")
        return self.log.entry(position)

    def proof(self, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            first = int(query.get("firstSize", ["1"])[0])
            last = int(query.get("lastSize", [str(len(self.log))])[0])
            return self.log.consistency(first, last)
        except ValueError as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(e)) from e


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: InstanceServer

    def setup(self) -> None:
        super().setup()
        # Without it, small answers wait ~40 ms for the peer's delayed ACK (Nagle).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines could carry nothing secret, but keep stderr for errors."""

    def _send(self, status: HTTPStatus, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(HTTPStatus.BAD_REQUEST, "body is not JSON") from e
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        instance = self.server.instance
        state = instance.state
        try:
            route = (method, url.path.rstrip("/"))
            if route == ("GET", "/oidc/.well-known/openid-configuration"):
                self._send(HTTPStatus.OK, oidc.discovery(state.issuer_url))
            elif route == ("GET", "/oidc/keys"):
                self._send(HTTPStatus.OK, oidc.jwks(state.keys["issuer"].public_key()))
            elif route == ("POST", "/api/v2/signingCert"):
                self._send(
                    HTTPStatus.CREATED, instance.signing_cert(self.headers, self._json_body())
                )
            elif route == ("POST", "/api/v1/log/entries"):
                self._send(HTTPStatus.CREATED, instance.add_entry(self._json_body()))
            elif route == ("GET", "/api/v1/log/entries"):
                self._send(HTTPStatus.OK, instance.get_entry(None, query.get("logIndex", [""])[0]))
            elif method == "GET" and url.path.startswith("/api/v1/log/entries/"):
                uuid = url.path.rsplit("/", 1)[-1]
                self._send(HTTPStatus.OK, instance.get_entry(uuid, None))
            elif route == ("GET", "/api/v1/log"):
                self._send(HTTPStatus.OK, instance.log.info())
            elif route == ("GET", "/api/v1/log/proof"):
                self._send(HTTPStatus.OK, instance.proof(query))
            elif route == ("GET", "/healthz"):
                self._send(HTTPStatus.OK, {"status": "ok", "entries": len(instance.log)})
            else:
                raise ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {url.path}")
        except ApiError as e:
            self._send(e.status, {"code": e.status.value, "message": str(e)})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


class InstanceServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        super().__init__((HOST, instance.state.port), Handler)


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
