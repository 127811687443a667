"""`osv` and `pypi`: online sources, through pip-audit's vulnerability services.

pip-audit's service API is private, reached through attest/scan/pip_audit_adapter.py: its
errors become skips, never exceptions and never silence. Where pip-audit's default CLI reports
"No known vulnerabilities found" for a service it could not reach, a component this source
could not check is a `Skip`, which fails the scan unless `--allow-skips`.

Transient failures (refused or dropped connections, timeouts, HTTP 429 and 5xx gateway answers)
are retried RETRIES times with exponential backoff by the session's adapters, so one blip does
not fail a scan; after that the service counts as down for the rest of the run: every remaining
component is skipped with the same reason instead of each one spending its own retries. Other
4xx answers are not retried.

pip-audit drops OSV's `severity`; the OSV source keeps each raw response and reads the records
itself so findings keep their CVSS vectors. The PyPI JSON API carries no severity at all.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
from packaging.version import InvalidVersion, Version
from urllib3.util.retry import Retry

from attest.scan import pip_audit_adapter as pip_audit
from attest.scan.interface import Advisory, Component, Match, Skip, SourceAnswer, VulnSource
from attest.scan.sources.offline import default_cache_dir, private_dir
from verify.osv import records as osv

# pip-audit turns requests' ConnectTimeout into the built-in ConnectionError
_UNREACHABLE = (requests.ConnectionError, requests.Timeout, ConnectionError)

RETRIES = 3  # after the first attempt: at most 4 requests per component
BACKOFF = 0.5  # seconds; urllib3 waits 0, 2 * BACKOFF, 4 * BACKOFF, ... between attempts
BACKOFF_MAX = 2.0  # seconds: the longest wait, also the cap on a server's Retry-After
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Retry(Retry):
    """urllib3's Retry with the server's Retry-After capped at BACKOFF_MAX, on every urllib3 2.x
    (only recent ones have `retry_after_max`): a service asking for an hour gets a few seconds,
    then the scan reports it down."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, BACKOFF_MAX)


def _retrying(session: requests.Session) -> None:
    """Give every adapter mounted on `session` (pip-audit's caching adapters, a `_Rewrite`)
    bounded retries. OSV's query is a POST, and idempotent: POST is retried too. The last
    answer is returned rather than raised once the retries are spent, so pip-audit's
    `raise_for_status` still reports the status the service gave."""
    retry = _Retry(
        total=RETRIES,
        backoff_factor=BACKOFF,
        backoff_max=BACKOFF_MAX,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    for adapter in session.adapters.values():
        if isinstance(adapter, requests.adapters.HTTPAdapter):
            adapter.max_retries = retry


def _retried(error: BaseException) -> bool:
    """Whether `error` is an answer the adapters retry, so their retries are spent."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, requests.HTTPError) and seen.response is not None:
            return seen.response.status_code in RETRY_STATUSES
        seen = seen.__cause__ or seen.__context__
    return False


def _aware(moment: datetime.datetime | None) -> datetime.datetime | None:
    """pip-audit parses RFC 3339 into naive datetimes (in UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=datetime.timezone.utc)


def _from_result(result: pip_audit.Result) -> Advisory:
    """An Advisory from what pip-audit kept of a record (no severity, no modified time)."""
    return Advisory(
        id=result.id,
        aliases=result.aliases,
        summary=result.description,
        published=_aware(result.published),
        modified=None,
        fix_versions=result.fix_versions,
    )


class _ServiceSource(VulnSource):
    """Queries one component at a time; once the service is unreachable, or still failing after
    its retries, the rest are skipped with the same reason instead of each retrying again."""

    url_name = ""

    def _service(self, cache: Path) -> pip_audit.Service:
        raise NotImplementedError

    def _advisories(
        self, component: Component, results: Sequence[pip_audit.Result]
    ) -> list[Advisory]:
        return [_from_result(r) for r in results]

    @property
    def _where(self) -> str:
        return self.options.url or self.url_name

    def check(self, components: Sequence[Component]) -> SourceAnswer:
        cache = self.options.cache_dir or default_cache_dir().parent / "http"
        private_dir(cache)  # a planted HTTP cache entry would be a forged answer
        self.service = self._service(cache)
        matches: list[Match] = []
        skips: list[Skip] = []
        down: str | None = None
        for component in components:
            if down is not None:
                skips.append(Skip(component, down))
                continue
            skip, found, spent = self._one(component)
            if skip is not None:
                skips.append(skip)
                if spent:
                    down = skip.reason
            matches += [Match(component, a) for a in osv.merge_aliases(found)]
        return SourceAnswer(tuple(matches), tuple(skips), service=self._where)

    def _one(self, component: Component) -> tuple[Skip | None, list[Advisory], bool]:
        """A skip or the advisories, and whether the service's retries were spent (it is down)."""
        if component.version is None:
            return Skip(component, "no version given"), [], False
        try:
            version = Version(component.version)
        except InvalidVersion:
            return Skip(component, f"version {component.version!r} is not PEP 440"), [], False
        try:
            answer = self.service.query(component.name, version)
        except _UNREACHABLE as e:
            return Skip(component, f"cannot reach {self.name} at {self._where}: {e}"), [], True
        except (
            pip_audit.ServiceError,
            requests.RequestException,
            ValueError,
            KeyError,
            TypeError,
        ) as e:
            cause = e.__cause__ or e
            reason = f"{self.name} service error: {cause or type(e).__name__}"
            if _retried(e):
                return Skip(component, f"{reason} (after {1 + RETRIES} attempts)"), [], True
            return Skip(component, reason), [], False
        if answer.skip_reason is not None:
            return Skip(component, answer.skip_reason), [], False
        return None, self._advisories(component, answer.results), False


class OsvSource(_ServiceSource):
    """The OSV API (`--service-url`: its /v1/query URL) through pip-audit's OsvService."""

    name = "osv"
    url_name = pip_audit.OSV_URL

    def _service(self, cache: Path) -> pip_audit.Service:
        service = pip_audit.osv(cache, self.options.timeout, self.options.url or self.url_name)
        _retrying(service.session)
        self.recorder = service.record()
        return service

    def _advisories(
        self, component: Component, results: Sequence[pip_audit.Result]
    ) -> list[Advisory]:
        """Our own reading of the raw records pip-audit accepted (it keeps no severity)."""
        raw = self._raw_records()
        found = []
        for result in results:
            # pip-audit renames a result to its preferred id (CVE before GHSA): look up all
            names = [result.id, *result.aliases]
            record = next((raw[n] for n in names if n in raw), None)
            entry = None
            if record is not None:
                try:
                    entry = dict(osv.entries(record)).get(component.name)
                except osv.RecordError:
                    entry = None
            found.append(_from_osv(component.name, entry, result))
        return found

    def _raw_records(self) -> dict[str, Any]:
        response = self.recorder.last
        try:
            vulns = response.json().get("vulns", []) if response is not None else []
        except (ValueError, AttributeError):
            return {}
        return {str(v.get("id")): v for v in vulns if isinstance(v, dict)}


def _from_osv(package: str, entry: osv.Entry | None, result: pip_audit.Result) -> Advisory:
    if entry is None:
        return _from_result(result)
    return osv.advisory(package, entry)


class PypiSource(_ServiceSource):
    """PyPI's JSON API; `url` (`--service-url`) replaces https://pypi.org, for a mirror."""

    name = "pypi"
    url_name = pip_audit.PYPI_URL

    def _service(self, cache: Path) -> pip_audit.Service:
        service = pip_audit.pypi(cache, self.options.timeout, self.options.url)
        _retrying(service.session)
        return service
