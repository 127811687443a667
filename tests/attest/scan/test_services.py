"""The online sources (`osv`, `pypi`, through pip-audit's services) against loopback servers
the tests start, and with nothing listening: never a silent skip."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from attest.provenance.predicates import read_scan_report
from attest.scan.interface import Component, SourceOptions
from attest.scan.sources import service
from attest.scan.sources.service import OsvSource, PypiSource
from tests.attest.scan.helpers import NOW, OsvApi, record, sbom, serve
from tests.loopback import dripping, unused_port
from verify.errors import InputError
from verify.formats.vulns import Vulns

pytestmark = pytest.mark.network  # loopback OSV and PyPI servers

RECORDS = [
    record(
        "GHSA-1111-2222-3333", "alpha", events=[{"introduced": "0"}, {"fixed": "2.0"}],
        aliases=["CVE-2026-1111"], published="2026-06-01T00:00:00Z",
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    ),
    record("PYSEC-2026-50", "alpha", versions=["1.0"], aliases=["CVE-2026-1111"], published="2026-07-01T00:00:00Z"),
    record("PYSEC-2026-51", "beta", events=[{"introduced": "0"}, {"fixed": "0.5"}]),
]  # fmt: skip
PINS = [Component("alpha", "1.0"), Component("beta", "1.0"), Component("gamma", "1.0")]


def options(tmp_path: Path, url: str) -> SourceOptions:
    return SourceOptions(cache_dir=tmp_path / "http", url=url, timeout=5)


def test_osv_source_keeps_severity_and_merges_aliases(tmp_path: Path) -> None:
    api = OsvApi(RECORDS)
    with serve(api) as base:
        answer = OsvSource(options(tmp_path, f"{base}/v1/query")).check(PINS)
    assert answer.skips == ()
    assert api.requests == 3
    ((match),) = answer.matches
    assert match.component == Component("alpha", "1.0")
    assert match.advisory.id == "PYSEC-2026-50"  # PYSEC preferred, the GHSA record merged in
    assert match.advisory.aliases == ("CVE-2026-1111", "GHSA-1111-2222-3333")
    assert (
        match.advisory.published is not None
        and match.advisory.published.isoformat() == "2026-06-01T00:00:00+00:00"
    )
    assert match.advisory.severity[0].vector.startswith("CVSS:3.1/")  # kept, unlike pip-audit
    assert match.advisory.fix_versions == ("2.0",)
    assert answer.service == f"{base}/v1/query"


def test_osv_service_errors_are_skips(tmp_path: Path) -> None:
    with serve(OsvApi(RECORDS, status=503)) as base:
        answer = OsvSource(options(tmp_path, f"{base}/v1/query")).check(PINS[:2])
    assert [s.component.name for s in answer.skips] == ["alpha", "beta"]
    assert answer.skips[0].reason.startswith("osv service error: 503 Server Error")


def test_an_unreachable_service_skips_everything_without_waiting_for_each(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1/query"
    answer = OsvSource(options(tmp_path, url)).check(PINS)
    assert [s.component.name for s in answer.skips] == ["alpha", "beta", "gamma"]
    assert all(s.reason.startswith(f"cannot reach osv at {url}: ") for s in answer.skips)
    assert answer.matches == ()


def test_pypi_source_through_a_mirror(tmp_path: Path) -> None:
    api = OsvApi(RECORDS)
    with serve(api) as base:
        answer = PypiSource(options(tmp_path, base)).check(PINS)
    assert sorted((m.component.name, m.advisory.id) for m in answer.matches) == [
        ("alpha", "PYSEC-2026-50")
    ]
    # PyPI answers 404 for a project it does not know: pip-audit's skip, kept as ours
    assert [(s.component.name, s.reason) for s in answer.skips] == [
        ("gamma", "Dependency not found on PyPI and could not be audited: gamma (1.0)")
    ]
    assert answer.matches[0].advisory.severity == ()  # the PyPI API carries none


@pytest.fixture
def scan_cli(invoke: Callable[..., Result], tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        bom = sbom(tmp_path / "bom.json", {"alpha": "1.0", "beta": "1.0"})
        return invoke(
            "scan", "--sbom", str(bom), "--now", NOW, "--cache-dir", str(tmp_path / "c"), *args,
            env={"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""},
        )  # fmt: skip

    return run


def test_cli_osv_against_a_loopback_server(scan_cli: Callable[..., Result]) -> None:
    with serve(OsvApi(RECORDS)) as base:
        result = scan_cli("--vuln-source", "osv", "--service-url", f"{base}/v1/query")
    assert result.exit_code == 1  # critical, published 2026-06-01: overdue by NOW
    data = json.loads(result.stdout)
    assert data["source"] == {"name": "osv", "service": f"{base}/v1/query", "database": None}
    assert [(f["id"], f["status"], f["severity"]["level"]) for f in data["findings"]] == [
        ("PYSEC-2026-50", "overdue", "critical")
    ]


def test_cli_unreachable_service_is_exit_3_listing_the_components(
    scan_cli: Callable[..., Result],
) -> None:
    url = f"http://127.0.0.1:{unused_port()}/v1/query"
    result = scan_cli("--service-url", url)  # osv is the default without --db
    assert result.exit_code == 3
    assert result.stdout == ""
    assert (
        f"attest: error: 2 of 2 components could not be checked, so the scan proves nothing about them: cannot reach osv at {url}: "
        in result.stderr
    )
    assert " (alpha 1.0, beta 1.0). Retry, or pass" in result.stderr  # one reason, listed once
    assert result.stderr.rstrip().endswith(
        "Retry, or pass --allow-skips to accept unchecked components"
    )
    allowed = scan_cli("--service-url", url, "--allow-skips")
    assert allowed.exit_code == 0
    assert json.loads(allowed.stdout)["summary"]["skipped"] == 2
    assert (
        f"attest: warning: 2 components not checked (--allow-skips): cannot reach osv at {url}"
        in allowed.stderr
    )


SECRET_URL = "http://user:SECRETPW@{host}/v1/query;k=SECRETP?token=SECRETQ"


def test_cli_service_credentials_reach_neither_report_nor_predicate_nor_messages(
    scan_cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: `source.service`, the signed predicate's `scanner.db.uri` (recorded in a
    transparency log) and `cannot reach osv at …` carried the URL whole, password and token."""
    api = OsvApi(RECORDS)
    with serve(api) as base:
        host = base.partition("//")[2]
        result = scan_cli("--service-url", SECRET_URL.format(host=host))
    assert api.requests == 2  # the request used the URL given
    (tmp_path / "scan.json").write_text(result.stdout)
    report = read_scan_report(tmp_path / "scan.json")
    predicate = json.dumps(Vulns.of(report).to_json())
    assert report.service == f"http://{host}/v1/query"
    assert f'"uri": "http://{host}/v1/query"' in predicate
    down = scan_cli("--service-url", SECRET_URL.format(host=f"127.0.0.1:{unused_port()}"))
    assert down.exit_code == 3
    assert "cannot reach osv at http://127.0.0.1:" in down.stderr
    bad = scan_cli("--service-url", "ftp://user:SECRETPW@[::1/x?token=SECRETQ")
    assert "--service-url ftp://[::1/x: not an http:// or https:// URL" in bad.stderr
    for said in (result.stdout, result.stderr, predicate, down.stdout, down.stderr, bad.stderr):
        assert "SECRET" not in said


def test_a_service_error_quoting_the_url_is_told_without_its_credentials(tmp_path: Path) -> None:
    """requests' `404 Client Error: … for url: …?token=…` quotes the query it sent."""
    with serve(OsvApi(RECORDS, status=404)) as base:
        url = SECRET_URL.format(host=base.partition("//")[2])
        answer = OsvSource(options(tmp_path, url)).check(PINS[:1])
    ((skip),) = answer.skips
    assert skip.reason.startswith("osv service error: 404 Client Error")
    assert "/v1/query" in skip.reason and "SECRET" not in skip.reason


# Bounded retries (threat D4): transient failures are retried with backoff, then the service is
# reported down once, naming it; other 4xx answers are not retried.

BACKOFF = 0.05  # the tests' backoff: waits of 0.05, 0.1 and 0.2 s between the 4 attempts


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "RETRY", dataclasses.replace(service.RETRY, backoff=BACKOFF))


class Scripted(OsvApi):
    """The loopback OSV / PyPI API answering the n-th request with `script[n]` (the last entry
    for every later one), 200 being a real answer from the records; `Retry-After` if given."""

    def __init__(self, script: list[int], retry_after: str | None = None) -> None:
        super().__init__(RECORDS)
        self.script = script
        self.retry_after = retry_after

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self
        base: Any = super().handler()

        class Handler(base):  # type: ignore[misc,valid-type]
            def do_POST(self) -> None:
                api.status = api.script[min(api.requests, len(api.script) - 1)]
                super().do_POST()

            def do_GET(self) -> None:
                api.status = api.script[min(api.requests, len(api.script) - 1)]
                super().do_GET()

            def end_headers(self) -> None:
                if api.retry_after is not None and api.status != 200:
                    self.send_header("Retry-After", api.retry_after)
                super().end_headers()

        return Handler


def test_osv_503_twice_then_an_answer_is_retried_to_success(tmp_path: Path) -> None:
    api = Scripted([503, 503, 200])
    with serve(api) as base:
        answer = OsvSource(options(tmp_path, f"{base}/v1/query")).check(PINS[:1])
    assert api.requests == 3
    assert answer.skips == ()
    ((match),) = answer.matches
    assert (match.component.name, match.advisory.id) == ("alpha", "PYSEC-2026-50")
    # the advisory is read from the answer that succeeded, not from a 503's body
    assert match.advisory.severity[0].vector.startswith("CVSS:3.1/")


def test_cli_a_service_answering_500_is_retried_a_bounded_number_of_times_then_exit_3(
    scan_cli: Callable[..., Result],
) -> None:
    api = Scripted([500])
    with serve(api) as base:
        start = time.monotonic()
        result = scan_cli("--vuln-source", "osv", "--service-url", f"{base}/v1/query")
        elapsed = time.monotonic() - start
    # alpha: every attempt; beta is then skipped as down without asking again
    assert api.requests == service.RETRY.attempts == 4
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "2 of 2 components could not be checked" in result.stderr
    assert f"osv service error: 500 Server Error: Internal Server Error for url: {base}/v1/query (after 4 attempts) (alpha 1.0, beta 1.0)" in result.stderr  # fmt: skip
    assert 6 * BACKOFF <= elapsed < 10  # backed off 1 + 2 + 4 times BACKOFF, and bounded


def test_a_client_error_is_not_retried(tmp_path: Path) -> None:
    api = Scripted([400, 200])
    with serve(api) as base:
        answer = OsvSource(options(tmp_path, f"{base}/v1/query")).check(PINS[:1])
    assert api.requests == 1
    ((skip),) = answer.skips
    assert skip.reason.startswith("osv service error: 400 Client Error")
    assert "attempts" not in skip.reason


def test_pypi_mirror_retries_through_the_rewrite_adapter(tmp_path: Path) -> None:
    api = Scripted([502, 200])
    with serve(api) as base:
        answer = PypiSource(options(tmp_path, base)).check(PINS[:1])
    assert api.requests == 2
    assert answer.skips == ()
    assert [m.advisory.id for m in answer.matches] == ["PYSEC-2026-50"]


def test_retry_after_is_respected_but_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "RETRY", dataclasses.replace(service.RETRY, cap=0.2))
    api = Scripted([429], retry_after="3600")
    with serve(api) as base:
        start = time.monotonic()
        answer = OsvSource(options(tmp_path, f"{base}/v1/query")).check(PINS)
        elapsed = time.monotonic() - start
    assert api.requests == 4  # the other two components are skipped as down, not asked
    assert 3 * 0.2 <= elapsed < 10  # three capped waits, not an hour
    assert [s.component.name for s in answer.skips] == ["alpha", "beta", "gamma"]
    assert answer.skips[0].reason.startswith("osv service error: 429 Client Error")


def test_an_http_cache_others_can_write_is_refused_before_any_request(tmp_path: Path) -> None:
    """Threat T12 for the services: a planted HTTP cache entry would be a forged answer."""
    (tmp_path / "http").mkdir()
    (tmp_path / "http").chmod(0o777)
    api = OsvApi(RECORDS)
    with serve(api) as base, pytest.raises(InputError) as caught:
        OsvSource(options(tmp_path, f"{base}/v1/query")).check(PINS)
    assert f"{tmp_path / 'http'}: the advisory cache has mode 0777" in str(caught.value)
    assert api.requests == 0


def test_cli_a_service_dripping_its_answer_is_bounded_by_the_timeout(
    scan_cli: Callable[..., Result],
) -> None:
    """requests' timeout is per read: an answer dripping a byte every 0.2 s kept the scan
    waiting past --timeout, without end. Now each attempt takes at most the timeout in all."""
    with dripping() as base:
        start = time.monotonic()
        result = scan_cli("--vuln-source", "osv", "--service-url", f"{base}/v1/query",
                          "--timeout", "0.5")  # fmt: skip
        elapsed = time.monotonic() - start
    assert result.exit_code == 3
    assert "2 of 2 components could not be checked" in result.stderr
    said = "osv service error: did not answer within 0.5 s (after 4 attempts) (alpha 1.0, beta 1.0)"
    assert said in result.stderr
    assert 4 * 0.5 <= elapsed < 4 * 0.5 + 5  # four attempts of 0.5 s and short backoffs


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--service-url", "notaurl"], "--service-url notaurl: not an http:// or https:// URL"),
        (["--service-url", "file:///etc/passwd"], "--service-url file:///etc/passwd: not an"),
        (["--service-url", "http://[::1/v1/query"], "--service-url http://[::1/v1/query: not"),
        (["--service-url", "http://127.0.0.1:port/"], "--service-url http://127.0.0.1:port/: not"),
        (["--timeout", "0"], "--timeout must be above 0 and at most 3600 seconds"),
        (["--timeout", "nan"], "--timeout must be above 0 and at most 3600 seconds"),
    ],
)
def test_cli_a_bad_service_option_is_a_usage_error(
    scan_cli: Callable[..., Result], args: list[str], said: str
) -> None:
    """Before: exit 3, as if the service were down (each query failed on the URL)."""
    result = scan_cli("--vuln-source", "osv", *args)
    assert result.exit_code == 2, result.stderr
    assert f"attest: error: {said}" in result.stderr


def test_cli_a_cache_dir_that_is_a_file_is_a_usage_error(
    scan_cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: exit 3, "cannot create the cache"."""
    (tmp_path / "file").write_text("")
    named = scan_cli("--vuln-source", "osv", "--cache-dir", str(tmp_path / "file"))
    assert named.exit_code == 2
    assert f"invalid value for '--cache-dir': Directory '{tmp_path / 'file'}' is a file" in (
        named.stderr
    )
    under = scan_cli("--vuln-source", "osv", "--cache-dir", str(tmp_path / "file" / "http"))
    assert under.exit_code == 2
    assert f"attest: error: {tmp_path / 'file' / 'http'}: cannot be the cache: Not a directory" in (
        under.stderr
    )
