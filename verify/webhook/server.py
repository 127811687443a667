"""Serving admission reviews over TLS (1.2 or later), keep-alive, one thread per connection.

`Webhook.answer` turns a request body into an HTTP status and a document, failing closed: a
review that is not one is HTTP 400 (the API server then applies the webhook's failurePolicy,
`Fail`); a review whose judging raises anything, or runs past the per-review deadline, is
denied naming why. Every answered review is one JSON line on stdout (the decision log of the
cluster's log pipeline). The HTTP layer refuses what is not a review before reading it: a body
over MAX_REVIEW (413), no Content-Length (411), another content type (415), another method
(405) or path (404).

Bounds against whoever can reach the port or create a Pod: at most MAX_CONNECTIONS connections
(more are closed unanswered); a TLS handshake done within HANDSHAKE, and a request's line,
headers and body read within REQUEST_READ (of its first byte); at most MAX_IMAGES distinct
images judged per review; one deadline per review that its registry reads obey
(verify/oci/deadline.py), so a review's thread stops at it rather than running on after its
denial. The certificate and key are read again when their files change (a rotated Secret),
for new connections."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import io
import json
import re
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, cast

from verify import __version__
from verify.errors import AttestError, without_input
from verify.files import MIB
from verify.oci.deadline import Deadline
from verify.text import excerpt
from verify.webhook import review
from verify.webhook.judging import Judge, Verdict
from verify.webhook.mounted import Broken, Mounted, _stat

MAX_REVIEW = 3 * MIB  # the API server's own request limit; a review is a few KB
REVIEW_DEADLINE = 8.0  # seconds: under the example's timeoutSeconds (10), so ours is said
_MARGIN = 0.5  # seconds of the review's deadline left to say a registry's lateness ourselves
MAX_IMAGES = 16  # distinct images judged in one review; a pod with more is denied
MAX_CONNECTIONS = 256  # open connections; the API server keeps a few per replica
REQUEST_READ = 10.0  # seconds to read a request, from its first byte to its body's last
HANDSHAKE = 5.0  # seconds for a TLS handshake: a silent connection holds a slot no longer
PATH = "/validate"
_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII: str.isdigit() also takes "²"
_IDLE = 30.0  # seconds a keep-alive connection may sit idle
_LOGGED = 512  # characters of one string in a decision-log line
_LOGGED_IMAGES = 64  # images listed in one decision-log line
_UID = re.compile(r"[\x21-\x7e]{1,128}")  # a uid: printable ASCII (Kubernetes: a UUID)


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

    def answer(self, body: bytes, peer: str = "") -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON document for a request body from `peer` (host:port)."""
        try:
            parsed = review.parse(body)
        except review.BadReview as e:
            return 400, {"error": review.bounded(f"malformed AdmissionReview: {e}")}
        except review.Unreadable as e:
            if not _UID.fullmatch(e.uid):
                return 400, {"error": _BAD_UID}
            self._log(e.uid, None, Outcome(False, e.reason), peer)
            return 200, review.response(e.uid, False, e.reason)
        if not _UID.fullmatch(parsed.uid):
            return 400, {"error": _BAD_UID}
        outcome = self._judged(parsed)
        self._log(parsed.uid, parsed, outcome, peer)
        return 200, review.response(parsed.uid, outcome.allowed, outcome.message, outcome.warnings)

    def _judged(self, parsed: review.Review) -> Outcome:
        """The review's outcome within the deadline; a denial for anything else. The deadline
        starts as the review arrives: a review that waited for a thread has less left."""
        left = self.deadline - min(_MARGIN, self.deadline / 4)
        deadline = Deadline(left, f"the review's {self.deadline:g} s")
        future = self._pool.submit(self._judge_review, parsed, deadline)
        try:
            return future.result(timeout=self.deadline)
        except concurrent.futures.TimeoutError:
            deadline.end()  # its reads stop now; its thread sees the deadline and ends
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

    def _judge_review(self, parsed: review.Review, deadline: Deadline) -> Outcome:
        try:
            if len(parsed.images) > MAX_IMAGES:
                return Outcome(
                    False,
                    f"the object names {len(parsed.images)} distinct images, over the "
                    f"{MAX_IMAGES} one review judges: denied",
                )
            loaded = self.mounted.current()
            now = self._clock()  # one judging instant for every image of the review
            verdicts = {}
            for image in parsed.images:
                deadline.check("the review: not judged")  # abandoned at its deadline: it stops
                verdicts[image] = self._one(image, loaded.policy, loaded.trust, now, deadline)
        finally:
            deadline.close()
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

    def _one(
        self, image: str, policy: Any, trust: Any, now: datetime.datetime, deadline: Deadline
    ) -> Verdict:
        """One image's verdict; an error of the contract (a registry down) refuses it naming
        why, anything else ends the review as an internal error (denied)."""
        try:
            return self.judge(image, policy, trust, now, deadline)
        except AttestError as e:
            return Verdict(image, False, f"cannot be judged: {e}")

    def _log(self, uid: str, parsed: review.Review | None, outcome: Outcome, peer: str) -> None:
        """One JSON line per review on stdout: ASCII (JSON's escapes), every string of the
        review an escaped excerpt, at most _LOGGED_IMAGES images listed."""
        listed = [
            {"container": c.where, **v.to_dict()} for c, v in outcome.verdicts[:_LOGGED_IMAGES]
        ]
        record = {
            "time": self._clock().isoformat(),
            "verifier": f"attest-webhook {__version__}",
            "peer": peer,
            "uid": uid,
            "kind": parsed.kind if parsed else None,
            "namespace": _bounded(parsed.namespace) if parsed else None,
            "name": _bounded(parsed.name) if parsed else None,
            "decision": "ALLOW" if outcome.allowed else "DENY",
            "message": review.bounded(outcome.message),
            "images": [{k: _bounded(v) for k, v in entry.items()} for entry in listed],
            "images_not_listed": max(len(outcome.verdicts) - _LOGGED_IMAGES, 0),
            "warnings": [review.bounded(w) for w in outcome.warnings],
        }
        line = json.dumps(record, ensure_ascii=True)
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


_BAD_UID = "malformed AdmissionReview: the request's uid is not 1 to 128 printable ASCII characters"


def _bounded(value: Any) -> Any:
    return excerpt(value, _LOGGED) if isinstance(value, str) else value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the API server reuses its connections
    timeout = _IDLE
    webhook: Webhook
    _reading: Deadline
    server_version = "attest-webhook"
    sys_version = ""
    # an answer's status, headers and body leave in one write (flushed after each request):
    # written apart, the body waited for the client's delayed ACK (Nagle), 40 ms a review
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

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
        """The body's Content-Length when given once, as ASCII digits, with no
        Transfer-Encoding; else None (the body is never read, and the connection closes: two
        lengths, read one way here and another by a proxy, would smuggle a request)."""
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") is not None or len(lengths) != 1:
            return None
        return int(lengths[0]) if _DIGITS.fullmatch(lengths[0].strip()) else None

    def _unmeasured(self) -> tuple[int, str]:
        """Why `_length` found no length: none given (or chunked), or not one in digits."""
        headers = self.headers
        if headers.get("Transfer-Encoding") is not None or "Content-Length" not in headers:
            return 411, "give the review's Content-Length (no chunked body)"
        return 400, "give one Content-Length, in ASCII digits"

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
            return self._refuse(*self._unmeasured())
        if length > MAX_REVIEW:
            return self._refuse(413, f"a review over {MAX_REVIEW // MIB} MiB is refused unread")
        body = self.rfile.read(length)
        if len(body) != length:
            return self._refuse(400, "the review ended before its Content-Length")
        self._reading.close()  # read in time: judging has the review's own deadline
        status, document = self.webhook.answer(
            body, f"{self.client_address[0]}:{self.client_address[1]}"
        )
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

    def handle_one_request(self) -> None:
        """One request, read within REQUEST_READ of its first byte (a client sending a byte
        now and then, each inside the idle timeout, is cut off there)."""
        try:
            # waits at most _IDLE for a keep-alive connection's next request
            first = cast(io.BufferedReader, self.rfile).peek(1)
        except OSError:
            first = b""
        if not first:
            self.close_connection = True
            return
        self._reading = Deadline(REQUEST_READ)
        self._reading.watch(self.connection)
        try:
            super().handle_one_request()
        finally:
            self._reading.close()


class Certificates:
    """The server's TLS context from the certificate and key files, made again for new
    connections when either file changes (a rotated Secret); a change that does not load keeps
    the last context until the files load again (the API server then sees the old certificate,
    which it still trusts until its own bundle changes)."""

    def __init__(self, certificate: Path, key: Path) -> None:
        self.paths = (certificate, key)
        self._seen = self._stamp()
        self._context = tls_context(certificate, key)
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[Any, ...]:
        return tuple(_stat(p) for p in self.paths)

    def context(self) -> ssl.SSLContext:
        with self._lock:
            stamp = self._stamp()
            if stamp != self._seen:
                self._seen = stamp
                with contextlib.suppress(OSError, ssl.SSLError):
                    self._context = tls_context(*self.paths)
            return self._context


class TlsServer(ThreadingHTTPServer):
    """One listening socket; each connection's TLS handshake runs in its own thread (a slow
    client holds only its thread, never the accept loop), at most MAX_CONNECTIONS at once.
    `context`: the TLS context, or what gives the current one (`Certificates.context`)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        webhook: Webhook,
        context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        reuse_port: bool = False,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.context = context
        self.reuse_port = reuse_port
        self._connections = threading.BoundedSemaphore(max_connections)
        handler = type("Handler", (_Handler,), {"webhook": webhook})
        super().__init__(address, handler)

    def server_bind(self) -> None:
        if self.reuse_port:  # several processes behind one port: the kernel spreads them
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection, or, at MAX_CONNECTIONS, the connection closed."""
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed: at most one line on stderr, never a traceback (a client
        dropping its connection early is not worth one, and could flood the log)."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, OSError):
            print(f"attest webhook: a connection failed: {type(error).__name__}", file=sys.stderr)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_IDLE)
        context = self.context if isinstance(self.context, ssl.SSLContext) else self.context()
        # the deadline shuts down a duplicate of the socket: wrapping detaches `request` itself
        watched = request.dup()
        try:
            with Deadline(HANDSHAKE) as handshake:  # a handshake silent or dripping ends
                handshake.watch(watched)
                wrapped = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not speak TLS 1.2+ (in time): nothing to answer
        finally:
            watched.close()
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
