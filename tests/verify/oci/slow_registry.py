"""Support for the tests of deadlines (no tests here): small registries on 127.0.0.1, served
by threads of the test process and stopped after.

`dripping`: every request is answered 200 and then its body (or, with `headers=True`, its
headers) one byte every `every` seconds, for ever: each byte comes well inside any per-read
timeout, so only a deadline on the whole read ends it. `fast`: an image manifest at every
manifest path, 404 for the rest (no referrers): an image judged at once, and refused, for want
of a signature."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator

from verify.oci.client import OCI_MANIFEST, sha256

IMAGE = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
IMAGE_DIGEST = sha256(IMAGE)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    every = 0.1
    drip_headers = False
    stopping = False


class _Dripping(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        try:
            if self.server.drip_headers:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                self._drip(b"a")
            self.send_response(200)
            self.send_header("Content-Type", OCI_MANIFEST)
            self.end_headers()
            self._drip(b" ")
        except OSError:
            return

    def _drip(self, byte: bytes) -> None:
        while not self.server.stopping:
            self.wfile.write(byte)
            self.wfile.flush()
            time.sleep(self.server.every)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Fast(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        found = "/manifests/" in self.path and "/manifests/sha256-" not in self.path
        body = IMAGE if found else b"{}"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", OCI_MANIFEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serving(
    handler: type[http.server.BaseHTTPRequestHandler], **settings: object
) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), handler)
    for name, value in settings.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.stopping = True
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def dripping(every: float = 0.1, headers: bool = False) -> contextlib.AbstractContextManager[str]:
    """A registry that drips (see the module's docstring); yields its HOST:PORT."""
    return _serving(_Dripping, every=every, drip_headers=headers)


def fast() -> contextlib.AbstractContextManager[str]:
    """A registry that answers at once (see the module's docstring); yields its HOST:PORT."""
    return _serving(_Fast)
