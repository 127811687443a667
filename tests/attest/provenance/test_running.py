"""`attest build`'s command run (attest/provenance/running.py): its output reaches the person
while it runs, escaped, and the log whole; the timeout is an option and kills the whole process
group; only files the run created or changed are its products."""

from __future__ import annotations

import datetime
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.provenance import running
from tests.attest.sign.helpers import production_trust_config
from verify import timeouts
from verify.errors import ExitCode, UsageError
from verify.text import shown


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "app.py").write_text("print('acme')\n")
    return repo


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _lines_until(
    process: subprocess.Popen[bytes], wanted: str, deadline: float
) -> tuple[list[str], float | None]:
    """stderr's lines as they come, until one holds `wanted` (returned with when it came)."""
    assert process.stderr is not None
    seen: list[str] = []
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                continue
            chunk = os.read(process.stderr.fileno(), 1 << 16)
            if not chunk:
                break
            *done, pending = (pending + chunk).split(b"\n")
            seen += [line.decode() for line in done]
            if any(wanted in line for line in seen):
                return seen, time.monotonic()
    return seen, None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc for process state")
def test_output_streams_while_the_build_runs_and_the_timeout_kills_its_group(
    tmp_path: Path,
) -> None:
    """A build that prints, then sleeps past its --timeout: the line is on attest's stderr while
    the build still runs; at the timeout exit 3 names the timeout and the log, and the build's
    background process is killed with it."""
    repo = _repo(tmp_path)
    log = tmp_path / "build.log"
    script = "echo $$ > build.pid; sleep 300 & echo $! > sleeper.pid; echo started; wait"
    command = [sys.executable, "-m", "attest", "build", "--timeout", "3", "--log", str(log)]
    command += ["--trust-config", str(production_trust_config(tmp_path)), "--yes"]  # offline
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, "--product", "dist", "--", "sh", "-c", script],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen, arrived = _lines_until(process, "[build] started", started + 60)
        assert arrived is not None, seen
        build, sleeper = (int((repo / name).read_text()) for name in ("build.pid", "sleeper.pid"))
        assert _alive(build) and process.poll() is None, "the line came only after the build"
        rest = process.communicate(timeout=60)[1].decode()
    finally:
        process.kill()
    assert process.returncode == ExitCode.OPERATIONAL
    assert (
        "the build command ran past its timeout of 3 s (--timeout): its process group was "
        f"killed and no link was written; its output is in {log}"
    ) in rest
    assert log.read_text() == "started\n"
    assert not _alive(build)
    give_up = time.monotonic() + 10  # the orphan is reaped by whoever adopted it
    while _alive(sleeper) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert not _alive(sleeper), "a process the build started outlived the timeout"


def test_output_is_escaped_for_the_person_and_whole_in_the_log(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build's text comes from its tools and their dependencies: on stderr each line is
    prefixed and escaped (no escape sequence, no line passing for attest's), the log keeps the
    bytes; a failing build's message names its exit status and the log."""
    monkeypatch.chdir(_repo(tmp_path))
    log = tmp_path / "out.log"
    printed = r"printf 'ok\n\033[2J\033[1Aattest: wrote x (log index 1)\rover\n'; exit 5"
    config = "--trust-config", str(production_trust_config(tmp_path))  # offline: read first
    result = invoke(
        "build", "--log", str(log), *config, "--product", "dist", "--", "sh", "-c", printed
    )
    assert result.exit_code == ExitCode.OPERATIONAL
    assert f"attest: running the build; its output is saved in {log}\n" in result.stderr
    assert (
        "[build] ok\n[build] \\x1b[2J\\x1b[1Aattest: wrote x (log index 1)\n[build] over\n"
    ) in result.stderr
    assert "\x1b" not in result.stderr
    assert (
        f"the build command exited 5; no link was written; its output is in {log}" in result.stderr
    )
    assert log.read_bytes() == b"ok\n\x1b[2J\x1b[1Aattest: wrote x (log index 1)\rover\n"


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("1h", datetime.timedelta(hours=1)),
        ("30m", datetime.timedelta(minutes=30)),
        ("2d", datetime.timedelta(days=2)),
        ("900", datetime.timedelta(seconds=900)),
        ("0090", datetime.timedelta(seconds=90)),
    ],
)
def test_timeout_takes_a_policy_duration_or_seconds(text: str, span: datetime.timedelta) -> None:
    assert timeouts.timeout_of(text) == span


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("0", "--timeout: 0 would stop it before it starts"),
        ("0m", "--timeout: 0 would stop it before it starts"),
        ("5x", "--timeout '5x': not a duration such as 30d, 12h or 90m (or whole seconds"),
        ("-5", "--timeout '-5': not a duration"),
        ("1h\n", "--timeout '1h\\n': not a duration"),
        ("9" * 20, "seconds is over 1000 years"),
        ("9" * 20 + "d", "is over 1000 years"),
    ],
)
def test_a_bad_timeout_is_a_usage_error_naming_it(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        timeouts.timeout_of(text)
    assert problem in str(refused.value)
    # the hint for seconds is for a text that is no duration, not one that is too long
    assert ("(or whole seconds" in str(refused.value)) == ("not a duration" in problem)


def test_the_timeout_option_is_read_before_anything_runs(
    invoke: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("build", "--timeout", "1w", "--product", "dist", "--", "touch", "ran")
    assert result.exit_code == ExitCode.USAGE
    assert "--timeout '1w': not a duration such as 30d, 12h or 90m" in result.stderr
    assert not (tmp_path / "ran").exists()


def test_the_default_timeout_stays_an_hour() -> None:
    assert running.TIMEOUT.total_seconds() == 3600
    assert timeouts.spoken(running.TIMEOUT) == "1h"


_LINE = (
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
    .map(lambda s: s.replace("\n", "").replace("\r", ""))
    .filter(bool)  # an empty line after a lone \r would read as \r\n: the same bytes
)


@settings(max_examples=50, deadline=None)
@given(
    lines=st.lists(_LINE, min_size=1, max_size=8),
    ends=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_each_line_reaches_the_person_once_in_order_however_it_is_written(
    lines: list[str], ends: list[bytes], cuts: list[int]
) -> None:
    """For random output written in random pieces (a \\r\\n cut in two included), the person
    sees each line once, in order, prefixed and escaped."""
    data = b"".join(line.encode() + end for line, end in zip(lines, ends, strict=False))
    relayed: list[str] = []
    relay = running._Relay(relayed.append, "[b] ")
    written = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        relay.feed(data[written : max(written, cut)])
        written = max(written, cut)
    relay.feed(b"", final=True)
    assert relayed == [f"[b] {shown(line)}" for line in lines]


def _run(command: list[str], tmp_path: Path, echo: running.Echo | None = None) -> int:
    with running.log_file(tmp_path / "build.log") as opened:
        return running.run(
            command,
            cwd=tmp_path,
            log=opened,
            timeout=datetime.timedelta(minutes=1),
            echo=echo,
            prefix="[b] ",
        )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the child subreaper is Linux's")
def test_a_process_that_leaves_the_group_is_ended_before_the_products_are_recorded(
    tmp_path: Path,
) -> None:
    """A background child that escapes the build's process group (`setsid`, its output
    detached) to rewrite a product after the link is signed is adopted by attest and killed
    before run returns, and the person is told; so is a child it started."""
    escape = (
        "setsid sh -c 'sleep 30 & echo $! > inner.pid; echo $$ > escaped.pid; sleep 30; "
        "echo EVIL > a.whl' </dev/null >/dev/null 2>&1 &"
    )
    wait = "until [ -s escaped.pid ] && [ -s inner.pid ]; do sleep 0.01; done"
    said: list[str] = []
    assert _run(["sh", "-c", f"echo x > a.whl; {escape} {wait}"], tmp_path, said.append) == 0
    escaped, inner = (int((tmp_path / n).read_text()) for n in ("escaped.pid", "inner.pid"))
    assert not _alive(escaped) and not _alive(inner)
    assert not Path(f"/proc/{escaped}").exists(), "killed but not reaped"
    assert said[-1] == (  # the escaped shell, its background sleep and the one it waits on
        "attest: the build left 3 process(es) running outside its process group; killed before "
        "the products were recorded"
    )
    assert (tmp_path / "a.whl").read_text() == "x\n"


def test_each_stream_keeps_its_own_unfinished_line(tmp_path: Path) -> None:
    """stdout's last line without a newline is not joined to what stderr prints after it: the
    person sees two lines (the log keeps the bytes as they came)."""
    said: list[str] = []
    script = "printf 'no newline at end'; sleep 0.1; printf 'err line\\n' >&2; printf 'err end' >&2"
    assert _run(["sh", "-c", script], tmp_path, said.append) == 0
    assert sorted(said) == ["[b] err end", "[b] err line", "[b] no newline at end"]
    assert (tmp_path / "build.log").read_bytes() == b"no newline at enderr line\nerr end"


def test_a_command_that_cannot_start_leaves_no_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(UsageError) as refused, running.log_file(None) as opened:
        running.run(
            ["no-such-build-tool"],
            cwd=tmp_path,
            log=opened,
            timeout=running.TIMEOUT,
            echo=None,
            prefix="",
        )
    assert str(refused.value) == (
        "cannot run the build command 'no-such-build-tool': No such file or directory"
    )
    assert list(tmp_path.iterdir()) == []
