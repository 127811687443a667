"""`attest provenance`, `attest attest` and `attest build`: the click layer."""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from attest.output import inform
from attest.provenance import stage
from attest.provenance.predicates import MAX_INLINE_SBOM
from attest.sign.options import PATH as _PATH
from attest.sign.options import instance_of, signing_options
from verify.dash import READ
from verify.text import examples
from verify.timeouts import timeout_of


def _signing(options: dict[str, Any]) -> stage.Signing:
    return stage.Signing(
        trust_config=options["trust_config"],
        instance=instance_of(options["instance"]),
        identity_token=options["identity_token"],
        bundle_dir=options["bundle_dir"],
        yes=options["yes"],
    )


def _report(written: list[stage.Written], as_json: bool) -> None:
    for item in written:
        subjects = ", ".join(s.name for s in item.statement.subjects)
        where = "; ".join(item.pushed) or str(item.path)  # an image's: pushed as a referrer
        inform(f"attest: wrote {where} ({item.kind} of {subjects}; log index {item.log_index})")
    if as_json:
        data = [
            {
                "kind": w.kind,
                "path": str(w.path),
                "pushed": list(w.pushed),
                "predicate_type": w.statement.predicate_type,
                "subjects": [s.to_dict() for s in w.statement.subjects],
                "log_index": w.log_index,
            }
            for w in written
        ]
        click.echo(json.dumps(data, indent=2))


@click.command(
    "provenance",
    epilog=examples("attest provenance --sbom sbom.cdx.json dist/*.whl dist/*.tar.gz"),
)
@click.argument("artifacts", nargs=-1, required=True, type=_PATH)
@click.option(
    "--sbom",
    type=READ,
    help="Also list the SBOM's components as resolved dependencies (- : stdin).",
)
@click.option("--name", help="<name> in <name>.provenance.sigstore.json.")
@click.option("--allow-dirty", is_flag=True, help="Record a local build from a tree with changes.")
@signing_options
def provenance(
    artifacts: tuple[Path, ...],
    sbom: Path | None,
    name: str | None,
    allow_dirty: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """SLSA v1 provenance for ARTIFACTS (one statement, every artifact a subject), signed."""
    written = stage.provenance(
        artifacts,
        _signing(options),
        name=name,
        sbom=sbom,
        allow_dirty=allow_dirty,
        environ=os.environ,
        command=sys.argv,
        now=datetime.datetime.now(datetime.timezone.utc),
    )
    _report([written], as_json)


@click.command(
    "attest",
    epilog=examples(
        "attest attest --predicate sbom --sbom sbom.cdx.json dist/*.whl dist/*.tar.gz",
        "attest attest --predicate vulns --predicate slo --scan scan.json dist/*.whl dist/*.tar.gz",
    ),
)
@click.argument("artifacts", nargs=-1, required=True, type=_PATH)
@click.option(
    "--predicate",
    "kinds",
    multiple=True,
    required=True,
    type=click.Choice(["sbom", "vulns", "slo"]),
    help="What to attest (repeatable).",
)
@click.option(
    "--sbom", type=READ, help="The CycloneDX JSON SBOM (for --predicate sbom; - : stdin)."
)
@click.option(
    "--scan",
    type=READ,
    help="The scan report, `attest scan --format json` (vulns, slo; - : stdin).",
)
@click.option(
    "--max-inline-sbom",
    type=click.IntRange(min=0),
    default=MAX_INLINE_SBOM,
    show_default=True,
    help="Bytes; a larger SBOM is attested by reference (digest and name).",
)
@click.option("--name", help="<name> in <name>.<kind>.sigstore.json.")
@signing_options
def attest_command(
    artifacts: tuple[Path, ...],
    kinds: tuple[str, ...],
    sbom: Path | None,
    scan: Path | None,
    max_inline_sbom: int,
    name: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Signed statements over ARTIFACTS for the SBOM, the vulnerability scan and the SLO status."""
    written = stage.attest(
        kinds,
        artifacts,
        _signing(options),
        name=name,
        sbom=sbom,
        scan=scan,
        max_inline_sbom=max_inline_sbom,
    )
    _report(written, as_json)


@click.command(
    "build",
    context_settings={"ignore_unknown_options": True},
    epilog=examples("attest build --product dist -- python -m build"),
)
@click.option(
    "--step", default="build", show_default=True, help="The step's name (and <name> of the file)."
)
@click.option(
    "--product",
    "products",
    multiple=True,
    required=True,
    type=_PATH,
    help="What the build makes (repeatable).",
)
@click.option(
    "--material",
    "materials",
    multiple=True,
    type=_PATH,
    help="Inputs (default: git's tracked files).",
)
@click.option(
    "--timeout",
    default="1h",
    show_default=True,
    callback=lambda _ctx, _param, text: timeout_of(text),
    help="Kill the build's process group after this long: 30m, 2h, or seconds.",
)
@click.option(
    "--log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the build's output here (default: a new file in the temp directory).",
)
@signing_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def build(
    step: str,
    products: tuple[Path, ...],
    materials: tuple[Path, ...],
    timeout: datetime.timedelta,
    log: Path | None,
    command: tuple[str, ...],
    as_json: bool,
    **options: Any,
) -> None:
    """Run COMMAND and record it as a signed in-toto link: materials before, products after
    (only files COMMAND created or changed). Its output is shown on stderr as it runs and saved
    to a log."""
    written = stage.build(
        command,
        products,
        _signing(options),
        step=step,
        materials=materials,
        timeout=timeout,
        log=log,
        echo=lambda line: click.echo(line, err=True),
    )
    _report([written], as_json)
