"""`attest verify` with -v/-vv (before or after the subcommand) and --log-format json, on a real
release signed against the local instance: the gate's stage is logged with its duration on
stderr, and the decision on stdout is byte-for-byte the one without logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import logs

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _quiet_again() -> Iterator[None]:
    yield
    logs.configure(0)


@pytest.mark.parametrize(
    ("before", "after"),
    [(["-v"], []), ([], ["-v"]), (["-vv"], ["--log-format", "json"])],
    ids=["before", "after", "debug-json"],
)
def test_the_gate_logs_its_stage_and_keeps_stdout(
    invoke: Invoke,
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    before: list[str],
    after: list[str],
) -> None:
    policy = g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance))
    args = ["--policy", str(policy), "--json", "--now", g.stamp(release.now + g.DAY)]
    files = [str(release.wheel), str(release.sdist)]
    quiet = invoke("verify", *args, *files)
    loud = invoke(*before, "verify", *args, *files, *after)
    assert quiet.exit_code == loud.exit_code == 0, loud.stderr
    assert loud.stdout_bytes == quiet.stdout_bytes
    assert "gate: start" not in quiet.stderr
    if "json" in after:
        lines = [json.loads(x) for x in loud.stderr.splitlines() if x.startswith("{")]
        done = [x for x in lines if x["message"].startswith("gate: done in")]
        assert done and done[0]["stage"] == "gate" and done[0]["logger"] == "attest.verify.gate"
        assert any(x["level"] == "debug" and x["message"].endswith("ALLOW") for x in lines)
    else:
        assert "info attest.verify.gate: gate: start" in loud.stderr
        assert "info attest.verify.gate: gate: 2 artifact(s), " in loud.stderr
        assert "gate: done in " in loud.stderr
