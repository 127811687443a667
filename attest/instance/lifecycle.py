"""Starting, stopping and inspecting an instance: `up` creates or reuses the state directory and
runs the server (in the background by default), `down` stops it, `status` describes it.

`up --clock T` shifts the instance's clock into the past: its time is T when it starts and then
advances with the real clock (a fixed offset, kept in the state for restarts). It exists so that
demos and tests can produce evidence dated in the past (the example advisories are from July
2026); the instance is a development tool, and its root is refused by the gate unless a policy
names it. What the instance dates follows its clock: the certificates' notBefore, the SCTs, the
log's integrated times, and the CA and trust root of a state created on it. Identity tokens stay
on the real clock, because the clients that carry them check them there."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from attest.instance.log import newest_time
from attest.instance.state import (
    DEFAULT_REKOR_VERSION,
    HOST,
    REAL_TIME,
    TRUST_CONFIG,
    TRUSTED_ROOT,
    State,
    create_state,
    load_state,
    require_private,
    set_clock_offset,
    set_rekor_version,
    stamp,
    utcnow,
)
from attest.instance.trust import write_trust_files
from verify.errors import OperationalError, UsageError
from verify.files import open_regular, read_limited

START_TIMEOUT = 15.0  # seconds for a background server to answer its health check
STOP_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Status:
    state_dir: Path
    url: str
    running: bool
    pid: int | None
    entries: int | None
    clock_offset: datetime.timedelta = REAL_TIME

    @property
    def now(self) -> datetime.datetime:
        """The instance's time (the real time unless its clock is shifted)."""
        return utcnow() + self.clock_offset

    @property
    def trust_config(self) -> Path:
        return self.state_dir / TRUST_CONFIG

    @property
    def trusted_root(self) -> Path:
        return self.state_dir / TRUSTED_ROOT


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def clock_offset(clock: datetime.datetime) -> datetime.timedelta:
    """The whole seconds from the real clock to `clock` (rounded up: the instance's time never
    starts before `clock`), which must not be in the future: Sigstore clients refuse a trust
    root that starts after their (real) now."""
    offset = datetime.timedelta(seconds=math.ceil((clock - utcnow()).total_seconds()))
    if offset > REAL_TIME:
        raise UsageError(
            f"--clock {stamp(clock)} is in the future: the shifted clock only dates "
            "evidence in the past (clients refuse a trust root that starts after their now)"
        )
    return offset


def _check_clock(state: State, offset: datetime.timedelta) -> None:
    """An existing state's clock may not start before its own trust root (signatures dated
    then would not chain to its CA), nor before its log's last entry (time runs forward)."""
    start = utcnow() + offset
    limits = [(state.valid_from, "its CA and trust root start")]
    if (newest := newest_time(state)) is not None:
        limits.append((newest, "its log's last entry is dated"))
    for limit, what in limits:
        if start < limit:
            raise UsageError(
                f"{state.directory}: {what} {stamp(limit)}, after --clock {stamp(start)}; "
                "use a new state directory for an earlier clock"
            )


def prepare(
    state_dir: Path,
    port: int | None,
    clock: datetime.datetime | None = None,
    rekor_version: int | None = None,
) -> State:
    """Load the state, or create it (bound to `port`, or a free one) on first use; `clock`
    sets the instance's time, `rekor_version` the log version its signing config announces
    (each kept for restarts; None keeps the state's)."""
    offset = None if clock is None else clock_offset(clock)
    if (state_dir / "instance.json").exists():
        state = load_state(state_dir)
        if port not in (None, state.port):
            raise UsageError(
                f"{state_dir} serves on port {state.port} (its trust root names that URL); "
                f"drop --port or use a new state directory"
            )
        if offset is not None and offset != state.clock_offset:
            _check_clock(state, offset)
            state = set_clock_offset(state, offset)
        if rekor_version not in (None, state.rekor_version):
            state = set_rekor_version(state, rekor_version)
    else:
        version = rekor_version or DEFAULT_REKOR_VERSION
        state = create_state(state_dir, port or _free_port(), offset or REAL_TIME, version)
    write_trust_files(state)
    return state


def _pid_file(state_dir: Path) -> Path:
    return state_dir / "instance.pid"


def _running_pid(state_dir: Path) -> int | None:
    try:
        pid = int(read_limited(_pid_file(state_dir), 64, "a pid file").strip())
    except (OSError, ValueError):  # ValueError: not a number, not a regular file, too large
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _health(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:  # noqa: S310 - loopback
            data: dict[str, object] = json.loads(answer.read(1 << 16))  # maybe not ours
            return data
    except (OSError, ValueError, RecursionError):  # URLError is an OSError
        return None


def status(state_dir: Path) -> Status:
    state = load_state(state_dir)
    pid = _running_pid(state_dir)
    health = _health(state.base_url) if pid else None
    entries = health.get("entries") if health else None
    return Status(
        state_dir, state.base_url, health is not None, pid,
        entries if isinstance(entries, int) else None, state.clock_offset,
    )  # fmt: skip


def up(
    state_dir: Path,
    port: int | None,
    ttl: float | None,
    clock: datetime.datetime | None = None,
    rekor_version: int | None = None,
) -> Status:
    """Start the server in the background (a detached process) and wait until it answers."""
    changing = (clock, rekor_version) != (None, None)
    if changing and (state_dir / "instance.json").exists() and status(state_dir).running:
        what = "clock" if clock is not None else "Rekor version"
        raise UsageError(
            f"the instance of {state_dir} is running on its {what}: run "
            "`attest instance down` first to set another"
        )
    state = prepare(state_dir, port, clock, rekor_version)
    current = status(state_dir)
    if current.running:
        return current
    command = [sys.executable, "-m", "attest.instance.daemon", "--state", str(state_dir)]
    if ttl is not None:
        command += ["--ttl", str(ttl)]
    log_path = state_dir / "instance.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    _pid_file(state_dir).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _health(state.base_url) is not None:
            return status(state_dir)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    tail = _tail(log_path).strip().splitlines()[-3:]
    raise OperationalError(
        f"the instance did not start on {state.base_url}: {' | '.join(tail) or 'no output'} "
        f"(see {log_path})"
    )


def _tail(log_path: Path, size: int = 1 << 16) -> str:
    """The end of the instance's log, however long it has grown."""
    with open_regular(log_path) as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - size))
        return handle.read(size).decode(errors="replace")


def down(state_dir: Path) -> bool:
    """Stop the background server; False when it was not running."""
    if state_dir.exists():  # a pid file others could write would choose whom we signal
        require_private(state_dir)
    pid = _running_pid(state_dir)
    if pid is None:
        _pid_file(state_dir).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _running_pid(state_dir) is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _running_pid(state_dir) is not None:
        raise OperationalError(f"instance process {pid} did not stop within {STOP_TIMEOUT} s")
    _pid_file(state_dir).unlink(missing_ok=True)
    return True
