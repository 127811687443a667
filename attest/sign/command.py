"""`attest sign`: the click layer of the sign stage."""

from __future__ import annotations

import json
from pathlib import Path

import click

from attest.output import inform
from attest.sign import images
from attest.sign.options import PATH, instance_of, signing_options
from attest.sign.stage import SignRequest, describe
from attest.sign.stage import sign as sign_artifacts
from verify.text import examples


@click.command(
    "sign",
    epilog=examples(
        "attest sign dist/*.whl dist/*.tar.gz",
        "attest sign --trust-config .attest-dev/trust_config.json dist/*.whl dist/*.tar.gz",
    ),
)
@click.argument("artifacts", nargs=-1, type=PATH)
@signing_options
@click.option(
    "--pep740",
    is_flag=True,
    help="Also write <dist>.publish.attestation (PEP 740) for wheels and sdists, for "
    "`twine upload --attestations`.",
)
def sign(
    artifacts: tuple[Path, ...],
    pep740: bool,
    trust_config: Path | None,
    instance: str | None,
    identity_token: str | None,
    bundle_dir: Path | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Sign ARTIFACTS keylessly: `<artifact>.sigstore.json` (bundle v0.3) for each, all with one
    short-lived certificate, each verified before it is written. An image (oci://HOST/REPO@sha256:…
    or :TAG, or an OCI layout directory) is signed by its manifest digest, and its bundle pushed
    to the registry as a referrer (a layout's: `sha256:<hex>.sigstore.json`)."""
    request = SignRequest(
        artifacts=artifacts,
        trust_config=trust_config,
        instance=instance_of(instance),
        identity_token=identity_token,
        bundle_dir=bundle_dir,
        pep740=pep740,
        yes=yes,
    )
    if named := images.images_among(artifacts):
        _sign_images(named, request, as_json)
        return
    result = sign_artifacts(request)
    for item in result.signed:
        inform(f"attest: signed {item.artifact} -> {item.bundle} (log index {item.log_index})")
        if item.publish_attestation is not None:
            inform(f"attest: PEP 740 attestation {item.publish_attestation}")
    inform(f"attest: as {result.identity} (issuer {result.issuer})")
    if as_json:
        click.echo(describe(result))


def _sign_images(named: list[str], request: SignRequest, as_json: bool) -> None:
    session, signed = images.sign_images(named, request)
    for item in signed:
        inform(f"attest: signed {item.image} -> {item.stored} (log index {item.log_index})")
    inform(f"attest: as {session.identity} (issuer {session.issuer})")
    if as_json:
        described = [s.to_dict() for s in signed]
        click.echo(json.dumps({"identity": session.identity, "signed": described}, indent=2))
