"""`attest instance`: run a local Sigstore-compatible instance and mint identity tokens."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click

from attest.instance import lifecycle, oidc
from attest.instance.server import Instance, serve
from attest.instance.state import load_state, stamp
from attest.output import inform
from verify import instant
from verify.errors import UsageError
from verify.text import examples, shown

_STATE = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The instance's state directory (keys, CA, log, trust files).",
)


@click.group(
    "instance",
    epilog=examples(
        "attest instance up --state .attest-dev",
        "attest instance token --state .attest-dev --subject release@example.com > token",
    ),
)
def instance() -> None:
    """A local Sigstore-compatible instance (OIDC issuer, CA with CT log, Rekor v1 and v2
    transparency logs, RFC 3161 timestamp authority) for offline development, demos and tests.
    Its trust root is a development root."""


def _describe(current: lifecycle.Status) -> dict[str, Any]:
    return {
        "url": current.url,
        "running": current.running,
        "pid": current.pid,
        "entries": current.entries,
        "state": str(current.state_dir),
        "trust_config": str(current.trust_config),
        "trusted_root": str(current.trusted_root),
        "clock": {
            "now": stamp(current.now),
            "offset_seconds": int(current.clock_offset.total_seconds()),
            "shifted": bool(current.clock_offset),
        },
    }


def _shift(now: datetime.datetime, offset: datetime.timedelta) -> str:
    """What a shifted clock says to a person: where it is, and how far behind the real one."""
    behind = -offset
    hours, rest = divmod(behind.seconds, 3600)
    return (
        f"on a shifted clock at {stamp(now)}, {behind.days} days "
        f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d} behind the real one: "
        "what it signs is dated in the past"
    )


def _parse_clock(text: str | None) -> datetime.datetime | None:
    """`--clock`: an RFC 3339 time, or `now` for the real clock; None keeps the state's."""
    if text is None:
        return None
    if text.strip() == "now":
        return datetime.datetime.now(datetime.timezone.utc)
    return instant.parse(text, assume_utc=True, option="--clock")


@instance.command(
    "up",
    epilog=examples(
        "attest instance up --state .attest-dev",
        "attest instance up --state .attest-july --clock 2026-07-15T00:00:00Z",
    ),
)
@_STATE
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (first use only).")
@click.option("--foreground", is_flag=True, help="Serve in this process until interrupted.")
@click.option("--ttl", type=click.FloatRange(min=1), help="Stop by itself after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Describe the running instance as JSON.")
@click.option(
    "--clock",
    "clock_text",
    help="Start the instance's clock at this past time (RFC 3339), advancing in real time, so "
    "what it signs is dated then (demos, tests); kept across restarts; `now` for the real clock.",
)
@click.option(
    "--rekor-version",
    type=click.IntRange(1, 2),
    help="The transparency log version the signing config announces (new instances: 2, with "
    "the timestamp authority as the only time); kept across restarts. Both logs always serve.",
)
def up(
    state_dir: Path,
    port: int | None,
    foreground: bool,
    ttl: float | None,
    as_json: bool,
    clock_text: str | None,
    rekor_version: int | None,
) -> None:
    """Start the instance on 127.0.0.1 (created on first use; restarts keep keys, log and clock)."""
    clock = _parse_clock(clock_text)
    if foreground:
        state = lifecycle.prepare(state_dir, port, clock, rekor_version)
        shifted = f" {_shift(state.now(), state.clock_offset)}" if state.clock_offset else ""
        inform(f"attest: instance serving {state.base_url}{shifted}; Ctrl-C stops it")
        serve(Instance(state), stop_after=ttl)
        return
    current = lifecycle.up(state_dir, port, ttl, clock, rekor_version)
    if as_json:
        click.echo(json.dumps(_describe(current), indent=2))
    shifted = f" {_shift(current.now, current.clock_offset)};" if current.clock_offset else ""
    inform(
        f"attest: instance up at {current.url} (pid {current.pid});{shifted} "
        f"sign with --trust-config {current.trust_config}"
    )


@instance.command("down", epilog=examples("attest instance down --state .attest-dev"))
@_STATE
def down(state_dir: Path) -> None:
    """Stop the instance started by `up`."""
    stopped = lifecycle.down(state_dir)
    inform("attest: instance stopped" if stopped else "attest: instance was not running")


@instance.command("status", epilog=examples("attest instance status --state .attest-dev --json"))
@_STATE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
def status(state_dir: Path, as_json: bool) -> None:
    """Whether the instance runs, where, and how many log entries it holds."""
    current = lifecycle.status(state_dir)
    if as_json:
        click.echo(json.dumps(_describe(current), indent=2))
        return
    state = "running" if current.running else "stopped"
    shift = f" ({_shift(current.now, current.clock_offset)})" if current.clock_offset else ""
    where = f"trust_config={current.trust_config}"
    click.echo(shown(f"{current.url} {state} entries={current.entries} {where}{shift}"))


@instance.command(
    "token",
    epilog=examples(
        "attest instance token --state .attest-dev --github acme/app > token",
        "attest instance token --state .attest-dev --subject release@example.com > token",
    ),
)
@_STATE
@click.option("--subject", help="The identity: a URI or an email address.")
@click.option("--github", "repository", help="Add GitHub Actions claims for OWNER/REPO.")
@click.option("--claims", help="More claims as a JSON object (override the others).")
@click.option("--lifetime", type=click.IntRange(1, 3600), default=300, show_default=True)
def token(
    state_dir: Path, subject: str | None, repository: str | None, claims: str | None, lifetime: int
) -> None:
    """Print a fresh identity token from the instance's issuer on stdout (keep it secret)."""
    subject_, extra = _claims(subject, repository, claims)
    state = load_state(state_dir)
    click.echo(
        oidc.mint(
            state.keys["issuer"],
            state.issuer_url,
            subject_,
            extra,
            lifetime=datetime.timedelta(seconds=lifetime),
        )
    )


def _claims(
    subject: str | None, repository: str | None, claims: str | None
) -> tuple[str, dict[str, Any]]:
    """The token's subject and other claims: GitHub's for --github, then --claims over them,
    then --subject over all; UsageError without a subject."""
    extra: dict[str, Any] = oidc.github_claims(repository) if repository else {}
    if claims:
        try:
            parsed = json.loads(claims)
        except json.JSONDecodeError as e:
            raise UsageError(f"--claims is not JSON: {e}") from e
        if not isinstance(parsed, dict):
            raise UsageError("--claims must be a JSON object")
        extra.update(parsed)
    if subject:
        extra["sub"] = subject
    if not extra.get("sub"):
        raise UsageError("give --subject (or --github, whose claims carry one)")
    return str(extra.pop("sub")), extra
