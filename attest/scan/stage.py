"""The scan stage as a library function: read components, ask a vulnerability source, score
severities, keep the first-seen ledger, and judge every finding with `verify.slo.evaluate` (the
same pure function the deploy gate runs)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import gc
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from packageurl import PackageURL
from packaging.version import InvalidVersion, Version

from attest import plugins
from attest.output import write_atomic
from attest.sbom.interface import (
    EXCERPT,
    ReadOptions,
    SourceKind,
    excerpt,
    normalize,
    read_text,
    read_toml,
)
from attest.scan.interface import (
    Advisory,
    Component,
    ScanError,
    Skip,
    SourceAnswer,
    SourceOptions,
)
from verify import logs
from verify.errors import InputError, PolicyRefusal, UsageError
from verify.formats import cyclonedx, strict_json
from verify.formats.cyclonedx import BomComponent
from verify.formats.slo_status import slo_finding
from verify.osv.severity import Severity, severity_of
from verify.slo import (
    Evaluation,
    Policy,
    SloFinding,
    Waiver,
    WaiverKey,
    evaluate,
    parse_policy,
    parse_waivers,
    waiver_key,
    with_waivers,
)

InputKind = Literal["sbom", "environment", "requirements", "lock"]
LEDGER_FORMAT = "attest-first-seen/1"
_log = logs.get(__name__)


@dataclasses.dataclass(frozen=True)
class ScanRequest:
    kind: InputKind
    target: Path  # the SBOM, interpreter or venv, requirements file or lock file
    source: str  # a plugin in attest.vuln_sources
    options: SourceOptions
    policy: Policy
    now: datetime.datetime  # timezone-aware; injected, never read from the clock here
    allow_stale_db: bool = False
    ledger: Path | None = None
    reading: ReadOptions = dataclasses.field(default_factory=ReadOptions)  # requirements, locks


@dataclasses.dataclass(frozen=True)
class Finding:
    component: Component
    advisory: Advisory
    severity: Severity
    first_seen: datetime.datetime | None

    def for_slo(self) -> SloFinding:
        version, level = self.component.version or "", self.severity.level
        return slo_finding(self.component.name, version, self.advisory, level, self.first_seen)


@dataclasses.dataclass(frozen=True)
class ScanResult:
    request: ScanRequest
    input_description: str
    components: tuple[Component, ...]
    findings: tuple[Finding, ...]
    evaluation: Evaluation  # results in the order of `findings`
    answer: SourceAnswer
    warnings: tuple[str, ...]

    @property
    def skips(self) -> tuple[Skip, ...]:
        return self.answer.skips


# -- inputs -------------------------------------------------------------------------------------


def _sbom_component(item: BomComponent, path: Path, notes: list[str]) -> Component | None:
    if item.purl:
        try:
            purl = PackageURL.from_string(item.purl)
        except ValueError as e:  # its message quotes the whole purl: said here in short
            raise InputError(path, f"component purl {excerpt(item.purl)} is malformed") from e
        if purl.type != "pypi":
            notes.append(f"{excerpt(item.purl)}: not a PyPI package; not scanned")
            return None
        # the reader's identity, which its purl agrees with (the gate reads the same one)
        name = item.name or purl.name
        return Component(normalize(name), item.version or None, item.purl)
    if not item.name:
        raise InputError(path, "a component has neither a purl nor a name")
    return Component(normalize(item.name), item.version or None)


def read_sbom(path: Path) -> tuple[list[Component], list[str]]:
    """The components a CycloneDX JSON SBOM declares (nested ones included; the root
    component in `metadata` is the project itself and is not scanned)."""
    try:
        data = strict_json.loads(read_text(path))
    except strict_json.TooDeep as e:
        raise InputError(path, "not valid JSON: arrays or objects nested too deeply") from e
    except strict_json.NotJson as e:  # a repeated key, a long integer too
        raise InputError(path, f"not valid JSON (CycloneDX JSON expected): {e}") from e
    try:
        declared = cyclonedx.components(cyclonedx.document(data))
    except cyclonedx.MalformedBom as e:
        raise InputError(path, str(e)) from e
    notes: list[str] = []
    found = [c for item in declared if (c := _sbom_component(item, path, notes)) is not None]
    return found, notes


def read_components(
    kind: InputKind, target: Path, reading: ReadOptions | None = None
) -> tuple[list[Component], str, list[str]]:
    """Components to scan, a description of where they came from, and warnings."""
    if kind == "sbom":
        components, notes = read_sbom(target)
        return components, f"SBOM {target}", notes
    # Imported here: the SBOM stage loads the CycloneDX library, which an SBOM input never needs.
    from attest.sbom.stage import select_source

    source_kind: SourceKind = kind
    inventory = select_source(source_kind, target, options=reading).read()
    components = [
        Component(p.key, p.version, f"pkg:pypi/{p.key}@{p.version}" if p.version else None)
        for p in inventory.packages
    ]
    return components, inventory.description, list(inventory.warnings)


# -- policy, waivers, ledger ---------------------------------------------------------------------


def _read_document(path: Path) -> object:
    """A YAML, TOML or JSON configuration file (by suffix)."""
    if path.suffix == ".toml":
        table = read_toml(path)
        data: object = table
        if path.name == "pyproject.toml":
            tool = table.get("tool", {})
            attest = tool.get("attest", {}) if isinstance(tool, dict) else {}
            if not isinstance(attest, dict) or "slo" not in attest:
                raise InputError(path, "no [tool.attest.slo] table")
            data = attest["slo"]
        return data
    text = read_text(path)
    # Imported here: PyYAML is a tenth of the start-up of a scan with no YAML policy.
    import yaml

    from verify import untrusted_yaml

    parsers: dict[str, tuple[Callable[[str], object], type[Exception], str]] = {
        ".json": (strict_json.loads, strict_json.NotJson, "JSON"),  # a repeated key too
        ".yaml": (untrusted_yaml.load, yaml.YAMLError, "YAML"),
        ".yml": (untrusted_yaml.load, yaml.YAMLError, "YAML"),
    }
    if path.suffix not in parsers:
        raise InputError(path, "unknown policy file type: expected .yaml, .yml, .toml or .json")
    parse, error, language = parsers[path.suffix]
    try:
        return parse(text)
    except strict_json.TooDeep as e:
        raise InputError(path, "nested too deeply") from e
    except error as e:
        raise InputError(path, f"not valid {language}: {e}") from e
    except RecursionError as e:
        raise InputError(path, "nested too deeply") from e


def load_policy(
    path: Path | None, waiver_files: Sequence[Path] = (), project_dir: Path | None = None
) -> Policy:
    """The policy from `path`, else from `[tool.attest.slo]` of the project's pyproject.toml
    when it has one, else the defaults; plus the waivers of each waiver file."""
    if path is not None:
        policy = parse_policy(_read_document(path), str(path))
    else:
        pyproject = (project_dir or Path()) / "pyproject.toml"
        table = read_toml(pyproject) if pyproject.is_file() else {}
        tool = table.get("tool", {})
        attest = tool.get("attest", {}) if isinstance(tool, dict) else {}
        if isinstance(attest, dict) and "slo" in attest:
            policy = parse_policy(attest["slo"], f"{pyproject} [tool.attest.slo]")
        else:
            policy = Policy()
    extra: list[Waiver] = []
    for waiver_file in waiver_files:
        extra += parse_waivers(_read_document(waiver_file), str(waiver_file))
    return with_waivers(policy, tuple(extra))


def _ledger_key(package: str, ident: str) -> str:
    return f"{package} {ident}"


@dataclasses.dataclass
class Ledger:
    """What this project's scans saw first, and when (UTC, ISO text): findings by
    `"<package> <id>"`, and waivers without `granted` by `"<ID> <package or *>"` (their
    `max_waiver_span` runs from the first scan that recorded them)."""

    first_seen: dict[str, str] = dataclasses.field(default_factory=dict)
    waivers: dict[str, str] = dataclasses.field(default_factory=dict)


def _timestamps(data: dict[str, Any], key: str, path: Path) -> dict[str, str]:
    found = data.get(key, {})
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise InputError(path, f"{key}: expected an object of timestamps")
    return {str(k): str(v) for k, v in found.items()}


def read_ledger(path: Path) -> Ledger:
    """The ledger at `path`; a missing file is an empty ledger (first run)."""
    if not path.exists():
        return Ledger()
    try:
        data = strict_json.loads(read_text(path))
    except strict_json.NotJson as e:
        raise InputError(path, f"ledger is not valid JSON: {e}") from e
    if not isinstance(data, dict) or data.get("format") != LEDGER_FORMAT:
        raise InputError(path, f'not a first-seen ledger (expected "format": "{LEDGER_FORMAT}")')
    if not isinstance(data.get("first_seen"), dict):
        raise InputError(path, "first_seen: expected an object of timestamps")
    return Ledger(_timestamps(data, "first_seen", path), _timestamps(data, "waivers", path))


def _recorded(text: str, now: datetime.datetime, path: Path, what: str) -> datetime.datetime:
    """A ledger time, which must not be after `now`: what a later scan recorded did not exist
    yet at this scan's instant (re-running an old scan needs the ledger of its day)."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise InputError(path, f"{what}: bad timestamp {excerpt(text)}") from e
    if moment.tzinfo is None:
        raise InputError(path, f"{what}: timestamp {excerpt(text)} has no time zone")
    try:
        moment = moment.astimezone(datetime.timezone.utc)
    except OverflowError as e:  # 0001-01-01T00:00:00+01:00 is before the calendar starts
        raise InputError(path, f"{what}: timestamp {excerpt(text)} is outside the calendar") from e
    if moment > now:
        raise InputError(
            path,
            f"{what}: first seen {text}, after this scan's instant {_iso(now)}: the ledger is "
            "from a later scan; use the ledger as it was then",
        )
    return moment


def _first_seen(
    ledger: Ledger, package: str, advisory: Advisory, now: datetime.datetime, path: Path
) -> datetime.datetime:
    """When this project first saw the vulnerability (under its id or any alias); records now
    when never seen. Keyed by package, not version: an upgrade to another affected version does
    not restart the clock."""
    for ident in (advisory.id, *advisory.aliases):
        text = ledger.first_seen.get(_ledger_key(package, ident))
        if text is not None:
            return _recorded(text, now, path, f"{package} {ident}")
    ledger.first_seen[_ledger_key(package, advisory.id)] = _iso(now)
    return now


def _waivers_recorded(
    ledger: Ledger, waivers: Sequence[Waiver], now: datetime.datetime, path: Path
) -> dict[WaiverKey, datetime.date]:
    """When each waiver without `granted` was first recorded; records now when never."""
    recorded: dict[WaiverKey, datetime.date] = {}
    for waiver in waivers:
        if waiver.granted is not None:
            continue
        key = waiver_key(waiver)
        text = ledger.waivers.setdefault(f"{key[0]} {key[1] or '*'}", _iso(now))
        recorded[key] = _recorded(text, now, path, f"waiver {waiver.id}").date()
    return recorded


def write_ledger(path: Path, ledger: Ledger) -> None:
    body = {
        "format": LEDGER_FORMAT,
        "first_seen": dict(sorted(ledger.first_seen.items())),
        "waivers": dict(sorted(ledger.waivers.items())),
    }
    write_atomic(path, (json.dumps(body, indent=2) + "\n").encode())


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


# -- the stage ------------------------------------------------------------------------------------


class StaleDatabase(UsageError):
    """The offline database is older than the policy's `max_db_age`."""


def check_staleness(answer: SourceAnswer, request: ScanRequest, warnings: list[str]) -> None:
    """An offline database whose newest record is older than max_db_age is refused unless the
    user opts in. Records dated after `now` are misdated (the PyPA data has some): they are
    reported and do not count, or one such record would disarm the guard for good."""
    database = answer.database
    if database is None:
        return
    future = database.future(request.now)
    for moment in future:
        warnings.append(f"advisory database has a record modified {_iso(moment)}, after --now")
    limit = datetime.timedelta(days=request.policy.max_db_age)
    newest = database.newest(request.now)
    if newest is not None and request.now - newest <= limit:
        return
    age = "has no dated record" if newest is None else f"is {(request.now - newest).days} days old"
    message = (
        f"advisory database {database.location} {age} (newest record "
        f"{_iso(newest) if newest else 'unknown'}; max_db_age is {request.policy.max_db_age} "
        "days"
        + (f"; {len(future)} records dated after --now not counted" if future else "")
        + "): update it"
    )
    if not request.allow_stale_db:
        raise StaleDatabase(f"{message}, or accept the risk with --allow-stale-db")
    warnings.append(f"{message}; scanning anyway (--allow-stale-db)")


def _dedupe(components: list[Component]) -> tuple[Component, ...]:
    return tuple(sorted(set(components), key=lambda c: (c.name, c.version or "", c.purl or "")))


def _check_versions(components: Sequence[Component], target: Path) -> None:
    """A version holding a number of more than 4,300 digits is PEP 440 in form, but Python will
    not read the number, so it cannot be compared: bad input (exit 2), never a crash in a
    source. A version that is not PEP 440 at all is the source's to skip."""
    for component in components:
        try:
            Version(component.version or "0")
        except InvalidVersion:
            continue
        except ValueError as e:  # the integer-string limit
            raise InputError(
                target,
                f"{excerpt(component.name)} version {excerpt(component.version or '')} holds a "
                "number of more than 4,300 digits: it cannot be compared with advisories",
            ) from e


@contextlib.contextmanager
def uncollected() -> Iterator[None]:
    """No cyclic garbage collection inside: reading the advisories and building the report
    allocate hundreds of thousands of objects, none in a cycle, and each full collection
    walks them all again (a tenth of a warm scan's time). The caller's setting is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@logs.timed(_log, "scan")
@uncollected()
def scan(request: ScanRequest) -> ScanResult:
    """Scan and judge. Skips and overdue findings are data here: `enforce` turns them into
    exits, after the caller has written the report."""
    if request.now.tzinfo is None:
        raise UsageError("the scan time must carry a timezone (e.g. 2026-07-24T00:00:00Z)")
    if request.policy.clock == "first-seen" and request.ledger is None:
        raise UsageError('the policy\'s clock is "first-seen": give the ledger file with --ledger')
    found, description, notes = read_components(request.kind, request.target, request.reading)
    components = _dedupe(found)
    _check_versions(components, request.target)
    _log.info("scan: checking %d components with %s", len(components), request.source)
    source = plugins.vuln_sources().load(request.source)(request.options)
    answer = source.check(components)
    _log.info("scan: %d matches, %d components skipped", len(answer.matches), len(answer.skips))
    warnings = [*notes, *answer.notes]
    check_staleness(answer, request, warnings)
    ledger = read_ledger(request.ledger) if request.ledger is not None else Ledger()
    findings = []
    for match in sorted(answer.matches, key=lambda m: (m.component, m.advisory.id)):
        name, version = match.component.name, match.component.version or ""
        _log.debug("scan: %s %s: %s", excerpt(name), excerpt(version), excerpt(match.advisory.id))
        first_seen = (
            _first_seen(ledger, match.component.name, match.advisory, request.now, request.ledger)
            if request.ledger is not None
            else None
        )
        findings.append(
            Finding(
                match.component, match.advisory, severity_of(match.advisory, warnings), first_seen
            )
        )
    recorded = (
        _waivers_recorded(ledger, request.policy.waivers, request.now, request.ledger)
        if request.ledger is not None
        else None
    )
    _log.info("scan: judging %d findings against the SLO policy", len(findings))
    evaluation = evaluate([f.for_slo() for f in findings], request.policy, request.now, recorded)
    if request.ledger is not None:
        write_ledger(request.ledger, ledger)
    return ScanResult(
        request, description, components, tuple(findings), evaluation, answer, tuple(warnings)
    )


def cut(text: str) -> str:
    """A component's version as a message line shows it: at most EXCERPT characters (it may
    hold thousands of digits; the report carries it whole)."""
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def check_skips(result: ScanResult, allow_skips: bool) -> list[str]:
    """Never a silent skip: unchecked components fail the scan (exit 3) unless allowed, and are
    then still listed as warnings."""
    if not result.skips:
        return []
    by_reason: dict[str, list[str]] = {}
    for skip in result.skips:
        by_reason.setdefault(skip.reason, []).append(
            f"{skip.component.name} {cut(skip.component.version or '?')}"
        )
    listing = "; ".join(f"{reason} ({', '.join(names)})" for reason, names in by_reason.items())
    count = len(result.skips)
    if not allow_skips:
        raise ScanError(
            f"{count} of {len(result.components)} components could not be checked, so the scan "
            f"proves nothing about them: {listing}. Retry, or pass --allow-skips to accept "
            "unchecked components"
        )
    return [f"{count} components not checked (--allow-skips): {listing}"]


_OVERDUE_NAMED = 10  # overdue findings the error line names


def enforce_slo(result: ScanResult) -> None:
    """Exit 1 when any finding is overdue and not waived."""
    overdue = [r for r in result.evaluation.results if r.status == "overdue"]
    if overdue:
        names = ", ".join(
            f"{r.finding.package} {cut(r.finding.version)} {r.finding.id} "
            f"({-(r.days_left or 0)} days late)"
            for r in overdue[:_OVERDUE_NAMED]
        )
        if len(overdue) > _OVERDUE_NAMED:  # one line a person reads; the report has them all
            names += f", and {len(overdue) - _OVERDUE_NAMED} more (see the report)"
        raise PolicyRefusal(f"{len(overdue)} findings overdue under the SLO policy: {names}")
