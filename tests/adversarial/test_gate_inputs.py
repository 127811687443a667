"""The gate's other inputs, from an outside attack on issue 13's change: the trusted root and the
deployer's advisory database (`--db`) are regular files read once and within limits, never
quoted; a bundle reached through many symlinks is read once. Each run is a child process, so a
FIFO that blocked would end in the timeout, not hang the suite."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests import signed_release as g
from tests.conftest import LocalInstance, run_attest
from verify import evidence, gate
from verify.errors import ExitCode
from verify.policy import load_policy

SECRET = "-----BEGIN PRIVATE KEY----- MIIEvSECRETdoNotPrint"


def _policy(tmp_path: Path, instance: LocalInstance, **trust: Any) -> Path:
    policy = g.strict_policy(instance)
    policy["trust"] = {**policy["trust"], **trust}
    return g.write_policy(tmp_path / "policy.yaml", policy)


@pytest.mark.parametrize("kind", ["fifo", "device", "secret", "not an object"])
def test_a_hostile_trusted_root_is_a_clean_refusal(
    instance: LocalInstance, release: g.Release, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "root.json"
    if kind == "fifo":
        os.mkfifo(root)
        reason = "is not a regular file (FIFO, socket, device)"
    elif kind == "device":
        root = Path("/dev/zero")
        reason = "is not a regular file (FIFO, socket, device)"
    elif kind == "secret":
        root.write_text(json.dumps({"mediaType": SECRET}))
        reason = "not a readable Sigstore trusted root: mediaType"
    else:
        root.write_text(json.dumps([SECRET]))
        reason = "not a readable Sigstore trusted root"
    done = run_attest("verify", "--policy", str(_policy(tmp_path, instance, trusted_root=str(root))),
                      str(release.wheel))  # fmt: skip
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert reason in done.stderr
    assert "MIIEvSECRET" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink out"])
def test_a_hostile_advisory_database_is_a_clean_refusal(
    instance: LocalInstance, release: g.Release, tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "db"
    if kind == "fifo":
        os.mkfifo(db)
        reason = "is not a regular file (FIFO, socket, device)"
    elif kind == "device":
        db = Path("/dev/zero")
        reason = "is not a regular file (FIFO, socket, device)"
    else:
        secret = tmp_path / "secret.json"
        secret.write_text(json.dumps({"id": "X", "modified": SECRET}))
        (db / "vulns" / "requests").mkdir(parents=True)
        (db / "vulns" / "requests" / "PYSEC-1.json").symlink_to(secret)
        reason = "vulns/requests/PYSEC-1.json: a symlink that leads out of the database"
    policy = g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance))
    done = run_attest("verify", "--policy", str(policy), "--db", str(db), str(release.wheel))
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert reason in done.stderr
    assert "MIIEvSECRET" not in done.stdout + done.stderr


def test_a_bundle_behind_many_symlinks_is_read_once(
    instance: LocalInstance,
    release: g.Release,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Links multiply names, not work: 50 names of one bundle cost one read (the attack: 70
    links to one 60 MiB bundle took 74 s and 3.9 GB)."""
    target = release.dist / "acme_web-1.4.0.sbom.sigstore.json"
    signature = release.dist / f"{g.SDIST}.sigstore.json"  # read again only to be listed
    for i in range(50):
        (release.dist / f"link{i}.sigstore.json").symlink_to(target.name)
        (release.dist / f"sig{i}.sigstore.json").symlink_to(signature.name)
    reads: list[Path] = []
    real = evidence.read_limited

    def counted(path: Path, *args: Any, **kwargs: Any) -> bytes:
        reads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(evidence, "read_limited", counted)
    policy = load_policy(g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance)))
    run = gate.decide([release.wheel], policy, release.now + g.DAY)
    assert run.allowed
    assert sum(1 for p in reads if p.name == target.name) == 1
    # every file read once, whatever the names; a signature bundle once more when it is
    # judged (or listed as judged by none): it is not held parsed for the whole run
    assert reads.count(signature) == 2
    assert max(collections.Counter(reads).values()) == 2
