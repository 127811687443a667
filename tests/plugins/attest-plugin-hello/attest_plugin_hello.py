"""A third-party plugin: a stage command and a lock-file source for `*.hello` files."""

from pathlib import Path

import click

from attest.sbom.interface import Inventory, Package, SbomSource


@click.command("hello")
@click.option("--name", default="world")
def hello(name: str) -> None:
    """Greet from a plugin stage."""
    click.echo(f"hello, {name}")


class HelloLockSource(SbomSource):
    """Lines of `name==version`."""

    kind = "lock"

    @classmethod
    def accepts(cls, path: Path) -> bool:
        return path.suffix == ".hello"

    def read(self) -> Inventory:
        packages = []
        for line in self.target.read_text().split():
            name, _, version = line.partition("==")
            packages.append(Package(name=name, version=version))
        return Inventory(description=f"hello file {self.target}", packages=tuple(packages))
