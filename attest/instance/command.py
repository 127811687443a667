"""`attest instance`: run a local Sigstore-compatible instance and mint identity tokens."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import click

from attest.errors import UsageError
from attest.instance import lifecycle, oidc
from attest.instance.server import Instance, serve
from attest.instance.state import load_state
from verify.text import shown

_STATE = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The instance's state directory (keys, CA, log, trust files).",
)


@click.group("instance")
def instance() -> None:
    """A local Sigstore-compatible instance (OIDC issuer, CA with CT log, transparency log) for
    offline development, demos and tests. Its trust root is a development root."""


def _describe(current: lifecycle.Status) -> dict[str, Any]:
    return {
        "url": current.url,
        "running": current.running,
        "pid": current.pid,
        "entries": current.entries,
        "state": str(current.state_dir),
        "trust_config": str(current.trust_config),
        "trusted_root": str(current.trusted_root),
    }


@instance.command("up")
@_STATE
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (first use only).")
@click.option("--foreground", is_flag=True, help="Serve in this process until interrupted.")
@click.option("--ttl", type=click.FloatRange(min=1), help="Stop by itself after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Describe the running instance as JSON.")
def up(
    state_dir: Path, port: int | None, foreground: bool, ttl: float | None, as_json: bool
) -> None:
    """Start the instance on 127.0.0.1 (created on first use; restarts keep keys and log)."""
    if foreground:
        state = lifecycle.prepare(state_dir, port)
        click.echo(shown(f"attest: instance serving {state.base_url}; Ctrl-C stops it"), err=True)
        serve(Instance(state), stop_after=ttl)
        return
    current = lifecycle.up(state_dir, port, ttl)
    if as_json:
        click.echo(json.dumps(_describe(current), indent=2))
    click.echo(
        shown(
            f"attest: instance up at {current.url} (pid {current.pid}); "
            f"sign with --trust-config {current.trust_config}"
        ),
        err=True,
    )


@instance.command("down")
@_STATE
def down(state_dir: Path) -> None:
    """Stop the instance started by `up`."""
    stopped = lifecycle.down(state_dir)
    click.echo(
        "attest: instance stopped" if stopped else "attest: instance was not running", err=True
    )


@instance.command("status")
@_STATE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
def status(state_dir: Path, as_json: bool) -> None:
    """Whether the instance runs, where, and how many log entries it holds."""
    current = lifecycle.status(state_dir)
    if as_json:
        click.echo(json.dumps(_describe(current), indent=2))
        return
    state = "running" if current.running else "stopped"
    where = f"trust_config={current.trust_config}"
    click.echo(shown(f"{current.url} {state} entries={current.entries} {where}"))


@instance.command("token")
@_STATE
@click.option("--subject", help="The identity: a URI or an email address.")
@click.option("--github", "repository", help="Add GitHub Actions claims for OWNER/REPO.")
@click.option("--claims", help="More claims as a JSON object (override the others).")
@click.option("--lifetime", type=click.IntRange(1, 3600), default=300, show_default=True)
def token(
    state_dir: Path, subject: str | None, repository: str | None, claims: str | None, lifetime: int
) -> None:
    """Print a fresh identity token from the instance's issuer on stdout (keep it secret)."""
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
    state = load_state(state_dir)
    click.echo(
        oidc.mint(
            state.keys["issuer"],
            state.issuer_url,
            str(extra.pop("sub")),
            extra,
            lifetime=datetime.timedelta(seconds=lifetime),
        )
    )
