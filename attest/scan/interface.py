"""The vulnerability-source extension point: what a source is asked, and what it answers.

A source checks components (name and version) and answers with advisories that affect them,
and with the components it could not check (skips). A skip is data, never an exception: the
stage decides whether skips are allowed. Sources know nothing of severity scoring or SLOs.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from verify.errors import InputError, OperationalError
from verify.osv.records import Advisory as Advisory  # the OSV models live in verify: the
from verify.osv.records import SeverityVector as SeverityVector  # gate reads advisories too
from verify.osv.records import Unreadable as Unreadable


class ScanError(OperationalError):
    """A vulnerability source failed to answer (service, I/O): retrying may help (exit 3)."""


class AdvisoryDataError(InputError):
    """The advisory database the user named is malformed (exit 2): `path` names the record."""


@dataclasses.dataclass(frozen=True, order=True)
class Component:
    """One package to check. `name` is PEP 503 normalized; `version` as declared (None when
    the input does not say, which makes it a skip)."""

    name: str
    version: str | None
    purl: str | None = None


@dataclasses.dataclass(frozen=True)
class Match:
    """An advisory that affects a component."""

    component: Component
    advisory: Advisory


@dataclasses.dataclass(frozen=True)
class Skip:
    """A component that could not be checked, and why."""

    component: Component
    reason: str


@dataclasses.dataclass(frozen=True)
class Database:
    """What an offline source read: recorded in the report so the scan can be audited."""

    location: str
    digest: str  # sha256 of the content the index was built from
    records: int
    # The newest `modified` (or `published`) times, newest first (a few dozen): the stage
    # judges staleness by the newest one not in the future, as some records are misdated.
    latest: tuple[datetime.datetime, ...] = ()

    def newest(self, now: datetime.datetime) -> datetime.datetime | None:
        return next((t for t in self.latest if t <= now), None)

    def future(self, now: datetime.datetime) -> tuple[datetime.datetime, ...]:
        return tuple(t for t in self.latest if t > now)


@dataclasses.dataclass(frozen=True)
class SourceAnswer:
    matches: tuple[Match, ...]
    skips: tuple[Skip, ...]
    database: Database | None = None
    service: str | None = None  # the online service's URL
    notes: tuple[str, ...] = ()  # warnings for people
    # Advisory data of the components' packages that could not be read, judged on the safe side
    unreadable: tuple[Unreadable, ...] = ()


@dataclasses.dataclass(frozen=True)
class SourceOptions:
    """Everything a source may need; each source uses what applies to it."""

    db: Path | None = None  # offline database
    cache_dir: Path | None = None  # index cache (offline), HTTP cache (online)
    url: str | None = None  # online service base URL
    timeout: float = 15.0


class VulnSource(abc.ABC):
    """Checks components for known vulnerabilities. Registered in `attest.vuln_sources`.

    Raise `ScanError` (exit 3) when the source as a whole cannot work, `AdvisoryDataError`
    (exit 2) when data the user named is malformed; report per-component trouble as `Skip`s.
    """

    name: ClassVar[str]

    def __init__(self, options: SourceOptions) -> None:
        self.options = options

    @abc.abstractmethod
    def check(self, components: Sequence[Component]) -> SourceAnswer:
        """Every advisory affecting each component, and every component not checked."""
