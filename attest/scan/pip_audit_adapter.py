"""The one door to pip-audit's private service API (`pip_audit._service`): its OSV and PyPI
clients, as the `osv` and `pypi` vulnerability sources query them, one component at a time.

Written for pip-audit >=2.10,<2.11 (pyproject.toml pins that range; requirements/*.lock hold
2.10.1). INTERNALS lists every upstream name used here; tests/test_upstream_adapters.py
resolves each, so an upgrade that moves one fails naming it."""

from __future__ import annotations

import dataclasses
import datetime
import threading
from pathlib import Path
from typing import Any

import requests
from packaging.version import Version
from pip_audit._service import (  # type: ignore[import-untyped]
    OsvService,
    PyPIService,
    ResolvedDependency,
    ServiceError,
)

from verify.upstream import Internal

__all__ = ["INTERNALS", "OSV_URL", "PYPI_URL", "Answer", "Result", "Service", "ServiceError"]


_SERVICE = "pip_audit._service"
INTERNALS: tuple[Internal, ...] = (
    Internal(_SERVICE, "OsvService", "the OSV client", ("cache_dir", "timeout", "osv_url")),
    Internal(_SERVICE, "OsvService", "its HTTP session", instance="session"),
    Internal(_SERVICE, "OsvService.DEFAULT_OSV_URL", "OSV's query URL"),
    Internal(_SERVICE, "OsvService.query", "one component's advisories", ("self", "spec")),
    Internal(_SERVICE, "PyPIService", "the PyPI client", ("cache_dir", "timeout")),
    Internal(_SERVICE, "PyPIService", "its HTTP session", instance="session"),
    Internal(_SERVICE, "PyPIService.query", "one component's advisories", ("self", "spec")),
    Internal(_SERVICE, "ResolvedDependency", "a component to query", ("name", "version")),
    Internal(_SERVICE, "Dependency.is_skipped", "whether pip-audit skipped it", ("self",)),
    Internal(_SERVICE, "SkippedDependency", "why it skipped one", ("name", "skip_reason")),
    Internal(_SERVICE, "ServiceError", "a service's failure"),
    Internal(
        _SERVICE,
        "VulnerabilityResult",
        "an advisory, as pip-audit keeps it",
        ("id", "description", "fix_versions", "aliases", "published"),
    ),
)

OSV_URL: str = OsvService.DEFAULT_OSV_URL
PYPI_URL = "https://pypi.org"  # PyPIService has this host written in


@dataclasses.dataclass(frozen=True)
class Result:
    """What pip-audit kept of an advisory (no severity, no modified time)."""

    id: str  # pip-audit's preferred id (a CVE before a GHSA)
    aliases: tuple[str, ...]  # sorted
    description: str
    published: datetime.datetime | None  # as pip-audit parses RFC 3339: naive means UTC
    fix_versions: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Answer:
    """The service's answer for one component: why it was skipped, or its advisories."""

    skip_reason: str | None
    results: tuple[Result, ...]


class Recorder:
    """Stands in for the service's HTTP session and keeps the last response each thread
    received (pip-audit calls its session's `post` and `get` with keyword arguments only): a
    query abandoned past its deadline may still receive its answer, on its own thread."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._local = threading.local()

    @property
    def last(self) -> requests.Response | None:
        last: requests.Response | None = getattr(self._local, "last", None)
        return last

    def post(self, **kwargs: Any) -> requests.Response:
        answer: requests.Response = self._session.post(**kwargs)
        self._local.last = answer
        return answer

    def get(self, **kwargs: Any) -> requests.Response:
        answer: requests.Response = self._session.get(**kwargs)
        self._local.last = answer
        return answer


class _Rewrite(requests.adapters.HTTPAdapter):
    """Sends requests for pypi.org to another base URL (a mirror, or a test server): pip-audit's
    PyPI service has the host written in."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = base.rstrip("/") + "/"

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url is not None:
            request.url = self._base + request.url.removeprefix(f"{PYPI_URL}/")
        return super().send(request, **kwargs)


class Service:
    """One pip-audit vulnerability service."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def session(self) -> requests.Session:
        """pip-audit's HTTP session (its caching adapters are mounted on it)."""
        session: requests.Session = self._inner.session
        return session

    def record(self) -> Recorder:
        """From now on, keep the last response the service received."""
        recorder = Recorder(self._inner.session)
        self._inner.session = recorder
        return recorder

    def query(self, name: str, version: Version) -> Answer:
        """Raises ServiceError, requests' errors (and whatever a bad answer makes pip-audit
        raise) when the service fails."""
        spec, results = self._inner.query(ResolvedDependency(name=name, version=version))
        if spec.is_skipped():
            return Answer(str(spec.skip_reason), ())
        return Answer(None, tuple(_result(r) for r in results))


def _result(result: Any) -> Result:
    return Result(
        id=str(result.id),
        aliases=tuple(sorted(str(a) for a in result.aliases)),
        description=str(result.description),
        published=result.published,
        fix_versions=tuple(str(v) for v in result.fix_versions),
    )


def osv(cache: Path, timeout: float, url: str) -> Service:
    """OSV's API at `url` (its /v1/query URL)."""
    return Service(OsvService(cache_dir=cache, timeout=timeout, osv_url=url))


def pypi(cache: Path, timeout: float, base: str | None) -> Service:
    """PyPI's JSON API, at `base` instead of https://pypi.org when given (a mirror)."""
    service = PyPIService(cache_dir=cache, timeout=timeout)
    if base:
        service.session.mount(f"{PYPI_URL}/", _Rewrite(base))
    return Service(service)
