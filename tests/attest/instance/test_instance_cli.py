"""`attest instance up|status|token|down` through the CLI."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from attest.identity import unverified_claims
from attest.instance import lifecycle
from attest.instance.state import DEV_ORGANIZATION
from tests.conftest import run_attest
from verify.errors import ExitCode, UsageError

pytestmark = pytest.mark.network  # instances started through the CLI


def test_lifecycle_and_tokens(invoke: Callable[..., Result], tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = invoke("instance", "up", "--state", str(state), "--ttl", "300", "--json")
    try:
        assert up.exit_code == 0, up.stderr
        described = json.loads(up.stdout)
        assert described["running"] is True
        assert described["url"].startswith("http://127.0.0.1:")
        assert described["clock"]["shifted"] is False and "shifted clock" not in up.stderr
        root = json.loads(Path(described["trusted_root"]).read_text())
        # a development root: the gate refuses it unless a policy names it
        assert root["certificateAuthorities"][0]["subject"]["organization"] == DEV_ORGANIZATION
        config = json.loads(Path(described["trust_config"]).read_text())
        assert config["mediaType"] == "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
        assert (state / "keys" / "issuer.pem").stat().st_mode & 0o777 == 0o600
        assert state.stat().st_mode & 0o777 == 0o700

        again = invoke("instance", "up", "--state", str(state))
        assert again.exit_code == 0  # already running: reused
        status = json.loads(invoke("instance", "status", "--state", str(state), "--json").stdout)
        assert status["running"] is True and status["entries"] == 1

        token = invoke("instance", "token", "--state", str(state), "--subject", "a@example.com")
        claims = unverified_claims(token.stdout.strip())
        assert claims["sub"] == "a@example.com" and claims["aud"] == "sigstore"
        assert claims["iss"] == f"{described['url']}/oidc"
        assert token.stderr == ""

        github = invoke("instance", "token", "--state", str(state), "--github", "acme/web",
                        "--claims", '{"ref": "refs/tags/v2"}')  # fmt: skip
        claims = unverified_claims(github.stdout.strip())
        assert (
            claims["job_workflow_ref"] == "acme/web/.github/workflows/release.yml@refs/heads/main"
        )
        assert claims["ref"] == "refs/tags/v2" and claims["repository"] == "acme/web"

        moved = invoke("instance", "up", "--state", str(state), "--port", "1")
        assert moved.exit_code == ExitCode.USAGE
        assert "serves on port" in moved.stderr
    finally:
        down = invoke("instance", "down", "--state", str(state))
    assert down.exit_code == 0 and "instance stopped" in down.stderr
    assert "was not running" in invoke("instance", "down", "--state", str(state)).stderr
    stopped = json.loads(invoke("instance", "status", "--state", str(state), "--json").stdout)
    assert stopped["running"] is False


def test_token_usage_errors(invoke: Callable[..., Result], tmp_path: Path) -> None:
    not_state = invoke("instance", "token", "--state", str(tmp_path), "--subject", "a@b.c")
    assert not_state.exit_code == ExitCode.USAGE
    assert "is not an instance state directory" in not_state.stderr
    bad_claims = invoke("instance", "token", "--state", str(tmp_path), "--subject", "a@b.c",
                        "--claims", "{nope")  # fmt: skip
    assert bad_claims.exit_code == ExitCode.USAGE
    assert "--claims is not JSON" in bad_claims.stderr
    no_subject = invoke("instance", "token", "--state", str(tmp_path))
    assert no_subject.exit_code == ExitCode.USAGE
    assert "give --subject" in no_subject.stderr


def test_port_taken_at_restart(invoke: Callable[..., Result], tmp_path: Path) -> None:
    import socket

    state = tmp_path / "state"
    first = json.loads(
        invoke("instance", "up", "--state", str(state), "--json", "--ttl", "60").stdout
    )
    invoke("instance", "down", "--state", str(state))
    port = int(first["url"].rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = invoke("instance", "up", "--state", str(state), "--ttl", "60")
    assert result.exit_code == ExitCode.OPERATIONAL
    assert f"the instance did not start on {first['url']}" in result.stderr
    assert "Address already in use" in result.stderr


def test_a_shifted_clock_is_said_and_kept_across_restarts(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    state = tmp_path / "state"

    def up(*args: str) -> Result:
        return invoke("instance", "up", "--state", str(state), "--ttl", "120", *args)

    def clock() -> dict[str, object]:
        status = invoke("instance", "status", "--state", str(state), "--json")
        described: dict[str, object] = json.loads(status.stdout)["clock"]
        return described

    try:
        first = up("--clock", "2026-07-15T00:00:00Z", "--json")
        assert first.exit_code == 0, first.stderr
        assert json.loads(first.stdout)["clock"]["shifted"] is True
        assert "on a shifted clock at 2026-07-15T00:00:0" in first.stderr
        assert "behind the real one: what it signs is dated in the past" in first.stderr
        status = invoke("instance", "status", "--state", str(state))
        assert "running" in status.stdout and "on a shifted clock at 2026-07-15T" in status.stdout
        offset = clock()["offset_seconds"]
        running = up("--clock", "2026-07-20T00:00:00Z")
        assert running.exit_code == ExitCode.USAGE
        assert "is running on its clock: run `attest instance down` first" in running.stderr

        artifact = tmp_path / "a.txt"
        artifact.write_text("a\n")
        token = invoke("instance", "token", "--state", str(state), "--subject", "a@b.c").stdout
        signed = invoke("sign", "--trust-config", str(state / "trust_config.json"),
                        "--identity-token", token.strip(), str(artifact))  # fmt: skip
        assert signed.exit_code == 0, signed.stderr

        invoke("instance", "down", "--state", str(state))
        assert up().exit_code == 0  # a restart keeps the clock
        assert clock()["offset_seconds"] == offset
        assert str(clock()["now"]).startswith("2026-07-15T")
        invoke("instance", "down", "--state", str(state))
        refusals = {
            "2026-07-14T00:00:00Z": "its CA and trust root start 2026-07-14T23:00:0",
            "2026-07-14T23:30:00Z": "its log's last entry is dated 2026-07-15T00:00:",
            "2099-01-01T00:00:00Z": "--clock 2099-01-01T00:00:00Z is in the future",
            "yesterday": "--clock 'yesterday' is not a time",
        }
        for given, reason in refusals.items():
            refused = up("--clock", given)
            assert refused.exit_code == ExitCode.USAGE, given
            assert reason in refused.stderr, (given, refused.stderr)
        assert clock()["offset_seconds"] == offset  # nothing changed
        real = up("--clock", "now")
        assert real.exit_code == 0 and "on a shifted clock" not in real.stderr
        described = clock()  # once: two readings may fall in different seconds
        assert described == {**described, "offset_seconds": 0, "shifted": False}
    finally:
        invoke("instance", "down", "--state", str(state))


def _prepared(tmp_path: Path) -> Path:
    """A state directory as `instance up` leaves it, without starting a server."""
    state = tmp_path / "state"
    lifecycle.prepare(state, None)
    return state


@pytest.mark.parametrize(("mode", "can"), [(0o755, "read"), (0o750, "read"), (0o702, "replace")])
def test_a_state_directory_others_can_use_is_refused(
    invoke: Callable[..., Result], tmp_path: Path, mode: int, can: str
) -> None:
    """Threat I6: others could read the private keys or replace the CA (ssh's rule for keys)."""
    state = _prepared(tmp_path)
    state.chmod(mode)
    for command in (["token", "--subject", "a@b.c"], ["status"], ["down"]):
        result = invoke("instance", command[0], "--state", str(state), *command[1:])
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert f"{state} has mode {mode:04o}: others can {can} the instance's" in result.stderr
        assert f"run `chmod 700 {state}`" in result.stderr
        assert not result.stdout
    with pytest.raises(UsageError, match=re.escape(f"{state} has mode {mode:04o}")):
        lifecycle.prepare(state, None)  # what `instance up` runs first, before any server
    state.chmod(0o700)
    fixed = invoke("instance", "token", "--state", str(state), "--subject", "a@b.c")
    assert fixed.exit_code == 0, fixed.stderr
    assert unverified_claims(fixed.stdout.strip())["sub"] == "a@b.c"


def test_an_open_directory_is_not_made_a_state_directory(tmp_path: Path) -> None:
    """Keys planted in it would be used, not replaced. (`prepare` is what `instance up` runs
    first; called directly, no server can be left running if the refusal regresses.)"""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    with pytest.raises(UsageError, match=re.escape(f"{state} has mode 0777: others can replace")):
        lifecycle.prepare(state, None)
    assert list(state.iterdir()) == []


def test_an_empty_directory_only_we_can_write_is_made_private(tmp_path: Path) -> None:
    """`mkdir state` (0755 under the usual umask), then `instance up`: nothing in it to distrust."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    lifecycle.prepare(state, None)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert (state / "instance.json").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_state_directory_of_another_user_is_refused(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    state = _prepared(tmp_path)
    os.chown(state, 65534, -1)
    result = invoke("instance", "token", "--state", str(state), "--subject", "a@b.c")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert f"{state} belongs to uid 65534, not to you (uid 0)" in result.stderr
    assert not result.stdout


@pytest.mark.parametrize(
    ("plant", "command", "reason"),
    [
        ("instance.json", "status", "is not a regular file (FIFO, socket, device)"),
        ("keys/issuer.pem", "status", "is not a regular file (FIFO, socket, device)"),
        ("ca/root.pem", "token", "is a directory, expected a file"),
        ("log/entries.jsonl", "up", "is not a regular file (FIFO, socket, device)"),
        ("log/entries.jsonl", "up", "line 1 is over the 4 MiB limit"),
        ("log/entries.jsonl", "up", "line 2 is not a record of the log"),
    ],
)
def test_the_state_files_are_read_as_regular_files_within_limits(
    tmp_path: Path, plant: str, command: str, reason: str
) -> None:
    """The state is private, but a FIFO, a device, a directory or a 2 GiB line there is one
    line naming the file (exit 2), never a hang or the whole file in memory."""
    state_dir = tmp_path / "state"
    lifecycle.prepare(state_dir, None)
    path = state_dir / plant
    path.unlink(missing_ok=True)  # the log is made by the first start
    if "directory" in reason:
        path.mkdir()
    elif "over the" in reason:
        with path.open("wb") as handle:
            handle.truncate(2 << 30)  # one line of 2 GiB, taking no disk
    elif "not a record" in reason:
        path.write_text('{"body": "", "integratedTime": 1}\n["not", "a", "record"]\n')
    elif plant.endswith(".pem"):
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    args = {"status": [], "token": ["--subject", "a@example.com"]}.get(command, [
        "--clock", "2020-01-01T00:00:00Z", "--ttl", "5"])  # fmt: skip
    done = run_attest("instance", command, "--state", str(state_dir), *args)
    assert done.returncode == ExitCode.USAGE, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"attest: error: {path}: {reason}"), line


def test_a_pid_file_that_is_a_fifo_does_not_hang_status(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    lifecycle.prepare(state_dir, None)
    os.mkfifo(state_dir / "instance.pid")
    done = run_attest("instance", "status", "--state", str(state_dir), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["running"] is False


def test_a_state_directory_that_cannot_be_made_is_a_usage_error(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """`--state /proc/x` was exit 3, `No such file or directory`."""
    (tmp_path / "file").write_text("")
    state = tmp_path / "file" / "state"
    result = invoke("instance", "up", "--state", str(state))
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.splitlines() == [
        f"attest: error: --state {state}: cannot create the state directory (Not a directory): "
        "name a directory you can write to"
    ]
