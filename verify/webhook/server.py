"""Serving admission reviews over TLS (1.2 or later), keep-alive, one thread per connection.

`Webhook.answer` turns a request body into an HTTP status and a document, failing closed: a
review that is not one is HTTP 400 (the API server then applies the webhook's failurePolicy,
`Fail`); a review whose judging raises anything, or runs past the per-review deadline, is
denied naming why. Every answered review is one JSON line on stdout (the decision log of the
cluster's log pipeline). The HTTP layer refuses what is not a review before reading it: a body
over MAX_REVIEW (413), no Content-Length (411), another content type (415), another method
(405) or path (404)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from verify import __version__
from verify.errors import AttestError, without_input
from verify.files import MIB
from verify.webhook import review
from verify.webhook.judging import Judge, Verdict
from verify.webhook.mounted import Broken, Mounted

MAX_REVIEW = 3 * MIB  # the API server's own request limit; a review is a few KB
REVIEW_DEADLINE = 8.0  # seconds: under the example's timeoutSeconds (10), so ours is said
PATH = "/validate"
_IDLE = 30.0  # seconds a keep-alive connection may sit idle, or a handshake take


@dataclasses.dataclass(frozen=True)
class Outcome:
    allowed: bool
    message: str
    verdicts: tuple[tuple[review.Container, Verdict], ...] = ()
    warnings: tuple[str, ...] = ()


class Webhook:
    """The reviews' judge: the mounted configuration, the image judge, the deadline, and where
    decisions are written."""

    def __init__(
        self,
        mounted: Mounted,
        judge: Judge,
        *,
        deadline: float = REVIEW_DEADLINE,
        workers: int = 16,
        out: IO[str] | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.mounted = mounted
        self.judge = judge
        self.deadline = deadline
        # a review past its deadline is denied; its thread runs on, so the pool bounds them
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "attest-review")
        self._out = out or sys.stdout
        self._out_lock = threading.Lock()
        self._clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc))

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON document for a request body."""
        try:
            parsed = review.parse(body)
        except review.BadReview as e:
            return 400, {"error": review.bounded(f"malformed AdmissionReview: {e}")}
        except review.Unreadable as e:
            self._log(e.uid, None, Outcome(False, e.reason))
            return 200, review.response(e.uid, False, e.reason)
        outcome = self._judged(parsed)
        self._log(parsed.uid, parsed, outcome)
        return 200, review.response(parsed.uid, outcome.allowed, outcome.message, outcome.warnings)

    def _judged(self, parsed: review.Review) -> Outcome:
        """The review's outcome within the deadline; a denial for anything else."""
        future = self._pool.submit(self._judge_review, parsed)
        try:
            return future.result(timeout=self.deadline)
        except concurrent.futures.TimeoutError:
            return Outcome(
                False,
                f"judging took longer than {self.deadline:g} s, the limit for one review: "
                "denied (fail closed); retry",
            )
        except Broken as e:
            return Outcome(False, str(e))
        except AttestError as e:
            return Outcome(False, f"denied (fail closed): {e}")
        except Exception as e:
            return Outcome(
                False,
                f"denied (fail closed): internal error: {type(e).__name__}: {without_input(e)}",
            )

    def _judge_review(self, parsed: review.Review) -> Outcome:
        loaded = self.mounted.current()
        now = self._clock()  # one judging instant for every image of the review
        verdicts = {
            image: self._one(image, loaded.policy, loaded.trust, now) for image in parsed.images
        }
        pairs = tuple((c, verdicts[c.image]) for c in parsed.containers)
        kept = tuple((c, Verdict(c.image, True, review.KEPT)) for c in parsed.kept)
        refused = [(c, v) for c, v in pairs if not v.allowed]
        # `parse` refuses an object with no container; nothing judged is an UPDATE that runs
        # only images its object already ran (admitted with it)
        if not refused:
            return Outcome(True, "", pairs + kept)
        said = "; ".join(
            f"image {review.shown_image(c.image)} at {c.where}: {v.reason}" for c, v in refused
        )
        message = f"{len(refused)} of {len(pairs)} container(s) refused by attest: {said}"
        if loaded.policy.mode == "audit":
            return Outcome(True, "", pairs + kept, (f"audit mode, would deny: {message}",))
        return Outcome(False, message, pairs + kept)

    def _one(self, image: str, policy: Any, trust: Any, now: datetime.datetime) -> Verdict:
        """One image's verdict; an error of the contract (a registry down) refuses it naming
        why, anything else ends the review as an internal error (denied)."""
        try:
            return self.judge(image, policy, trust, now)
        except AttestError as e:
            return Verdict(image, False, f"cannot be judged: {e}")

    def _log(self, uid: str, parsed: review.Review | None, outcome: Outcome) -> None:
        """One JSON line per review on stdout (JSON escapes by itself: the text is exact)."""
        record = {
            "time": self._clock().isoformat(),
            "verifier": f"attest-webhook {__version__}",
            "uid": uid,
            "kind": parsed.kind if parsed else None,
            "namespace": parsed.namespace if parsed else None,
            "name": parsed.name if parsed else None,
            "decision": "ALLOW" if outcome.allowed else "DENY",
            "message": outcome.message,
            "images": [{"container": c.where, **v.to_dict()} for c, v in outcome.verdicts],
            "warnings": list(outcome.warnings),
        }
        line = json.dumps(record, ensure_ascii=True)
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the API server reuses its connections
    timeout = _IDLE
    webhook: Webhook
    server_version = "attest-webhook"
    sys_version = ""

    def _send(self, status: int, document: dict[str, Any], close: bool = False) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _length(self) -> int | None:
        """The body's Content-Length when given as a number, else None."""
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") is not None or length is None:
            return None
        return int(length) if length.isdigit() and len(length) <= 12 else None

    def _refuse(self, status: int, why: str) -> None:
        """A request that is not a review: its body (at most MAX_REVIEW) read past and the
        connection kept; a larger or unmeasured one is never read, and the connection closes."""
        length = self._length()
        keep = length is not None and length <= MAX_REVIEW
        if keep:
            self.rfile.read(length or 0)
        self._send(status, {"error": why}, close=not keep)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            return self._refuse(404, f"reviews are posted to {PATH}")
        kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            return self._refuse(415, "an AdmissionReview is application/json")
        length = self._length()
        if length is None:
            return self._refuse(411, "give the review's Content-Length (no chunked body)")
        if length > MAX_REVIEW:
            return self._refuse(413, f"a review over {MAX_REVIEW // MIB} MiB is refused unread")
        body = self.rfile.read(length)
        if len(body) != length:
            return self._refuse(400, "the review ended before its Content-Length")
        status, document = self.webhook.answer(body)
        self._send(status, document)
        return None

    def do_GET(self) -> None:
        """Probes: /livez while the process serves; /readyz while the configuration loads."""
        path = self.path.split("?", 1)[0]
        if path == "/livez":
            return self._send(200, {"status": "serving"})
        if path == "/readyz":
            try:
                self.webhook.mounted.current()
            except Broken as e:
                return self._send(503, {"status": "not ready", "why": str(e)})
            return self._send(200, {"status": "ready"})
        return self._refuse(404, f"reviews are posted to {PATH}; probes: /livez, /readyz")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # any other method: 405, never http.server's 501
            return lambda: self._refuse(405, "only POST (reviews) and GET (probes)")
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # stdout is the decision log; requests are not logged


class TlsServer(ThreadingHTTPServer):
    """One listening socket; each connection's TLS handshake runs in its own thread (a slow
    client holds only its thread, never the accept loop)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        webhook: Webhook,
        context: ssl.SSLContext,
        reuse_port: bool = False,
    ) -> None:
        self.context = context
        self.reuse_port = reuse_port
        handler = type("Handler", (_Handler,), {"webhook": webhook})
        super().__init__(address, handler)

    def server_bind(self) -> None:
        if self.reuse_port:  # several processes behind one port: the kernel spreads them
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_IDLE)
        try:
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not speak TLS 1.2+: nothing to answer
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()


def tls_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """The server's TLS context: TLS 1.2 at least, the certificate and key given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    return context
