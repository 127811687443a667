"""`attest build`'s command, run: its output saved whole to a log and relayed line by line to a
person as it comes (escaped: it is text from the build's tools and dependencies), its process
group killed at the timeout and when it ends; and which product files the run created or
changed, from a snapshot of their metadata taken before it."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from verify.errors import OperationalError, UsageError
from verify.policy import MAX_DURATION, PolicyError, duration, human
from verify.text import excerpt, quoted, shown

TIMEOUT = datetime.timedelta(hours=1)  # `attest build --timeout`'s default
MAX_LINE = 2000  # characters of one output line relayed to a person; the log keeps them all
_CHUNK = 1 << 20  # bytes read per poll: a chatty build cannot keep the timeout from firing
_POLL = 0.1  # seconds between reads of the log: how late a line may reach the person
_ENDS = re.compile(rb"\r\n|\r|\n")  # a carriage return ends a line too (progress bars)

Echo = Callable[[str], None]


def timeout_of(text: str) -> datetime.timedelta:
    """`--timeout`: a duration as policies write it (`30m`, `2h`, `1d`) or whole seconds."""
    if text.isascii() and text.isdigit():
        seconds = text.lstrip("0")
        limit = int(MAX_DURATION.total_seconds())
        if len(seconds) > len(str(limit)) or int(seconds or 0) > limit:
            raise UsageError(f"--timeout: {excerpt(text)} seconds is over 1000 years")
        span = datetime.timedelta(seconds=int(seconds or 0))
    else:
        try:
            span = duration(text, f"--timeout {quoted(text)}")
        except PolicyError as e:
            raise UsageError(f"{e} (or whole seconds, such as 900)") from e
    if not span:
        raise UsageError("--timeout: 0 would stop the build before it starts; give a duration")
    return span


def spoken(span: datetime.timedelta) -> str:
    """A timeout as a person reads it: `1h`, `90m`, or seconds when not whole minutes."""
    seconds = int(span.total_seconds())
    return human(span) if seconds % 60 == 0 else f"{seconds} s"


@contextlib.contextmanager
def log_file(path: Path | None) -> Iterator[tuple[Path, int]]:
    """The log (a new private file in the temp directory unless named), opened for the build to
    write: its path and descriptor. The output may hold secrets, so only the user may read it."""
    if path is None:
        fd, name = tempfile.mkstemp(prefix="attest-build-", suffix=".log")
        path = Path(name)
    else:
        try:
            # non-blocking: a FIFO without a reader is refused, not waited on
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o600)
        except OSError as e:
            raise UsageError(f"--log {shown(path)}: cannot write it: {e.strerror}") from e
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # it is read back while the build runs
            os.close(fd)
            raise UsageError(f"--log {shown(path)}: not a regular file")
        os.ftruncate(fd, 0)
    try:
        yield path, fd
    finally:
        os.close(fd)


class _Relay:
    """The log's finished lines, each escaped, cut to MAX_LINE and passed to `echo` with the
    step's prefix, so a build's line cannot pass for one of attest's or move the cursor."""

    def __init__(self, source: BinaryIO, echo: Echo | None, prefix: str) -> None:
        self.source, self.echo, self.prefix = source, echo, prefix
        self.pending = b""

    def pump(self, *, final: bool = False) -> None:
        """Relay what one read brings; at the end, everything up to the log's size then."""
        if self.echo is None:
            return
        end = os.fstat(self.source.fileno()).st_size
        while chunk := self.source.read(min(_CHUNK, max(0, end - self.source.tell()))):
            self._relay(self.pending + chunk, final=False)
            if not final:
                return
        if final and self.pending:
            self._relay(self.pending, final=True)

    def _relay(self, data: bytes, *, final: bool) -> None:
        assert self.echo is not None
        held = 1 if data.endswith(b"\r") and not final else 0  # maybe the half of a \r\n
        *lines, rest = _ENDS.split(data[: len(data) - held])
        self.pending = rest + data[len(data) - held :]
        if self.pending and (final or len(self.pending) > 4 * MAX_LINE):  # no line end in sight
            lines.append(self.pending)
            self.pending = b""
        for line in lines:
            self.echo(self.prefix + excerpt(line.decode("utf-8", "backslashreplace"), MAX_LINE))


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the build's process group (the leader started it: its id is the
    group's, and stays reserved while any member lives)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.kill()  # in case the group could not be signalled; nothing once it has ended
    process.wait()


def run(
    command: Sequence[str],
    *,
    cwd: Path,
    log: tuple[Path, int],
    timeout: datetime.timedelta,
    echo: Echo | None,
    prefix: str,
) -> int:
    """Run `command` in a process group of its own, stdin closed, stdout and stderr both into
    the log; relay its lines to `echo` while it runs; return its exit status. At the timeout, on
    ^C or on any error, and when it ends, the whole group is killed: nothing it started writes
    to the products after they are recorded."""
    path, fd = log
    environ = {"PYTHONUNBUFFERED": "1", **os.environ}  # Python tools print as they go
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as e:
        raise UsageError(f"cannot run the build command {quoted(command[0])}: {e.strerror}") from e
    deadline = time.monotonic() + timeout.total_seconds()
    with path.open("rb") as source:
        relay = _Relay(source, echo, prefix)
        try:
            while (returned := _poll(process)) is None and time.monotonic() < deadline:
                relay.pump()
        finally:
            _end_group(process)
            relay.pump(final=True)
    if returned is None:
        raise OperationalError(
            f"the build command ran past its timeout of {spoken(timeout)} (--timeout): its "
            f"process group was killed and no link was written; its output is in {shown(path)}"
        )
    return returned


def ended(returned: int) -> str:
    """How the command ended, for a message: `exited 4`, `was killed by SIGKILL`."""
    if returned >= 0:
        return f"exited {returned}"
    try:
        return f"was killed by {signal.Signals(-returned).name}"
    except ValueError:
        return f"was killed by signal {-returned}"


def _poll(process: subprocess.Popen[bytes]) -> int | None:
    """The exit status, or None when the command still runs after one poll interval."""
    try:
        return process.wait(timeout=_POLL)
    except subprocess.TimeoutExpired:
        return None


Stamp = tuple[int, int, int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        found = path.stat()
    except OSError:
        return None
    # ctime as well as mtime: a tool that puts a file's old mtime back (`cp -p`, `touch -r`)
    # cannot put back its ctime, so a file rewritten that way still counts as changed
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def snapshot(base: Path, paths: Iterable[Path]) -> dict[Path, Stamp]:
    """Every file at or under `paths` (directories walked, links followed, as in-toto records
    products), by its real path."""
    found: dict[Path, Stamp] = {}
    for path in paths:
        top = base / path
        walked: Iterable[tuple[str, list[str], list[str]]] = (
            os.walk(top, followlinks=True) if top.is_dir() else [(str(top.parent), [], [top.name])]
        )
        for folder, _dirs, files in walked:
            for name in files:
                real = (Path(folder) / name).resolve()
                if (stamp := _stamp(real)) is not None:
                    found[real] = stamp
    return found


def changed(base: Path, names: Iterable[str], before: dict[Path, Stamp]) -> set[str]:
    """Those of `names` (relative to `base`) the run created or changed: stale files left from
    an earlier build are not its products."""
    return {name for name in names if _stamp(real := (base / name).resolve()) != before.get(real)}


def same_file(base: Path, names: Iterable[str], other: Path) -> set[str]:
    """Those of `names` that are `other` (the build's log, when written among the products)."""
    return {name for name in names if (base / name).resolve() == other.resolve()}
