"""`attest trust`: keep the trust roots the offline gate verifies against current."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import click

from attest.trust.update import Updated, update
from verify.text import examples, shown
from verify.timeouts import timeout_of


@click.group(
    "trust",
    epilog=examples(
        "attest trust update",
        "attest trust update --instance staging --json",
    ),
)
def trust() -> None:
    """The public Sigstore trust roots the gate reads (`trust: production` or `staging`)."""


def _said(done: Updated) -> str:
    return (
        f"attest: {done.name} trust root updated from {done.url} (TUF root version "
        f"{done.root_version}): {done.path}, sha256 {done.sha256[:12]}…"
    )


@trust.command(
    "update",
    epilog=examples(
        "attest trust update    # then `attest verify` with `trust: production`",
        "attest trust update --url https://mirror.example/tuf --bootstrap-root root.json",
    ),
)
@click.option(
    "--instance",
    "name",
    type=click.Choice(["production", "staging"]),
    default="production",
    show_default=True,
    help="Which public Sigstore root to refresh.",
)
@click.option(
    "--url",
    metavar="URL",
    help="Fetch from this TUF repository instead of the instance's own (a mirror).",
)
@click.option(
    "--bootstrap-root",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The TUF root.json to trust the repository from (default: the stored one, else the "
    "one in sigstore).",
)
@click.option(
    "--timeout",
    default="5m",
    show_default=True,
    callback=lambda _ctx, _param, text: timeout_of(text),
    help="Give up (nothing stored) when the whole update takes longer: 10m, 1h, or seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was stored as JSON on stdout.")
def update_command(
    name: str,
    url: str | None,
    bootstrap_root: Path | None,
    timeout: datetime.timedelta,
    as_json: bool,
) -> None:
    """Refresh a public Sigstore trusted root through its TUF repository (online), where
    sigstore-python keeps it and `attest verify` reads it (offline). A user and password in
    --url are sent as HTTP basic authentication, never printed nor recorded."""
    done = update(name, url, bootstrap_root, timeout)
    if as_json:
        data = {
            "instance": done.name,
            "url": done.url,
            "trusted_root": str(done.path),
            "sha256": done.sha256,
            "updated": done.updated.isoformat(),
            "tuf_root_version": done.root_version,
        }
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    click.echo(shown(_said(done)), err=True)
