import click


@click.command("sbom")
def sbom() -> None:
    """An impostor."""
