"""Faults during sign and provenance (issue 8): the instance down, failing, slow, truncating
or answering wrongly (or wrongly signed), and an output directory that refuses writes or is full
(simulated: the tests run as root, who may write anywhere). Every case: exit 3, a message naming
what failed and what to retry, no partial file, and the token nowhere in the output."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest import retry
from attest.sign import session
from tests import stubs
from tests.conftest import REPO, LocalInstance
from tests.loopback import unused_port
from verify.errors import ExitCode

CI = "https://example.com/ci"


def _dist(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "acme_web-1.4.0-py3-none-any.whl", tmp_path / "acme_web-1.4.0.tar.gz"]
    for path in paths:
        path.write_bytes(path.name.encode())
    return paths


def _sbom(tmp_path: Path) -> Path:
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}')
    return sbom


COMMANDS = {
    "sign": lambda dist, tmp: ["sign", *map(str, dist)],
    "provenance": lambda dist, tmp: ["provenance", "--allow-dirty", *map(str, dist)],
    "attest": lambda dist, tmp: [
        "attest",
        "--predicate",
        "sbom",
        "--sbom",
        str(_sbom(tmp)),
        *map(str, dist),
    ],
}


def _left_behind(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".sigstore.json", ".tmp")))


def _run(invoke: Callable[..., Result], command: str, config: Path, token: str, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Result:  # fmt: skip
    monkeypatch.chdir(REPO)  # provenance needs a git checkout
    args = COMMANDS[command](_dist(tmp_path), tmp_path)
    return invoke(*args[:1], "--trust-config", str(config), "--identity-token", token, *args[1:])


def _failed_cleanly(result: Result, token: str, tmp_path: Path) -> None:
    """Exit 3, no bundle or temporary file left, and the token nowhere in the output."""
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    assert _left_behind(tmp_path) == []
    assert token not in result.stdout + result.stderr


Through = Callable[[stubs.Respond], Result]


@pytest.fixture
def through(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, command: str,
) -> Through:  # fmt: skip
    """Runs the test's `command` through a proxy in front of the instance that answers with
    `respond`, and checks that it failed cleanly."""

    def run(respond: stubs.Respond) -> Result:
        token = instance.token(CI)
        with stubs.serve(respond, upstream=instance.url) as url:
            config = stubs.trust_config_via(instance.trust_config, url, tmp_path / "proxy.json")
            result = _run(invoke, command, config, token, tmp_path, monkeypatch)
        _failed_cleanly(result, token, tmp_path)
        return result

    return run


@pytest.mark.parametrize("command", COMMANDS)
def test_instance_down(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, command: str,
) -> None:  # fmt: skip
    config = stubs.trust_config_via(
        instance.trust_config, f"http://127.0.0.1:{unused_port()}", tmp_path / "down.json"
    )
    token = instance.token(CI)
    result = _run(invoke, command, config, token, tmp_path, monkeypatch)
    _failed_cleanly(result, token, tmp_path)
    assert (
        "the CA (certificate request) failed after 3 attempt(s): ConnectionError" in result.stderr
    )
    assert "retry later" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", ["500", "garbage", "truncated"])
def test_log_failing(through: Through, kind: str) -> None:
    result = through(stubs.fault("/api/v1/log/entries", kind))
    assert "the transparency log failed" in result.stderr and "retry later" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_log_too_slow(through: Through, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "RETRY", retry.Policy(attempts=1, deadline=1.0))
    result = through(stubs.fault("/api/v1/log/entries", "slow"))
    assert "the transparency log did not answer within 1 s" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("field", ["inclusion proof", "signed entry timestamp"])
def test_a_wrong_or_wrongly_signed_log_answer(
    through: Through, instance: LocalInstance, field: str
) -> None:
    """sigstore-python does not check the log's answer when signing: attest's self-check must."""
    result = through(stubs.corrupt_log_answers(instance.url, field))
    assert "does not verify" in result.stderr and ": retry, and if it persists" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_certificate_the_ca_did_not_sign(through: Through, instance: LocalInstance) -> None:
    result = through(stubs.wrongly_signed_certificates(instance.url))
    assert "does not verify" in result.stderr and ": retry, and if it persists" in result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("where", "error", "message"),
    [
        ("fsync", errno.ENOSPC, "No space left on device"),
        ("open", errno.EACCES, "Permission denied"),
    ],
)
def test_output_directory_full_or_read_only(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, command: str, where: str, error: int, message: str,
) -> None:  # fmt: skip
    import attest.output

    real_open = os.open

    def refuse(*args: object, **kwargs: object) -> object:
        raise OSError(error, os.strerror(error))

    def refuse_temporary(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith(".tmp"):
            raise OSError(error, os.strerror(error))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(attest.output.os, where, refuse if where == "fsync" else refuse_temporary)
    token = instance.token(CI)
    result = _run(invoke, command, instance.trust_config, token, tmp_path, monkeypatch)
    _failed_cleanly(result, token, tmp_path)
    assert f"cannot write {tmp_path}" in result.stderr
    assert message in result.stderr and "then run the command again" in result.stderr
