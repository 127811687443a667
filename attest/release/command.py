"""`attest release`: the local pre-release command, with live progress on a terminal (without
colour under NO_COLOR) and plain lines and a final table in CI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from attest.release.artifacts import Selection, from_dist
from attest.release.stage import (
    STAGES,
    Pipeline,
    ReleaseRequest,
    StageResult,
    destination,
)
from attest.sbom.interface import SourceKind
from attest.sign.images import images_among
from attest.sign.options import PATH, YES_HELP, instance_of
from attest.sign.session import in_ci
from verify import instant, logs
from verify.text import examples, shown

_MARK = {"ok": "✔", "failed": "✘", "skipped": "-", "running": "…", "pending": " "}


def fancy() -> bool:
    """The live display for a person at a terminal (NO_COLOR only takes its colours away:
    rich honours it)."""
    return sys.stderr.isatty() and not in_ci()


class PlainProgress:
    def __call__(self, result: StageResult) -> None:
        if result.status in ("ok", "failed"):
            click.echo(
                shown(
                    f"attest: release: {result.stage} {result.status} ({result.seconds:.2f} s)"
                    + (f": {result.detail}" if result.detail else "")
                ),
                err=True,
            )


class RichProgress:
    """One live status line per stage (rich ships with pip-audit, already a dependency)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(stderr=True)
        self._rows: dict[str, StageResult] = {}
        self._live = Live(self._render(), console=self._console, refresh_per_second=8)
        self._live.start()

    def _render(self) -> Any:
        from rich.text import Text

        lines = Text()
        for stage in STAGES:
            result = self._rows.get(stage)
            status = result.status if result else "pending"
            style = {"ok": "green", "failed": "bold red", "running": "yellow"}.get(status, "dim")
            lines.append(f"{_MARK[status]} {stage:<13}", style=style)
            if result and result.status in ("ok", "failed"):
                lines.append(f" {result.seconds:5.2f} s  {shown(result.detail)}")
            lines.append("\n")
        return lines

    def __call__(self, result: StageResult) -> None:
        self._rows[result.stage] = result
        self._live.update(self._render())

    def stop(self) -> None:
        self._live.stop()


def table(results: list[StageResult]) -> str:
    width = max(len(r.stage) for r in results)
    lines = [f"{'stage':<{width}}  result   time    detail"]
    for r in results:
        seconds = f"{r.seconds:5.2f} s" if r.status in ("ok", "failed") else "      -"
        lines.append(f"{r.stage:<{width}}  {r.status:<7}  {seconds}  {shown(r.detail)}")
    return "\n".join(lines)


@click.command(
    "release",
    epilog=examples(
        "attest release --policy policy.yaml",
        "attest release --policy policy.yaml --db advisories/ dist/*.whl dist/*.tar.gz",
        "attest release --policy policy.yaml oci://registry.example/acme/web:1.4.0",
    ),
)
@click.argument("artifacts", nargs=-1, type=PATH)
@click.option(
    "--policy",
    "gate_policy",
    type=PATH,
    required=True,
    help="The gate's policy for the final self-check.",
)
@click.option(
    "--project", type=PATH, default=Path(), show_default=True, help="The project directory."
)
@click.option("--lock", type=PATH, help="Describe this lock file (default: the project's).")
@click.option("--requirements", type=PATH, help="Describe this requirements file instead.")
@click.option("--db", type=PATH, help="Offline OSV database for the scan (else the OSV service).")
@click.option("--vuln-source", help="Vulnerability source plugin (offline, osv, pypi).")
@click.option("--cache-dir", type=PATH, help="Where the scan keeps its index and cache.")
@click.option("--slo-policy", type=PATH, help="SLO policy file (default: [tool.attest.slo]).")
@click.option("--waivers", type=PATH, multiple=True, help="Waiver file (repeatable).")
@click.option(
    "--now",
    "now_text",
    help="The scan's clock (RFC 3339): advisories are judged then; default: now. The gate's "
    "self-check judges at the signing time.",
)
@click.option(
    "--out",
    type=PATH,
    default=Path("build/attest"),
    show_default=True,
    help="Where the SBOM and the scan report go.",
)
@click.option("--allow-dirty", is_flag=True, help="Record provenance from a tree with changes.")
@click.option("--trust-config", type=PATH, help="A Sigstore ClientTrustConfig.")
@click.option("--instance", type=click.Choice(["production", "staging"]), help="Public Sigstore.")
@click.option("--identity-token", help="An OIDC identity token (else the usual sources).")
@click.option("--yes", is_flag=True, help=YES_HELP)
def release(
    artifacts: tuple[Path, ...],
    gate_policy: Path,
    project: Path,
    lock: Path | None,
    requirements: Path | None,
    db: Path | None,
    vuln_source: str | None,
    cache_dir: Path | None,
    slo_policy: Path | None,
    waivers: tuple[Path, ...],
    now_text: str | None,
    out: Path,
    allow_dirty: bool,
    trust_config: Path | None,
    instance: str | None,
    identity_token: str | None,
    yes: bool,
) -> None:
    """Check the git state, the policy and the signer, run SBOM and scan, then sign
    ARTIFACTS (default: dist/*), provenance and attestations with one certificate, and check
    the result with the gate at the signing time (--now is the scan's clock). Stops at the
    first failed stage, nothing signed before the scan passed, and says which and why.
    Images instead of files (oci://HOST/REPO@sha256:… or :TAG, a tag resolved once): signed
    by manifest digest, the evidence pushed to the registry as referrers."""
    kind: SourceKind | None = "lock" if lock else "requirements" if requirements else None
    now = instant.given(now_text, assume_utc=True)  # a bad option before the dist is read
    if named := tuple(images_among(artifacts)):  # images, or files: never both
        selection = Selection(())
    else:
        selection = Selection(artifacts) if artifacts else from_dist(project)
    request = ReleaseRequest(
        images=named,
        artifacts=selection.artifacts,
        left_out=selection.left_out,
        selected=selection.release,
        gate_policy=gate_policy,
        project=project,
        out=out,
        sbom_kind=kind,
        sbom_target=lock or requirements,
        db=db,
        vuln_source=vuln_source,
        cache_dir=cache_dir,
        slo_policy=slo_policy,
        waivers=waivers,
        now=now,
        trust_config=trust_config,
        instance=instance_of(instance),
        identity_token=identity_token,
        allow_dirty=allow_dirty,
        yes=yes,
    )
    run_with_progress(request)


def _silent(result: StageResult) -> None:
    """-q: no progress; the error (raised) and the final verdict are said all the same."""


def run_with_progress(request: ReleaseRequest) -> None:
    """The pipeline, shown live on a terminal, else as plain lines and a final table; under
    -q only the verdict (an error says itself). Where it signs is said (and confirmed) before
    the live display starts."""
    place = destination(request)
    if logs.quiet():
        pipeline = Pipeline(request, _silent, place)
        pipeline.run()
        click.echo(shown(f"attest: release: {pipeline.results[-1].detail}"), err=True)
        return
    progress = RichProgress() if fancy() else PlainProgress()
    pipeline = Pipeline(request, progress, place)
    try:
        pipeline.run()
    finally:
        if isinstance(progress, RichProgress):
            progress.stop()
        else:
            click.echo(table(pipeline.results), err=True)
