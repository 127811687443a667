"""`attest vsa` and `attest log anchor`: the click layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from attest.output import inform
from attest.provenance.command import _signing
from attest.sign.options import PATH, signing_options
from attest.verdict import stage
from verify.text import examples


@click.command(
    "vsa",
    epilog=examples(
        "attest vsa --verifier-id https://example.com/deploy-gate decision.json",
        "attest vsa --bundle-dir vsas --json decision.json",
    ),
)
@click.argument("decision", type=PATH)
@click.option("--verifier-id", help="The VSA's verifier.id (default: the signer's identity).")
@click.option(
    "--allow-missing-files",
    "missing_ok",
    is_flag=True,
    help="Sign even when an artifact or the policy the DECISION names is not here to re-hash: "
    "the VSA is then only as good as the decision file.",
)
@signing_options
def vsa(
    decision: Path, verifier_id: str | None, missing_ok: bool, as_json: bool, **options: Any
) -> None:
    """A signed SLSA Verification Summary Attestation for each artifact the DECISION (what
    `attest verify --json` wrote) allowed, as <artifact>.vsa.sigstore.json; a denied
    artifact never gets one, and a decision allowing none is exit 2. The artifacts and the
    policy it names (paths as `attest verify` was given them) must hash as it says."""
    written = stage.vsa(decision, _signing(options), verifier_id, missing_ok)
    for path in written:
        inform(f"attest: wrote {path} (VSA)")
    if as_json:
        click.echo(json.dumps([str(p) for p in written], indent=2))


@click.group("log", epilog=examples("attest log anchor decisions.jsonl"))
def log() -> None:
    """The gate's decision log, beyond its host."""


@log.command("anchor", epilog=examples("attest log anchor decisions.jsonl"))
@click.argument("file", type=PATH)
@signing_options
def anchor(file: Path, as_json: bool, **options: Any) -> None:
    """Sign FILE's head (record count and hash) as an attestation recorded in the transparency
    log, kept as FILE.anchors/<count>.sigstore.json; `attest verify-log --anchored` checks it."""
    target, report = stage.anchor(file, _signing(options))
    inform(f"attest: anchored {file} at {report.records} records (head {report.head}): {target}")
    if as_json:
        click.echo(
            json.dumps({"anchor": str(target), "records": report.records, "head": report.head})
        )
