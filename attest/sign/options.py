"""The command-line options every signing command shares (`sign`, `provenance`, `attest`,
`build`): where to sign, as whom, where the bundles go, and --yes to sign against Sigstore
production without being asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from attest.sign.session import Instance

F = TypeVar("F", bound=Callable[..., Any])
PATH = click.Path(path_type=Path)
YES_HELP = "Sign against Sigstore production without asking (CI never asks)."
_OPTIONS = (
    click.option(
        "--trust-config",
        type=PATH,
        help="A Sigstore ClientTrustConfig (local instance or private deployment).",
    ),
    click.option(
        "--instance",
        type=click.Choice(["production", "staging"]),
        help="Public Sigstore (needs the network).",
    ),
    click.option(
        "--identity-token",
        help="An OIDC identity token (else ATTEST_IDENTITY_TOKEN, GitHub Actions, or "
        "interactive). Prefer those: a token on the command line shows in the process list.",
    ),
    click.option("--bundle-dir", type=PATH, help="Write here instead of beside the artifacts."),
    click.option("--yes", is_flag=True, help=YES_HELP),
    click.option("--json", "as_json", is_flag=True, help="Describe what was written as JSON."),
)


def signing_options(command: F) -> F:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def instance_of(value: str | None) -> Instance | None:
    """The --instance choice, typed (click has already limited it to the two names)."""
    if value == "production":
        return "production"
    if value == "staging":
        return "staging"
    return None
