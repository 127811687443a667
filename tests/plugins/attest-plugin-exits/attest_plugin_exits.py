"""Plugins that fail where and how `ATTEST_PLUGIN_FAILS=<when>:<how>` says: when is `load` (at
import), `init`, `applies` or `run`; how is one of HOWS. Unset, the check passes, the stage
prints "ran" and the source finds nothing."""

import os

import click

WHEN, _, HOW = os.environ.get("ATTEST_PLUGIN_FAILS", "").partition(":")


class GaveUp(BaseException):
    """A plugin's own BaseException: it passes every `except Exception`."""


HOWS = {
    "exception": lambda: RuntimeError("the plugin broke"),
    "exit": lambda: SystemExit(),
    "exit0": lambda: SystemExit(0),
    "exit1": lambda: SystemExit(1),
    "exit-message": lambda: SystemExit("the plugin needs a missing dependency"),
    "base-exception": lambda: GaveUp("the plugin gave up"),
}


def fail(when: str) -> None:
    if when == WHEN:
        raise HOWS[HOW]()


fail("load")

from attest.scan.interface import SourceAnswer, VulnSource  # noqa: E402
from verify.interface import Check, Outcome  # noqa: E402


class Exiting(Check):
    name = "exiting"
    order = 95

    def __init__(self) -> None:
        fail("init")

    def applies(self, context: object) -> bool:
        fail("applies")
        return True

    def run(self, evidence: object, context: object) -> Outcome:
        fail("run")
        return Outcome(self.name, "nothing", "nothing")


@click.command("exiting")
def stage() -> None:
    """A stage that fails as told."""
    fail("run")
    click.echo("ran")


class Source(VulnSource):
    name = "exiting"

    def check(self, components: object) -> SourceAnswer:
        fail("run")
        return SourceAnswer((), ())
