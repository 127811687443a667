"""`attest build`'s command, run: its output saved whole to a log and relayed line by line to a
person as it comes (escaped: it is text from the build's tools and dependencies), its process
group killed at the timeout and when it ends, and on Linux every process it started that left
the group as well (attest adopts them as their child subreaper)."""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from verify.errors import OperationalError, UsageError
from verify.text import excerpt, quoted, shown
from verify.timeouts import spoken

TIMEOUT = datetime.timedelta(hours=1)  # `attest build --timeout`'s default
MAX_LINE = 2000  # characters of one output line relayed to a person; the log keeps them all
_CHUNK = 1 << 20  # bytes read per poll: a chatty build cannot keep the timeout from firing
_POLL = 0.1  # seconds between reads of the log: how late a line may reach the person
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37  # linux/prctl.h
_ENDS = re.compile(rb"\r\n|\r|\n")  # a carriage return ends a line too (progress bars)

Echo = Callable[[str], None]


@contextlib.contextmanager
def log_file(path: Path | None) -> Iterator[tuple[Path, int]]:
    """The log (a new private file in the temp directory unless named), opened for the build to
    write: its path and descriptor. The output may hold secrets, so only the user may read it."""
    created = path is None
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
    except UsageError:  # the command never started: there is no output to keep
        if created:
            path.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


class _Relay:
    """One stream's finished lines, each escaped, cut to MAX_LINE and passed to `echo` with the
    step's prefix, so a build's line cannot pass for one of attest's or move the cursor. Each
    stream has its own: a line stdout has not finished is not joined to stderr's."""

    def __init__(self, echo: Echo | None, prefix: str) -> None:
        self.echo, self.prefix = echo, prefix
        self.pending = b""

    def feed(self, data: bytes, *, final: bool = False) -> None:
        """Relay the lines `data` finishes; at the end, the unfinished one too."""
        if self.echo is None:
            return
        data = self.pending + data
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


def _prctl() -> Callable[..., int] | None:
    """Linux's prctl(2), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def _adopting() -> Iterator[set[int]]:
    """While the build runs, attest is its orphans' parent (Linux's child subreaper): a process
    it starts that leaves its group (`setsid`, a daemon's double fork) is reparented to attest,
    not to init, so attest can find it and end it. Yields the children attest had before."""
    prctl = _prctl()
    if prctl is None:  # elsewhere only the process group is killed
        yield set()
        return
    was = ctypes.c_int(0)
    prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0)
    before = _children()
    prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield before
    finally:
        prctl(_PR_SET_CHILD_SUBREAPER, was.value, 0, 0, 0)


def _children() -> set[int]:
    """The ids of attest's child processes (from /proc; none where there is no /proc)."""
    found = set()
    me = str(os.getpid())
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    # the fields after the command's name, in parentheses: state, parent id
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if fields[1] == me:
                        found.add(int(entry.name))
    return found


def _end_strays(before: set[int], echo: Echo | None) -> None:
    """Kill every process the build left running that attest adopted, until none is left (a
    killed one's children are adopted in turn). One that cannot be killed refuses the build."""
    ended: set[int] = set()
    while strays := _children() - before:
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # reaped: it is attest's child now
        if (left := _children() - before) & strays:
            raise OperationalError(
                f"the build left processes attest cannot end ({', '.join(map(str, sorted(left)))})"
                "; they could change the products after they are recorded: no link was written"
            )
        ended |= strays
    if ended and echo is not None:
        echo(
            f"attest: the build left {len(ended)} process(es) running outside its process group; "
            "killed before the products were recorded"
        )


def _follow(
    process: subprocess.Popen[bytes], log: int, relays: dict[int, _Relay], deadline: float
) -> int | None:
    """Copy the build's output to the log and the person as it comes until the command ends
    (its exit status) or the deadline passes (None)."""
    with selectors.DefaultSelector() as selector:
        for fd in relays:
            selector.register(fd, selectors.EVENT_READ)
        while process.poll() is None and time.monotonic() < deadline:
            if not selector.get_map():  # both streams closed: wait for the command alone
                _poll(process)
                continue
            for key, _ in selector.select(timeout=_POLL):
                if not _copy(key.fd, log, relays):
                    selector.unregister(key.fd)
    return process.poll()


def _copy(fd: int, log: int, relays: dict[int, _Relay]) -> bool:
    """One read of `fd` into the log and its relay; False at its end (or nothing to read yet
    from a pipe made non-blocking)."""
    try:
        data = os.read(fd, _CHUNK)
    except BlockingIOError:
        return False
    view = memoryview(data)
    while view:
        view = view[os.write(log, view) :]
    relays[fd].feed(data)
    return bool(data)


def run(
    command: Sequence[str],
    *,
    cwd: Path,
    log: tuple[Path, int],
    timeout: datetime.timedelta,
    echo: Echo | None,
    prefix: str,
) -> int:
    """Run `command` in a process group of its own, stdin closed, stdout and stderr copied to
    the log and relayed to `echo` (each stream's lines apart) while it runs; return its exit
    status. At the timeout, on ^C or on any error, and when it ends, the whole group is killed,
    and on Linux every process it started that left the group too: nothing it started writes to
    the products after they are recorded."""
    path, fd = log
    environ = {"PYTHONUNBUFFERED": "1", **os.environ}  # Python tools print as they go
    with _adopting() as before:
        try:
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as e:
            raise UsageError(
                f"cannot run the build command {quoted(command[0])}: {e.strerror}"
            ) from e
        assert process.stdout is not None and process.stderr is not None
        streams = (process.stdout, process.stderr)
        relays = {stream.fileno(): _Relay(echo, prefix) for stream in streams}
        try:
            returned = _follow(process, fd, relays, time.monotonic() + timeout.total_seconds())
        finally:
            _end_group(process)
            _end_strays(before, echo)
            for stream in streams:  # what is left in the pipes, without waiting on a writer
                os.set_blocking(stream.fileno(), False)
                while _copy(stream.fileno(), fd, relays):
                    pass
                relays[stream.fileno()].feed(b"", final=True)
                stream.close()
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
