"""Loopback stand-ins for the tests: a fault-injecting proxy in front of the instance, and
GitHub's OIDC token endpoint. Each binds 127.0.0.1 on an ephemeral port and stops when its
`with` block ends (or after a bounded lifetime, whichever comes first)."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.loopback import serving

LIFETIME = 300.0  # seconds

Respond = Callable[[BaseHTTPRequestHandler, bytes], bool]  # True when it answered itself


@contextmanager
def serve(respond: Respond, upstream: str | None = None) -> Iterator[str]:
    """Serve on 127.0.0.1; `respond` may answer a request, else it is forwarded to `upstream`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if respond(self, body):
                return
            assert upstream is not None
            answer = requests.request(
                self.command, upstream + self.path, data=body, timeout=30,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )  # fmt: skip
            send(self, answer.status_code, answer.content)

        do_GET = _handle
        do_POST = _handle

    with serving(Handler, LIFETIME) as url:
        yield url


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
        handler.wfile.write(body)


def fault(path: str, kind: str, counter: list[int] | None = None) -> Respond:
    """Misbehave on requests to `path`: 500, garbage, slow, or truncated."""

    def respond(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        if not handler.path.startswith(path):
            return False
        if counter is not None:
            counter.append(1)
        if kind == "500":
            send(handler, 500, b'{"code": 500, "message": "internal error"}')
        elif kind == "garbage":
            send(handler, 201, b"<html>not json</html>")
        elif kind == "slow":
            time.sleep(5)
            send(handler, 500, b"{}")
        elif kind == "truncated":  # the connection drops halfway through the promised body
            whole = b'{"code": 201, "message": "' + b"x" * 200 + b'"}'
            handler.send_response(201)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(whole)))
            handler.end_headers()
            handler.wfile.write(whole[: len(whole) // 2])
            handler.close_connection = True
        else:
            return False
        return True

    return respond


def _flipped(text: str) -> str:
    return ("0" if text[0] != "0" else "1") + text[1:]


def _resigned(set_b64: str) -> str:
    """The signed entry timestamp with one byte of the signature's `r` changed: wrongly signed."""
    raw = bytearray(base64.b64decode(set_b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def corrupt_log_answers(upstream: str, field: str = "inclusion proof") -> Respond:
    """Forward log writes, then corrupt the answer: the inclusion proof's root hash, or the
    signature over the entry (`signed entry timestamp`)."""

    def respond(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        if handler.command != "POST" or not handler.path.startswith("/api/v1/log/entries"):
            return False
        answer = requests.post(upstream + handler.path, data=body, timeout=30,
                               headers={"Content-Type": "application/json"})  # fmt: skip
        data = answer.json()
        for entry in data.values():
            verification = entry["verification"]
            if field == "inclusion proof":
                verification["inclusionProof"]["rootHash"] = _flipped(
                    verification["inclusionProof"]["rootHash"]
                )
            else:
                verification["signedEntryTimestamp"] = _resigned(
                    verification["signedEntryTimestamp"]
                )
        send(handler, answer.status_code, json.dumps(data).encode())
        return True

    return respond


def wrongly_signed_certificates(upstream: str) -> Respond:
    """Forward certificate requests, then change one byte of the leaf's signature: a certificate
    the CA did not sign (its SCT, over the unchanged contents, still verifies)."""

    def respond(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        if handler.command != "POST" or not handler.path.startswith("/api/v2/signingCert"):
            return False
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}  # the token
        answer = requests.post(upstream + handler.path, data=body, headers=headers, timeout=30)
        data = answer.json()
        chain = data["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        der = bytearray(
            x509.load_pem_x509_certificate(chain[0].encode()).public_bytes(Encoding.DER)
        )
        der[-1] ^= 0x01  # the last byte of the signature's `s`
        chain[0] = x509.load_der_x509_certificate(bytes(der)).public_bytes(Encoding.PEM).decode()
        send(handler, answer.status_code, json.dumps(data).encode())
        return True

    return respond


def github_token_endpoint(mint: Callable[[], str], request_token: str) -> Respond:
    """GitHub's ACTIONS_ID_TOKEN_REQUEST_URL: a bearer request token in, an OIDC token out."""

    def respond(handler: BaseHTTPRequestHandler, body: bytes) -> bool:
        if handler.headers.get("Authorization") != f"bearer {request_token}":
            send(handler, 401, b'{"message": "bad request token"}')
        elif "audience=sigstore" not in handler.path:
            send(handler, 400, b'{"message": "audience required"}')
        else:
            send(handler, 200, json.dumps({"value": mint()}).encode())
        return True

    return respond


def trust_config_via(original: Path, url: str, target: Path) -> Path:
    """A copy of a ClientTrustConfig whose CA and log URLs point at `url`."""
    config = json.loads(original.read_text())
    for key in ("caUrls", "rekorTlogUrls"):
        for service in config["signingConfig"][key]:
            service["url"] = url
    target.write_text(json.dumps(config))
    return target
