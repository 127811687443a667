"""The signed-release helper (tests/signed_release.py) the gate tests judge: its judging instant
is at or after every signature it made, however long signing took."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests import signed_release as g
from tests.conftest import LocalInstance
from verify import gate
from verify.policy import load_policy


def test_a_release_signed_into_the_next_second_is_judged_after_it(
    instance: LocalInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signing runs into the next whole second, as on a loaded machine. Before: the release's
    `now` was taken before signing, and the gate refused every bundle as "signed after the
    judging instant" (2 in ~10 loaded runs of tests/verify/)."""
    real = g.sign_files

    def late(*args: Any) -> None:
        time.sleep(1.05 - time.time() % 1)  # past the next second's start
        real(*args)

    monkeypatch.setattr(g, "sign_files", late)
    release = g.make_release(instance, tmp_path / "dist")
    policy = load_policy(g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance)))
    run = gate.decide([release.wheel, release.sdist], policy, release.now)
    failures = [f for d in run.decisions for o in d.outcomes for f in o.failures]
    assert not [f for f in failures if "after the judging instant" in f], failures
    assert run.allowed, failures
    for bundle in sorted(release.dist.glob("*.sigstore.json")):
        [entry] = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"]
        logged = datetime.datetime.fromtimestamp(
            int(entry["integratedTime"]), datetime.timezone.utc
        )
        assert logged <= release.now, f"{bundle.name}: logged {logged}, judged at {release.now}"
