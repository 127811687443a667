"""Ratio benchmark for `attest sign`, against the local instance (started here, stopped after).

1. 200 small files: `attest sign` (which also verifies every bundle before writing it) vs
   `python -m sigstore --trust-config ... sign` on the same files against the same instance.
   Medians of 3 interleaved runs each. Goal: attest takes at most 1.0x the peer's time.
2. One 2 GiB file (sparse, so it costs no disk; every byte is still read and hashed):
   `attest sign`'s peak RSS. Goal: at most 100 MiB.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_sign.py` from the repository root.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
FILES = 200
RUNS = 3
SIZE = 2 << 30  # 2 GiB
RSS_GOAL_MIB = 100


def run(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:4])} ...\n{done.stderr[-2000:]}")
    return elapsed


def peak_rss(command: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of `command` alone, from a fresh intermediate process whose
    only child it is (RUSAGE_CHILDREN keeps the maximum of all children). The command must
    succeed (a gate must allow)."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "if done.returncode:\n"
        "    sys.exit(f'exit {done.returncode}: {done.stderr[-2000:]}')\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:5])} ...\n{done.stderr[-2000:]}")
    elapsed, kib = done.stdout.split()
    return float(elapsed), int(kib) / 1024


def attest(*args: str) -> list[str]:
    return [str(PYTHON), "-m", "attest", *args]


def token(state: Path) -> str:
    done = subprocess.run(
        attest("instance", "token", "--state", str(state), "--subject", "https://bench.example/ci"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as tmp:
        work = Path(tmp)
        state = work / "instance"
        subprocess.run(attest("instance", "up", "--state", str(state), "--ttl", "1200"), check=True)
        try:
            config = state / "trust_config.json"
            files = []
            for i in range(FILES):
                path = work / "files" / f"artifact-{i:03}.txt"
                path.parent.mkdir(exist_ok=True)
                path.write_text(f"artifact {i}\n")
                files.append(str(path))
            ours: list[float] = []
            peers: list[float] = []
            for round_ in range(RUNS):
                ours_cmd = attest("sign", "--trust-config", str(config), "--identity-token",
                                  token(state), *files)  # fmt: skip
                peer_cmd = [str(PYTHON), "-m", "sigstore", "--trust-config", str(config), "sign",
                            "--overwrite", "--identity-token", token(state), *files]  # fmt: skip
                pair = [("attest", ours_cmd, ours), ("peer", peer_cmd, peers)]
                for name, command, times in pair if round_ % 2 == 0 else reversed(pair):
                    times.append(run(command))
                    print(f"  run {round_ + 1}/{RUNS} {name:<6} {times[-1]:7.3f} s", flush=True)
            ratio = statistics.median(ours) / statistics.median(peers)
            print(f"\nsign {FILES} small files, {RUNS} interleaved runs each:")
            print(f"  attest median {statistics.median(ours):7.3f} s (signs and verifies each)")
            print(f"  sigstore median {statistics.median(peers):5.3f} s (python -m sigstore sign)")
            verdict = "MET" if ratio <= 1.0 else "NOT MET"
            print(f"  ratio attest/sigstore: {ratio:.3f}  goal <= 1.0x: {verdict}")

            big = work / "big.bin"
            with big.open("wb") as handle:
                handle.truncate(SIZE)
            command = attest("sign", "--trust-config", str(config), "--identity-token",
                             token(state), str(big))  # fmt: skip
            elapsed, peak_mib = peak_rss(command)
            print(f"\nsign one {SIZE >> 30} GiB file: {elapsed:.1f} s, peak RSS {peak_mib:.0f} MiB")
            print(
                f"  goal <= {RSS_GOAL_MIB} MiB: {'MET' if peak_mib <= RSS_GOAL_MIB else 'NOT MET'}"
            )
        finally:
            subprocess.run(attest("instance", "down", "--state", str(state)), check=False)


if __name__ == "__main__":
    main()
