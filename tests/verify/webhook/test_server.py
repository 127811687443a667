"""The webhook over TLS on 127.0.0.1 (reviews of kubectl-rendered objects): allowed, refused, an
image by tag, one bad container among several, a malformed review (400), an oversized one (413,
unread), another content type, method or path, TLS below 1.2 refused, keep-alive. The judge is
`RuleJudge` (allows by a rule): these test the serving, tests/verify/webhook/test_judging.py the
judging of images."""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.verify.webhook import reviews as r
from verify.webhook.mounted import Mounted
from verify.webhook.server import MAX_REVIEW, Webhook

pytestmark = pytest.mark.network


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[http.client.HTTPSConnection, Path, io.StringIO]]:
    out = io.StringIO()
    hook = Webhook(Mounted(r.policy_file(tmp_path)), r.RuleJudge(), out=out)
    with r.serving(hook, tmp_path) as (connection, cert):
        yield connection, cert, out


Served = tuple[http.client.HTTPSConnection, Path, io.StringIO]


def _answer(served: Served, obj: dict[str, Any]) -> dict[str, Any]:
    status, document = r.post(served[0], r.body(obj))
    assert status == 200
    response: dict[str, Any] = document["response"]
    return response


def test_a_deployment_by_an_allowed_digest_is_admitted(served: Served) -> None:
    response = _answer(served, r.workload("Deployment"))
    assert response == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}
    record = json.loads(served[2].getvalue())
    assert (record["kind"], record["namespace"], record["name"]) == ("Deployment", "shop", "web")


def test_a_refused_image_is_named_with_why(served: Served) -> None:
    response = _answer(served, r.workload("Job", r.BAD))
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        f"1 of 1 container(s) refused by attest: image '{r.BAD}' at "
        "spec.template.spec.containers[0] ('batch'): signature: no verified signature by an "
        "allowed signer"
    )


def test_one_bad_container_among_several_denies_the_whole(served: Served) -> None:
    obj = r.with_containers(r.workload("CronJob"), "containers", r.GOOD, r.BAD, r.GOOD)
    response = _answer(served, obj)
    assert response["allowed"] is False
    assert response["status"]["message"].startswith(
        f"1 of 4 container(s) refused by attest: image '{r.BAD}' at spec.jobTemplate.spec.template.spec.containers[2] ('c2')"
    )


def test_several_reviews_on_one_keep_alive_connection(served: Served) -> None:
    for kind in ("Pod", "StatefulSet", "DaemonSet", "ReplicaSet"):
        assert _answer(served, r.workload(kind))["allowed"] is True
    assert len(served[2].getvalue().splitlines()) == 4


def test_a_malformed_review_is_400_and_the_server_goes_on(served: Served) -> None:
    status, document = r.post(served[0], b'{"kind": "AdmissionReview"')
    assert status == 400
    assert document["error"].startswith("malformed AdmissionReview: not JSON")
    assert _answer(served, r.workload("Pod"))["allowed"] is True


def test_an_oversized_review_is_413_unread(served: Served) -> None:
    connection = served[0]
    connection.putrequest("POST", "/validate")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(MAX_REVIEW + 1))
    connection.endheaders()  # no body sent: the answer must not wait for it
    answer = connection.getresponse()
    assert answer.status == 413
    assert json.loads(answer.read())["error"] == "a review over 3 MiB is refused unread"
    assert answer.getheader("Connection") == "close"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "status", "said"),
    [
        ("POST", "/validate", "text/plain", 415, "an AdmissionReview is application/json"),
        ("POST", "/mutate", "application/json", 404, "reviews are posted to /validate"),
        ("PUT", "/validate", "application/json", 405, "only POST (reviews) and GET (probes)"),
        ("BREW", "/validate", "application/json", 405, "only POST (reviews) and GET (probes)"),
        ("GET", "/validate", "application/json", 404, "reviews are posted to /validate"),
    ],
)
def test_what_is_not_a_review_is_refused_4xx(
    served: Served, method: str, path: str, content_type: str, status: int, said: str
) -> None:
    served[0].request(method, path, body=b"{}", headers={"Content-Type": content_type})
    answer = served[0].getresponse()
    assert answer.status == status
    assert json.loads(answer.read())["error"].startswith(said)


def test_probes(served: Served) -> None:
    for path in ("/livez", "/readyz"):
        served[0].request("GET", path)
        answer = served[0].getresponse()
        assert answer.status == 200, answer.read()
        answer.read()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the old versions are the point
def test_tls_below_1_2_is_refused(served: Served) -> None:
    context = r.client_context(served[1])
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    port = served[0].port
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLError),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_plain_http_gets_no_answer(served: Served) -> None:
    plain = http.client.HTTPConnection("127.0.0.1", served[0].port, timeout=10)
    with pytest.raises(
        (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)
    ):
        plain.request(
            "POST",
            "/validate",
            body=r.body(r.workload("Pod")),
            headers={"Content-Type": "application/json"},
        )
        plain.getresponse()
    assert served[2].getvalue() == ""


def test_an_answer_leaves_in_one_write(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Status line, headers and body in one write: a body written after its headers waits for
    the client's delayed ACK (Nagle's algorithm), 40 ms a review on Linux."""
    writes: list[bytes] = []
    for name in ("send", "sendall"):
        original = getattr(ssl.SSLSocket, name)

        def counted(sock: ssl.SSLSocket, data: bytes, *args: Any, _original: Any = original) -> Any:
            if sock.server_side:
                writes.append(bytes(data))
            return _original(sock, data, *args)

        monkeypatch.setattr(ssl.SSLSocket, name, counted)
    for _ in range(2):
        writes.clear()
        assert _answer(served, r.workload("Deployment"))["allowed"] is True
        [written] = writes
        assert written.startswith(b"HTTP/1.1 200") and written.endswith(b'"allowed": true}}')
