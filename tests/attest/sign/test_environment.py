"""A signing session's log and TSA clients read the environment's proxy and CA bundle settings
once per host (requests walked the whole environment twice at every request), and honour them
as requests does: the same settings for every host, NO_PROXY included, and a proxy in the
environment is still the way to the log."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
import requests
import requests.sessions
from click.testing import Result
from sigstore.models import Bundle
from sigstore.verify.policy import Identity

from tests.conftest import LocalInstance
from tests.loopback import serving
from verify.sigstore_adapter import SettledSession

PROXY = "http://proxy.example:3128"
URLS = (
    "https://rekor.example/api/v2/log/entries",
    "https://internal.example/api/v1/timestamp",
    "http://127.0.0.1:8080/api/v2/log/entries",
    "https://sub.internal.example:8443/x",
)
ENVIRONMENTS: tuple[dict[str, str], ...] = (
    {},
    {"HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY},
    {"HTTPS_PROXY": PROXY, "NO_PROXY": "internal.example,127.0.0.1"},
    {"https_proxy": PROXY, "no_proxy": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/own.pem", "HTTPS_PROXY": PROXY},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"},
)


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA bundle of the machine's own in the environment."""
    for variable in [v for v in os.environ if "PROXY" in v.upper() or "CA_BUNDLE" in v.upper()]:
        monkeypatch.delenv(variable)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_settings_are_requests_own_for_every_host(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear(monkeypatch)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settled = SettledSession()
    for url in URLS * 2:  # the second time from what was kept
        expected = requests.Session().merge_environment_settings(url, {}, None, None, None)
        got = settled.merge_environment_settings(url, {}, None, None, None)
        assert got == expected, (environment, url)


def test_the_environment_is_read_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "internal.example")
    hosts: list[str] = []
    real = requests.sessions.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        hosts.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    settled = SettledSession()
    for _ in range(3):
        for url in URLS[:2]:
            answer = settled.merge_environment_settings(url, {}, None, None, None)
            answer["proxies"]["https"] = "http://tampered.example"  # each request its own copy
    assert hosts == list(URLS[:2]), "read once per host"
    proxied = settled.merge_environment_settings(URLS[0], {}, None, None, None)["proxies"]
    assert proxied["https"] == PROXY, "a copy was changed, never what is kept"
    assert settled.merge_environment_settings(URLS[1], {}, None, None, None)["proxies"] == {}


class _Forwarding(BaseHTTPRequestHandler):
    """An HTTP proxy that forwards each request to where its absolute URL says (on loopback),
    relays the answer, and keeps the request line and headers it was asked with."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.path, dict(self.headers)))
        url = urlsplit(self.path)
        upstream = http.client.HTTPConnection("127.0.0.1", url.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream.request("POST", url.path, body, headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type") or "")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    def log_message(self, *args: object) -> None:
        pass


def test_signing_goes_through_the_users_proxy_by_host_with_sigstores_headers(
    invoke: Callable[..., Result],
    rekor2_instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The log and the TSA named by `localhost`, the CA by 127.0.0.1 in NO_PROXY: the log's
    and the TSA's requests go through HTTP_PROXY, with the headers sigstore gives them (a real
    TSA refuses a request without its Content-Type), and the CA's do not. The bundle verifies."""
    config = json.loads(rekor2_instance.trust_config.read_text())
    local = rekor2_instance.url.replace("127.0.0.1", "localhost")
    signing = config["signingConfig"]
    for log in signing["rekorTlogUrls"]:
        log["url"] = local
    signing["tsaUrls"][0]["url"] = f"{local}/api/v1/timestamp"
    (tmp_path / "proxied.json").write_text(json.dumps(config))
    artifact = tmp_path / "a.txt"
    artifact.write_bytes(b"through the proxy\n")
    _clear(monkeypatch)
    _Forwarding.seen = []
    with serving(_Forwarding, lifetime=60) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        result = invoke(
            "sign", "--trust-config", str(tmp_path / "proxied.json"),
            "--identity-token", rekor2_instance.token(), str(artifact),
        )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    asked = {path: headers for path, headers in _Forwarding.seen}
    assert sorted(asked) == [f"{local}/api/v1/timestamp", f"{local}/api/v2/log/entries"]
    assert asked[f"{local}/api/v1/timestamp"]["Content-Type"] == "application/timestamp-query"
    assert asked[f"{local}/api/v2/log/entries"]["Content-Type"] == "application/json"
    assert all(h["User-Agent"].startswith("sigstore-python") for h in asked.values())
    bundle = Bundle.from_json((tmp_path / "a.txt.sigstore.json").read_bytes())
    policy = Identity(identity="https://example.com/ci", issuer=rekor2_instance.issuer)
    rekor2_instance.verifier().verify_artifact(artifact.read_bytes(), bundle, policy)
