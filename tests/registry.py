"""A real OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution server,
2.8; `.ci/run` installs it) started on 127.0.0.1 from a small config file with in-memory
storage, and stopped after; and a minimal OCI image (config + one layer) built here and pushed
to it. distribution 2.8 stores manifests with `subject` but has no referrers API: the tests
against it exercise the referrers tag schema."""

from __future__ import annotations

import gzip
import io
import json
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.tools import program
from verify.oci.client import OCI_MANIFEST, Manifest, Registry, descriptor

SERVER = "docker-registry"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(directory: Path) -> Iterator[str]:
    """The registry serving on 127.0.0.1; yields its HOST:PORT."""
    binary = program(SERVER, "apt-get install docker-registry; .ci/run does")
    port = _free_port()
    config = directory / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  inmemory: {}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (directory / "registry.log").open("wb")
    server = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        for _ in range(100):  # up to 10 s
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError as e:
                if server.poll() is not None:
                    raise RuntimeError(
                        f"{SERVER} exited: {(directory / 'registry.log').read_text()}"
                    ) from e
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def image_blobs(content: bytes) -> tuple[bytes, bytes, bytes]:
    """(config, layer, manifest) of a one-layer linux image whose one file holds `content`."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("app/hello.txt")
        info.size, info.mtime = len(content), 0
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(archive.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": [descriptor("", archive.getvalue())["digest"]],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
        }
    ).encode()
    return config, layer, manifest


def push_image(host: str, repository: str, tag: str, content: bytes) -> Manifest:
    """Build and push a minimal image under `tag`; its manifest."""
    config, layer, manifest = image_blobs(content)
    registry = Registry(host)
    registry.push_blob(repository, config)
    registry.push_blob(repository, layer)
    registry.push_manifest(repository, tag, manifest, OCI_MANIFEST)
    return Manifest(descriptor("", manifest)["digest"], OCI_MANIFEST, manifest)


def write_layout(directory: Path, content: bytes) -> Manifest:
    """The same image as an OCI image layout directory."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in image_blobs(content):
        (blobs / descriptor("", blob)["digest"][7:]).write_bytes(blob)
    manifest = image_blobs(content)[2]
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (directory / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [descriptor(OCI_MANIFEST, manifest)]})
    )
    return Manifest(descriptor("", manifest)["digest"], OCI_MANIFEST, manifest)
