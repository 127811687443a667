"""`osv` and `pypi`: online sources, through pip-audit's vulnerability services.

pip-audit's service API is private, reached through attest/scan/pip_audit_adapter.py: its
errors become skips, never exceptions and never silence. Where pip-audit's default CLI reports
"No known vulnerabilities found" for a service it could not reach, a component this source
could not check is a `Skip`, which fails the scan unless `--allow-skips`.

Transient failures (refused or dropped connections, timeouts, HTTP 429 and 5xx answers) are
retried as `attest.retry` says, so one blip does not fail a scan; after that the service counts
as down for the rest of the run: every remaining component is skipped with the same reason
instead of each one spending its own retries. Other 4xx answers are not retried.

pip-audit drops OSV's `severity`; the OSV source keeps each raw response and reads the records
itself so findings keep their CVSS vectors. The PyPI JSON API carries no severity at all.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import requests
from packaging.version import InvalidVersion, Version

from attest import retry
from attest.scan import pip_audit_adapter as pip_audit
from attest.scan.interface import Advisory, Component, Match, Skip, SourceAnswer, VulnSource
from attest.scan.sources.offline import default_cache_dir, private_dir
from attest.urls import redacted, without_credentials
from verify.osv import records as osv

# pip-audit turns requests' ConnectTimeout into the built-in ConnectionError
_UNREACHABLE = (requests.ConnectionError, requests.Timeout, ConnectionError)

# one more attempt than the other network calls: a scan asks once per component, and the first
# component whose attempts are spent marks the service down for all the others
RETRY = dataclasses.replace(retry.NETWORK, attempts=4)
# what a query may raise: pip-audit's errors, and those of an answer of the wrong shape
_FAILURES: tuple[type[Exception], ...] = (
    pip_audit.ServiceError,
    requests.RequestException,
    ConnectionError,
    ValueError,
    KeyError,
    TypeError,
)


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

    def _query(self, name: str, version: Version) -> tuple[pip_audit.Answer, dict[str, Any]]:
        """One attempt: the answer, and the raw records of the response it came from."""
        return self.service.query(name, version), {}

    def _advisories(
        self, component: Component, results: Sequence[pip_audit.Result], raw: dict[str, Any]
    ) -> list[Advisory]:
        return [_from_result(r) for r in results]

    @property
    def _where(self) -> str:
        """The service as the report, the signed predicate and messages name it: without
        userinfo or query (a token there would reach a transparency log); queries use it whole."""
        return without_credentials(self.options.url or self.url_name)

    def _said(self, error: object) -> str:
        return redacted(str(error), self.options.url or self.url_name)

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
        # each attempt bounded by the timeout in all, not only per read (a service may drip)
        policy = dataclasses.replace(RETRY, deadline=self.options.timeout)
        try:
            answer, raw = retry.call(
                partial(self._query, component.name, version), policy, _FAILURES
            )
        except retry.GaveUp as gave_up:
            return self._skip(component, gave_up)
        if answer.skip_reason is not None:
            return Skip(component, self._said(answer.skip_reason)), [], False
        return None, self._advisories(component, answer.results, raw), False

    def _skip(
        self, component: Component, gave_up: retry.GaveUp
    ) -> tuple[Skip, list[Advisory], bool]:
        """The skip for a query that failed for good; the service is down when it was
        unreachable or its attempts were spent."""
        e = gave_up.error
        if isinstance(e, _UNREACHABLE):
            reason = f"cannot reach {self.name} at {self._where}: {self._said(e)}"
            return Skip(component, reason), [], True
        reason = f"{self.name} service error: {self._said(e.__cause__ or e or type(e).__name__)}"
        if gave_up.spent:
            return Skip(component, f"{reason} (after {gave_up.attempts} attempts)"), [], True
        return Skip(component, reason), [], False


class OsvSource(_ServiceSource):
    """The OSV API (`--service-url`: its /v1/query URL) through pip-audit's OsvService."""

    name = "osv"
    url_name = pip_audit.OSV_URL

    def _service(self, cache: Path) -> pip_audit.Service:
        service = pip_audit.osv(cache, self.options.timeout, self.options.url or self.url_name)
        self.recorder = service.record()
        return service

    def _query(self, name: str, version: Version) -> tuple[pip_audit.Answer, dict[str, Any]]:
        """The raw records read on the attempt's own thread (see pip_audit.Recorder)."""
        return self.service.query(name, version), self._raw_records()

    def _advisories(
        self, component: Component, results: Sequence[pip_audit.Result], raw: dict[str, Any]
    ) -> list[Advisory]:
        """Our own reading of the raw records pip-audit accepted (it keeps no severity)."""
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
        return pip_audit.pypi(cache, self.options.timeout, self.options.url)
