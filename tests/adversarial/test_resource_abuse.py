"""Resource abuse (issue 8, started): inputs shaped to exhaust the gate's recursion or patience
are judged or refused, never a crash."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from tests.conftest import REPO, run_attest
from verify import untrusted_yaml
from verify.checks.attestations import _sbom_failures
from verify.errors import ExitCode
from verify.policy import DeniedPackage, Sbom


def test_a_deeply_nested_sbom_is_judged_not_a_crash() -> None:
    """A signer's SBOM nesting components 20,000 deep (far past Python's recursion limit) with
    a denied package at the bottom: the check walks it and denies."""
    root: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}
    holder = root
    for depth in range(20_000):
        child: dict[str, Any] = {"type": "library", "name": f"layer-{depth}", "components": []}
        holder["components"].append(child)
        holder = child
    holder["components"].append({"type": "library", "name": "pycrypto", "version": "2.6.1"})
    rule = Sbom(denied_packages=(DeniedPackage.parse("pycrypto"),))
    failures = _sbom_failures(rule, root)
    assert any("pycrypto" in failure for failure in failures), failures


def _huge(path: Path, size: int = 100 << 20) -> Path:
    """A 100 MB file (sparse: no disk needed, every byte still read as a zero)."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def _peak_rss_mib(command: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(done.stderr)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    code, kib = done.stdout.split()
    return subprocess.CompletedProcess(command, int(code), "", done.stderr), int(kib) / 1024


def test_a_huge_bundle_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"app\n")
    _huge(tmp_path / "app.whl.sigstore.json")
    policy = REPO / "examples" / "policies" / "strict.yaml"
    done, peak = _peak_rss_mib(
        [sys.executable, "-m", "attest", "verify", "--policy", str(policy), str(artifact)]
    )
    assert done.returncode == ExitCode.DENIED, done.stderr
    assert "100.0 MiB, over the 64 MiB limit for a bundle" in done.stderr
    assert peak < 300, f"peak RSS {peak:.0f} MiB"


def test_a_huge_policy_is_refused(invoke: Callable[..., Result], tmp_path: Path) -> None:
    policy = _huge(tmp_path / "policy.yaml")
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"app\n")
    result = invoke("verify", "--policy", str(policy), str(artifact))
    assert result.exit_code == ExitCode.USAGE
    assert "100.0 MiB, over the 1 MiB limit for a policy" in result.stderr


def test_a_huge_lock_file_is_refused(invoke: Callable[..., Result], tmp_path: Path) -> None:
    lock = _huge(tmp_path / "uv.lock")
    result = invoke("sbom", "--lock", str(lock))
    assert result.exit_code == ExitCode.USAGE
    assert f"{lock}: 100.0 MiB, over the 64 MiB limit for an input file" in result.stderr


REQUIREMENTS = REPO / "examples" / "demo-project" / "requirements.txt"
ADVISORIES = REPO / "examples" / "advisories"
BOMB = """version: 1
trust: production
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
identities: [*g]
"""


EXPANDS = "not valid YAML: the document expands to over 1,048,576 nodes and characters (aliases)"


def test_yaml_alias_bombs_are_refused_quickly(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Ten million references on paper, a few hundred bytes on disk: refused by size as
    expanded, before any schema or walk sees them; a policy, a waiver file, an advisory record."""
    import time

    policy = tmp_path / "policy.yaml"
    policy.write_text(BOMB)
    artifact = tmp_path / "app.whl"
    artifact.write_bytes(b"app\n")
    start = time.perf_counter()
    result = invoke("verify", "--policy", str(policy), str(artifact))
    assert result.exit_code == ExitCode.USAGE
    assert f"{policy}: {EXPANDS}" in result.stderr
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(BOMB.replace("identities", "waivers"))
    scanned = invoke("scan", "--requirements", str(REQUIREMENTS), "--db", str(ADVISORIES),
                     "--now", "2026-07-15T00:00:00Z", "--cache-dir", str(tmp_path / "cache"),
                     "--waivers", str(waivers))  # fmt: skip
    assert scanned.exit_code == ExitCode.USAGE, scanned.stderr
    assert f"{waivers}: {EXPANDS}" in scanned.stderr
    db = tmp_path / "db"
    shutil.copytree(ADVISORIES, db)
    record = next(db.rglob("*.yaml"))
    record.write_text(record.read_text() + BOMB.split("\n", 2)[2].replace("identities", "x"))
    scanned = invoke("scan", "--requirements", str(REQUIREMENTS), "--db", str(db),
                     "--now", "2026-07-15T00:00:00Z", "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert scanned.exit_code == ExitCode.USAGE, scanned.stderr
    assert f"{record.relative_to(db)}: {EXPANDS}" in scanned.stderr
    assert time.perf_counter() - start < 30


def test_a_yaml_document_that_contains_itself_is_refused() -> None:
    for text in ("version: 1\nidentities: &loop [*loop]\n", "a: &x 1\nb: &x [*x]\n"):
        with pytest.raises(yaml.YAMLError, match="the document contains itself"):
            untrusted_yaml.load(text)
    shared = "a: &x [1, 2]\nb: *x\nc: [*x, *x]\n"  # sharing is fine, and charged in full
    assert untrusted_yaml.load(shared) == {"a": [1, 2], "b": [1, 2], "c": [[1, 2], [1, 2]]}
    node = 1 + 2 + 2  # [ "1", "2" ]: the sequence and two one-character scalars
    assert untrusted_yaml.expanded_size(shared) == 1 + 2 + node + 2 + node + 2 + 1 + 2 * node


@pytest.mark.parametrize(
    "bomb",
    [
        # merge keys expand inside the loader itself: 10**7 merges from under 500 bytes
        "a0: &a0 {k: v}\n"
        + "".join(f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 10)}]}}\n" for i in range(1, 8)),
        # one 256 KiB string named 4,000 times: a gigabyte to whoever writes it out
        "s: &s " + "x" * 262_144 + "\nwaivers: [" + ", ".join(["*s"] * 4000) + "]\n",
    ],
    ids=["merge keys", "long string"],
)
def test_yaml_that_expands_in_the_loader_or_by_long_strings_is_refused_quickly(bomb: str) -> None:
    import time

    start = time.perf_counter()
    with pytest.raises(yaml.YAMLError, match="the document expands to over"):
        untrusted_yaml.load(bomb)
    assert time.perf_counter() - start < 5


def test_deeply_nested_json_is_refused_not_a_crash(tmp_path: Path) -> None:
    import pytest

    from verify.formats.predicates import InvalidAttestation
    from verify.formats.statement import Statement
    from verify.policy import PolicyError, parse_policy

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidAttestation):
        Statement.from_json(deep)
    with pytest.raises(PolicyError):
        parse_policy(deep, "deep.yaml", tmp_path)


def test_a_symlink_at_the_output_is_replaced_not_followed(tmp_path: Path) -> None:
    """An attacker's symlink where an output goes must not redirect the write."""
    from attest.output import write_atomic

    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    target = tmp_path / "out" / "app.whl.sigstore.json"
    target.parent.mkdir()
    target.symlink_to(outside)
    write_atomic(target, b"{}\n")
    assert not target.is_symlink() and target.read_bytes() == b"{}\n"
    assert outside.read_text() == "precious\n"


def test_a_stream_named_as_the_output_is_written_not_replaced(tmp_path: Path) -> None:
    """`-o /dev/null` as root once renamed a file over the device: a stream (a character device,
    a FIFO) named as the output is written to as it is. A FIFO stands in for /dev/null here, so
    the test cannot damage the machine when it fails."""
    import threading

    from attest.output import write_atomic

    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, b"{}\n")
    reader.join(timeout=10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced by a file"
    assert received == [b"{}\n"]
    assert [p.name for p in tmp_path.iterdir()] == ["stream"]  # no temporary left


def test_deeply_nested_slo_policies_and_waivers_are_refused(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    for name, text, reason in (
        ("waivers.yaml", "waivers: " + "[" * 100_000 + "]" * 100_000,
         "not valid YAML: nested too deeply (over 64 levels)"),
        ("waivers.json", '{"waivers": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ):  # fmt: skip
        waivers = tmp_path / name
        waivers.write_text(text)
        result = invoke("scan", "--requirements", str(REPO / "examples" / "demo-project" / "requirements.txt"),
                        "--db", str(REPO / "examples" / "advisories"), "--now", "2026-07-15T00:00:00Z",
                        "--cache-dir", str(tmp_path / "cache"), "--waivers", str(waivers))  # fmt: skip
        assert result.exit_code == ExitCode.USAGE, result.stderr
        assert f"{waivers}: {reason}" in result.stderr


def test_a_deeply_nested_advisory_record_is_refused_not_a_crash(tmp_path: Path) -> None:
    """libyaml's composer recursed in C on this record: a segmentation fault of the whole scan
    (hence a child process here: a regression fails this test, not the suite)."""
    db = tmp_path / "db"
    shutil.copytree(ADVISORIES, db)
    record = next(db.rglob("*.yaml"))
    record.write_text(record.read_text() + "x: " + "[" * 100_000 + "]" * 100_000 + "\n")
    done = run_attest("scan", "--requirements", str(REQUIREMENTS), "--db", str(db),
                      "--now", "2026-07-15T00:00:00Z", "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"{record.relative_to(db)}: not valid YAML: nested too deeply" in done.stderr
