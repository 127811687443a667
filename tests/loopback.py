"""Loopback HTTP servers for the tests: bound to 127.0.0.1 on an ephemeral port, stopped when
their `with` block ends, and by themselves after a bounded lifetime at the latest."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], lifetime: float) -> Iterator[str]:
    """Serve `handler` and yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    deadline = threading.Timer(lifetime, server.shutdown)
    deadline.daemon = True
    deadline.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def dripping() -> Iterator[str]:
    """Serve a GET or POST with headers at once, then a body a byte every 0.2 s (each read well
    within any read timeout), until the `with` block ends; yield the base URL."""
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            while not done.wait(0.2):
                self.wfile.write(b" ")
                self.wfile.flush()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    try:
        with serving(Handler, lifetime=60) as base:
            yield base
    finally:
        done.set()  # the requests left behind end with their connection


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
