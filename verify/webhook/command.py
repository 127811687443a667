"""`attest webhook`: the click layer of the admission webhook (parse, build, serve)."""

from __future__ import annotations

import ssl
from pathlib import Path

import click

from verify.errors import UsageError
from verify.text import examples, shown
from verify.webhook import server
from verify.webhook.judging import DigestJudge, DirectorySource, EvidenceSource
from verify.webhook.mounted import Mounted
from verify.webhook.registry import RegistrySource

_FILE = click.Path(path_type=Path, dir_okay=False)


def tls(certificate: Path, key: Path) -> server.Certificates:
    """The server's certificate and key (read again when they change), or UsageError naming
    the files (exit 2)."""
    try:
        return server.Certificates(certificate, key)
    except (OSError, ssl.SSLError) as e:
        raise UsageError(
            f"--tls-cert {certificate} / --tls-key {key}: not a certificate and its key "
            f"(PEM): {getattr(e, 'strerror', None) or e}"
        ) from e


@click.command(
    "webhook",
    epilog=examples(
        "attest webhook --policy /etc/attest/policy.yaml \\",
        "    --tls-cert /etc/attest/tls/tls.crt --tls-key /etc/attest/tls/tls.key --host 0.0.0.0",
        "attest webhook --policy policy.yaml --evidence evidence/ --tls-cert c.pem --tls-key k.pem",
    ),
)
@click.option("--policy", "policy_path", type=_FILE, required=True, help="The gate policy (YAML).")
@click.option("--tls-cert", type=_FILE, required=True, help="The server certificate (PEM).")
@click.option("--tls-key", type=_FILE, required=True, help="Its private key (PEM).")
@click.option(
    "--evidence",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Judge offline: bundles by manifest digest, DIR/sha256-<hex>/*.sigstore.json "
    "(default: each image's referrers in its registry).",
)
@click.option(
    "--registry",
    "registries",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Read images only from these registries, at any address (repeat it; default: any "
    "registry over https at a public address, never the cluster's own network).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535))
@click.option("--reuse-port", is_flag=True, help="SO_REUSEPORT: several processes, one port.")
def webhook(
    policy_path: Path,
    tls_cert: Path,
    tls_key: Path,
    evidence: Path | None,
    registries: tuple[str, ...],
    host: str,
    port: int,
    reuse_port: bool,
) -> None:
    """Serve Kubernetes admission reviews (admission.k8s.io/v1) over TLS on POST /validate:
    every container image of a Pod or a pod template must be allowed by the policy. The
    policy and its trust root are re-read when their files change; a change that does not
    load denies every review until fixed. An image's evidence is its referrers in its registry
    (a registry that fails to answer denies), or --evidence DIR. One JSON line per review on
    stdout."""
    certificates = tls(tls_cert, tls_key)
    source: EvidenceSource = (
        RegistrySource(registries=registries) if evidence is None else DirectorySource(evidence)
    )
    hook = server.Webhook(Mounted(policy_path), DigestJudge(source))
    httpd = server.TlsServer((host, port), hook, certificates.context, reuse_port)
    click.echo(shown(f"attest: webhook serving on https://{host}:{httpd.server_port}"), err=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
        hook.close()
