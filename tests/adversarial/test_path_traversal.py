"""Names are not paths (issue 8): a signed statement whose subject names a file outside the
directory (`../../../etc/passwd`) is judged by its digest only, and the gate never opens what a
subject names. What else a release directory may hold (symlinks out of it, FIFOs, directories,
a secret where a bundle should be) is refused without being read or quoted, and an artifact
that is not a regular file is refused instead of hashed forever."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from attest.output import write_atomic
from tests.conftest import LocalInstance, run_attest
from tests.signed_release import (
    SBOM,
    github_token,
    make_release,
    session,
    strict_policy,
    write_policy,
)
from verify import gate
from verify.errors import ExitCode
from verify.formats.predicates import KINDS
from verify.policy import load_policy


def test_subject_names_are_never_opened(
    instance: LocalInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = make_release(instance, tmp_path / "dist")
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (release.wheel, release.sdist)]
    statement: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "../../../etc/passwd", "digest": {"sha256": digests[0]}},
            {"name": "/etc/shadow", "digest": {"sha256": digests[1]}},
        ],
        "predicateType": KINDS["sbom"],
        "predicate": SBOM,
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    bundle = session(instance, github_token(instance)).sign_statement(payload, "sbom")
    write_atomic(release.dist / "acme_web-1.4.0.sbom.sigstore.json", bundle.to_json().encode())
    policy = load_policy(write_policy(tmp_path / "policy.yaml", strict_policy(instance)))

    opened: list[str] = []
    real_open, real_os_open = Path.open, os.open

    def recording_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self.resolve()))
        return real_open(self, *args, **kwargs)

    def recording_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(str(Path(path).resolve()))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", recording_open)
    monkeypatch.setattr(os, "open", recording_os_open)
    now = release.now + datetime.timedelta(minutes=1)
    run = gate.decide([release.wheel, release.sdist], policy, now)
    assert run.allowed, [o.to_dict(i) for d in run.decisions for i, o in enumerate(d.outcomes)]
    # it read the release (and its trust root and plugin metadata), never the subjects' "names"
    assert str(release.wheel.resolve()) in opened
    assert not [path for path in opened if path.startswith("/etc")], opened


# --- what a downloaded release directory may hold besides bundles ----------------------------

SECRET = "root:$6$not-a-bundle-but-a-secret-line"


def _gate(release_dist: Path, policy: Path, log: Path, *artifacts: Path) -> tuple[int, str]:
    """The gate in a child process (a FIFO that blocked would end in the timeout, not a hang)."""
    done = run_attest(
        "verify", "--policy", str(policy), "--decision-log", str(log), "--json",
        *map(str, artifacts),
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr + log.read_text()


@pytest.mark.parametrize(
    "plant",
    [
        "symlink out",
        "secret inside",
        "secret in a field",
        "fifo",
        "socket",
        "directory",
        "symlink loop",
    ],
)
def test_planted_bundles_are_refused_without_reading_or_quoting_them(
    instance: LocalInstance, tmp_path: Path, plant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = make_release(instance, tmp_path / "dist")
    policy = write_policy(tmp_path / "policy.yaml", strict_policy(instance))
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    # the artifact's own bundle name: it concerns it (one named after nothing is listed)
    planted = release.dist / f"{release.wheel.name}.sigstore.json"
    planted.unlink()
    if plant == "symlink out":
        planted.symlink_to(secret)
        reason = "refused bundle: a symlink that leads out of its directory"
    elif plant == "secret inside":
        planted.write_text(SECRET)
        reason = "unparsable bundle: JSONDecodeError: Expecting value: line 1 column 1"
    elif plant == "secret in a field":  # the models' messages quote the value they refuse
        planted.write_text(json.dumps({"mediaType": SECRET}))
        reason = "unparsable bundle: InvalidBundle: mediaType: Input should be"
    elif plant in ("fifo", "socket"):
        if plant == "fifo":
            os.mkfifo(planted)
        else:
            listening = socket.socket(socket.AF_UNIX)
            monkeypatch.chdir(planted.parent)  # a socket's path is limited to 108 bytes
            listening.bind(planted.name)
            listening.close()
        reason = "refused bundle: is not a regular file (FIFO, socket, device), expected a file"
    elif plant == "symlink loop":
        planted.symlink_to(planted.name)  # itself
        reason = "refused bundle: cannot read it: Too many levels of symbolic links"
    else:
        planted.mkdir()
        reason = "refused bundle: is a directory, expected a file"
    code, said = _gate(release.dist, policy, tmp_path / "decisions.log", release.wheel)
    assert code == ExitCode.DENIED, said
    assert f"{planted.name}: {reason}" in said, said
    assert "not-a-bundle" not in said  # no line of what it points at, in output or log


def test_a_symlink_to_a_bundle_in_the_same_directory_counts(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    release = make_release(instance, tmp_path / "dist")
    policy = write_policy(tmp_path / "policy.yaml", strict_policy(instance))
    own = release.dist / f"{release.wheel.name}.sigstore.json"
    kept = release.dist / "store" / "wheel.bundle"
    kept.parent.mkdir()
    own.rename(kept)
    own.symlink_to(Path("store") / "wheel.bundle")
    result = invoke("verify", "--policy", str(policy), str(release.wheel))
    assert result.exit_code == ExitCode.OK, result.stderr


@pytest.mark.parametrize("artifact", ["fifo", "socket", "/dev/zero", "directory"])
def test_an_artifact_that_is_not_a_file_is_refused(
    instance: LocalInstance, tmp_path: Path, artifact: str
) -> None:
    release = make_release(instance, tmp_path / "dist")
    policy = write_policy(tmp_path / "policy.yaml", strict_policy(instance))
    path = Path(artifact) if artifact.startswith("/") else release.dist / artifact
    if artifact == "fifo":
        os.mkfifo(path)
    elif artifact == "socket":
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(str(path))
        listening.close()
    elif artifact == "directory":
        path.mkdir()
    log = tmp_path / "decisions.log"
    log.touch()
    code, said = _gate(release.dist, policy, log, path)
    assert code == ExitCode.USAGE, said
    kind = "a directory" if artifact == "directory" else "not a regular file"
    assert f"{path}: is {kind}" in said, said


# --- artifact names and --bundle-dir when signing ---------------------------------------------


def _sign_args(instance: LocalInstance, command: str) -> list[str]:
    token = instance.token("https://example.com/ci")
    return [command, "--trust-config", str(instance.trust_config), "--identity-token", token]


@pytest.mark.parametrize(
    ("command", "artifacts", "extra", "problem"),
    [
        ("sign", ["a/x.whl", "b/x.whl"], ["--bundle-dir", "out"],
         "a/x.whl and b/x.whl would both be signed into"),
        ("sign", ["a/x.whl", "a/../a/x.whl"], [], "would both be signed into"),
        ("sign", ["a/x.whl", "c/x.whl"], [], "would both be signed into"),  # c -> a
        ("sign", ["fifo.whl"], [], "fifo.whl: is not a regular file"),
        ("sign", ["/dev/zero"], [], "/dev/zero: is not a regular file"),
        ("sign", [".."], [], "..: is not a regular file"),
        ("sign", ["a/x.whl"], ["--bundle-dir", "a/x.whl"], "a/x.whl: is not a directory"),
        ("provenance", ["a/x.whl", "b/x.whl"], [],
         "a/x.whl and b/x.whl are both named 'x.whl'"),
        ("provenance", ["fifo.whl"], [], "fifo.whl: is not a regular file"),
        ("attest", ["a/x.whl"], ["--predicate", "sbom", "--sbom", "sbom.json",
                                  "--bundle-dir", "a/x.whl"], "a/x.whl: is not a directory"),
        ("attest", ["a/x.whl", "b/x.whl"], ["--predicate", "sbom", "--sbom", "sbom.json"],
         "are both named 'x.whl'"),
    ],
)  # fmt: skip
def test_signing_refuses_names_that_would_lose_or_confuse_a_bundle(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, command: str, artifacts: list[str], extra: list[str],
    problem: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "out"):
        (tmp_path / name).mkdir()
        if name != "out":
            (tmp_path / name / "x.whl").write_text(f"{name}'s wheel")
    (tmp_path / "c").symlink_to("a")
    os.mkfifo(tmp_path / "fifo.whl")
    (tmp_path / "sbom.json").write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6"}')
    result = invoke(*_sign_args(instance, command), *extra, *artifacts)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert problem in result.stderr
    assert not list(tmp_path.rglob("*.sigstore.json"))


def test_a_symlinked_artifact_is_signed_under_the_name_given(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path
) -> None:
    real = tmp_path / "store" / "blob"
    real.parent.mkdir()
    real.write_bytes(b"the wheel\n")
    link = tmp_path / "acme-1.0-py3-none-any.whl"
    link.symlink_to(real)
    result = invoke(*_sign_args(instance, "sign"), "--json", str(link))
    assert result.exit_code == ExitCode.OK, result.stderr
    [signed] = json.loads(result.stdout)["signed"]
    assert signed["bundle"] == f"{link}.sigstore.json"
    assert signed["sha256"] == hashlib.sha256(b"the wheel\n").hexdigest()
    assert not list(real.parent.glob("*.sigstore.json"))
