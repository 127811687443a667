"""`attest scan`: the click layer of the scan stage (parse, call, render, enforce)."""

from __future__ import annotations

import datetime
import os
import urllib.parse
from pathlib import Path

import click

from attest.output import emit
from attest.sbom.interface import ReadOptions
from attest.sbom.options import LOCK, one_input, reading_options
from attest.scan.interface import SourceOptions
from attest.scan.report import Format, markdown, render, workflow_commands
from attest.scan.stage import (
    InputKind,
    ScanRequest,
    ScanResult,
    check_skips,
    cut,
    enforce_slo,
    load_policy,
)
from attest.scan.stage import scan as run_scan
from attest.urls import without_credentials
from verify import instant
from verify.dash import READ, WRITE, is_dash, not_dash
from verify.errors import OperationalError, UsageError
from verify.slo import SloResult
from verify.text import examples, excerpt, shown

_PATH = click.Path(path_type=Path)
_BY_SUFFIX = not_dash("its format is known by its suffix (.yaml, .toml, .json)")
MAX_TIMEOUT = 3600.0  # seconds: a bound per attempt, never none


def _input(
    sbom: Path | None, python: Path | None, requirements: Path | None, lock: Path | None
) -> tuple[InputKind, Path]:
    options: list[tuple[str, InputKind, Path | None]] = [
        ("--sbom", "sbom", sbom),
        ("--python", "environment", python),
        ("--requirements", "requirements", requirements),
        ("--lock", "lock", lock),
    ]
    return one_input(options, "environment")


def evaluation_of(result: ScanResult, status: str) -> list[SloResult]:
    return [r for r in result.evaluation.results if r.status == status]


def _day(moment: datetime.datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "never"


def _github(result: ScanResult) -> None:
    """Under GitHub Actions: annotations (stderr: stdout carries the report) and the Markdown
    summary appended to the step summary."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in workflow_commands(result):
            click.echo(shown(line), err=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(markdown(result))
        except OSError as e:
            raise OperationalError(f"cannot append to $GITHUB_STEP_SUMMARY {summary}: {e}") from e


@click.command(
    "scan",
    epilog=examples(
        "attest scan --format markdown",
        "attest scan --sbom sbom.cdx.json --db advisories/ --output scan.json",
        "attest scan --lock uv.lock --waivers waivers.yaml --format sarif -o scan.sarif",
    ),
)
@click.option(
    "--sbom", type=READ, help="Scan the components a CycloneDX JSON SBOM declares (- : stdin)."
)
@click.option(
    "--python", "python", type=_PATH, help="Scan another interpreter or venv (it is run: trust it)."
)
@click.option("--requirements", type=READ, help="Scan a pip requirements file (- : stdin).")
@click.option("--lock", type=LOCK, help="Scan a lock file (uv.lock, pylock.toml, poetry.lock).")
@reading_options
@click.option(
    "--vuln-source",
    "source",
    help="Vulnerability source plugin: offline, osv, pypi (default: offline with --db, else osv).",
)
@click.option(
    "--db", type=_PATH, help="Offline OSV database: PyPA layout, OSV JSON dir, zip, tar.gz."
)
@click.option("--service-url", help="Base URL of the online service (OSV: its /v1/query URL).")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the offline index (and HTTP cache) is kept.",
)
@click.option(
    "--policy", type=_BY_SUFFIX, help="SLO policy file (YAML, TOML, JSON, or a pyproject.toml)."
)
@click.option(
    "--waivers", type=_BY_SUFFIX, multiple=True, help="Waiver file (YAML, TOML, JSON); repeatable."
)
@click.option(
    "--ledger",
    type=not_dash("the ledger is read and then rewritten in place"),
    help="First-seen ledger (JSON), read and updated.",
)
@click.option("--now", "now_text", help="The time to judge at (RFC 3339 or a date); default: now.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "markdown", "sarif", "vex"]), default=None
)
@click.option("--output", "-o", type=WRITE, help="Write here (atomically) instead of stdout.")
@click.option("--allow-skips", is_flag=True, help="Accept components that could not be checked.")
@click.option("--allow-stale-db", is_flag=True, help="Accept an offline database past max_db_age.")
@click.option(
    "--timeout",
    type=float,
    default=15.0,
    show_default=True,
    help="Online request timeout, seconds.",
)
def scan(
    sbom: Path | None,
    python: Path | None,
    requirements: Path | None,
    lock: Path | None,
    python_version: str | None,
    allow_includes_outside: bool,
    source: str | None,
    db: Path | None,
    service_url: str | None,
    cache_dir: Path | None,
    policy: Path | None,
    waivers: tuple[Path, ...],
    ledger: Path | None,
    now_text: str | None,
    as_json: bool,
    fmt: str | None,
    output: Path | None,
    allow_skips: bool,
    allow_stale_db: bool,
    timeout: float,
) -> None:
    """Scan components for known vulnerabilities and judge each against fix-time SLOs.

    Exit 1 when a finding is overdue and not waived; 3 when a component could not be checked
    (unless --allow-skips); 2 for a bad option, policy, waiver, SBOM or database.
    """
    chosen = _chosen_format(as_json, fmt)
    now = instant.given(now_text, assume_utc=True)  # a bad option before any reading is said
    kind, target = _input(sbom, python, requirements, lock)
    request = ScanRequest(
        kind=kind,
        target=target,
        source=_source_name(source, db),
        options=SourceOptions(
            db=db, cache_dir=cache_dir, url=_service_url(service_url), timeout=_timeout(timeout)
        ),
        policy=load_policy(policy, waivers),
        now=now,
        allow_stale_db=allow_stale_db,
        ledger=ledger,
        reading=ReadOptions.for_input(kind, python_version, allow_includes_outside),
    )
    result = scan_and_warn(request, allow_skips)
    emit(render(result, chosen), output)
    _github(result)
    _say(summary(result, output))
    enforce_slo(result)


def _say(line: str) -> None:
    """A line for people (stderr: stdout carries the report), its input escaped."""
    click.echo(shown(line), err=True)


def _chosen_format(as_json: bool, fmt: str | None) -> Format:
    if as_json and fmt not in (None, "json"):
        raise UsageError("--json and --format are exclusive")
    return "json" if fmt is None else fmt  # type: ignore[return-value]


def _source_name(source: str | None, db: Path | None) -> str:
    """The vulnerability source: the one named, else offline with --db, else OSV."""
    name = source or ("offline" if db is not None else "osv")
    if db is not None and name in ("osv", "pypi"):
        raise UsageError(f"--db is for the offline source, not {name!r}")
    return name


def _service_url(url: str | None) -> str | None:
    """An http(s) URL with a host, or a usage error: anything else fails every query, which
    would read as a service that is down (exit 3) when the command line is wrong."""
    if url is None:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # an unclosed [ of an IPv6 host, a port that is not a number
        usable = False
    if not usable:
        raise UsageError(
            f"--service-url {excerpt(_public(url))}: not an http:// or https:// URL with a host"
        )
    return url


def _public(url: str) -> str:
    """The URL without userinfo and query, as a message shows it (the command line may hold a
    token), also when it cannot be split (an unclosed `[`): cut by hand then."""
    try:
        return without_credentials(url)
    except ValueError:
        scheme, slashes, rest = url.partition("//")
        host, slash, path = rest.partition("/")
        rest = host.rpartition("@")[2] + slash + path
        return scheme + slashes + rest.partition("?")[0].partition("#")[0].partition(";")[0]


def _timeout(seconds: float) -> float:
    if not 0 < seconds <= MAX_TIMEOUT:  # NaN included
        raise UsageError(f"--timeout must be above 0 and at most {MAX_TIMEOUT:g} seconds")
    return seconds


def scan_and_warn(request: ScanRequest, allow_skips: bool) -> ScanResult:
    """The scan, with a warning for each thing a person should know before the report: the
    scan's own warnings, accepted skips (or the error for them), expired waivers, findings
    due soon."""
    if allow_skips:
        _say("attest: warning: --allow-skips: unchecked components will pass")
    result = run_scan(request)
    for warning in result.warnings:
        _say(f"attest: warning: {warning}")
    for warning in check_skips(result, allow_skips):
        _say(f"attest: warning: {warning}")
    for waiver in result.evaluation.expired_waivers:
        _say(
            f"attest: warning: waiver for {waiver.id} ({waiver.origin}) expired "
            f"{waiver.expires.isoformat()}: it no longer applies"
        )
    for judged in evaluation_of(result, "due-soon"):
        _say(
            f"attest: warning: {judged.finding.package} {cut(judged.finding.version)} "
            f"{judged.finding.id} is due in {judged.days_left} days "
            f"({_day(judged.due)}): fix it before it fails the stage"
        )
    return result


def summary(result: ScanResult, output: Path | None) -> str:
    """The last line for people: what was scanned, with what, and the findings by status."""
    evaluation = result.evaluation
    counts = ", ".join(
        f"{evaluation.count(s)} {s}" for s in ("overdue", "due-soon", "no-fix", "waived", "ok")
    )
    where = f"; report to {output}" if output and not is_dash(output) else ""
    return (
        f"attest: scanned {len(result.components)} components from "
        f"{result.input_description} with {result.request.source}: {len(result.findings)} "
        f"findings ({counts}){where}"
    )
