"""Ratio benchmark for `attest sign`, against the local instance (started here, stopped after).

1. 200 small files: `attest sign` (which also verifies every bundle before writing it) vs
   `python -m sigstore --trust-config ... sign` on the same files against the same instance.
   Medians of 3 interleaved runs each. Goal: attest takes at most 0.5x the peer's time.
2. One 2 GiB file (sparse, so it costs no disk; every byte is still read and hashed):
   `attest sign` and `attest verify` of it, each against hashing it with hashlib alone (a
   Python process reading 1 MiB chunks into one buffer), medians of 3 interleaved runs. Goals:
   each at most 1.5x; peak RSS no larger than for a small file (nothing grows with the size).

attest's modules are byte-compiled first, as pip leaves an installed wheel and as sigstore's
are: with PYTHONDONTWRITEBYTECODE set (as here) every timed process would compile them anew.
The load average is printed with each figure: the machine is shared.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_sign.py` from the repository root;
`--only small` or `--only large` runs one of the two parts.
"""

from __future__ import annotations

import argparse
import os
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
RATIO_GOAL = 0.5  # attest sign / sigstore sign, 200 files
LARGE_GOAL = 1.5  # attest sign or verify / hashlib alone, 2 GiB
HASH_ONLY = (
    "import hashlib, sys\n"
    "h, buf = hashlib.sha256(), bytearray(1 << 20)\n"
    "view = memoryview(buf)\n"
    "with open(sys.argv[1], 'rb', buffering=0) as f:\n"
    "    while n := f.readinto(buf):\n"
    "        h.update(view[:n])\n"
    "print(h.hexdigest())"
)


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


SUBJECT = "https://bench.example/ci"


def token(state: Path) -> str:
    done = subprocess.run(
        attest("instance", "token", "--state", str(state), "--subject", SUBJECT,
               "--lifetime", "1200"),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def byte_compile() -> None:
    command = [str(PYTHON), "-m", "compileall", "-q", "attest", "verify"]
    subprocess.run(command, cwd=ROOT, check=True)


def interleaved(commands: dict[str, list[str]]) -> dict[str, float]:
    """Each command RUNS times, in turn (the order reversed every other round); the medians."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(RUNS):
        names = list(commands) if round_ % 2 == 0 else list(reversed(commands))
        for name in names:
            times[name].append(run(commands[name]))
            print(f"  run {round_ + 1}/{RUNS} {name:<14} {times[name][-1]:7.3f} s", flush=True)
    return {name: statistics.median(values) for name, values in times.items()}


def verdict(ratio: float, goal: float) -> str:
    return f"{ratio:.3f}  goal <= {goal}x: {'MET' if ratio <= goal else 'NOT MET'}"


def small_files(work: Path, state: Path, config: Path) -> None:
    files = []
    for i in range(FILES):
        path = work / "files" / f"artifact-{i:03}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"artifact {i}\n")
        files.append(str(path))
    tok = token(state)
    medians = interleaved({
        "attest": attest("sign", "--trust-config", str(config), "--identity-token", tok, *files),
        "sigstore": [str(PYTHON), "-m", "sigstore", "--trust-config", str(config), "sign",
                     "--overwrite", "--identity-token", tok, *files],
    })  # fmt: skip
    print(f"\nsign {FILES} small files, {RUNS} interleaved runs each ({load()}):")
    print(f"  attest median {medians['attest']:7.3f} s (signs and verifies each)")
    print(f"  sigstore median {medians['sigstore']:5.3f} s (python -m sigstore sign)")
    ratio = medians["attest"] / medians["sigstore"]
    print(f"  ratio attest/sigstore: {verdict(ratio, RATIO_GOAL)}")


def policy_for(work: Path, state: Path) -> Path:
    from attest.instance.state import load_state  # here: only this measurement needs it

    policy = work / "policy.yaml"
    policy.write_text(
        f"version: 1\ntrust:\n  trusted_root: {state / 'trusted_root.json'}\n"
        "  allow_development_root: true\n"
        f"identities:\n  - issuer: {load_state(state).issuer_url}\n    subject: {SUBJECT}\n"
        "require:\n  signature: true\n"
    )
    return policy


def large_file(work: Path, state: Path, config: Path) -> None:
    big, small = work / "big.bin", work / "small.bin"
    with big.open("wb") as handle:
        handle.truncate(SIZE)
    small.write_bytes(b"small artifact\n")
    tok = token(state)
    sign = attest("-q", "sign", "--trust-config", str(config), "--identity-token", tok)
    run([*sign, str(big)])
    run([*sign, str(small)])  # both bundles, for the gate
    verify = attest("-q", "verify", "--policy", str(policy_for(work, state)))
    medians = interleaved({"hashlib alone": [str(PYTHON), "-c", HASH_ONLY, str(big)],
                           "attest sign": [*sign, str(big)],
                           "attest verify": [*verify, str(big)]})  # fmt: skip
    runs = {"sign": sign, "verify": verify}
    rss = {(name, size): peak_rss([*runs[name], str(path)])[1]
           for name in runs for size, path in (("small", small), ("2 GiB", big))}  # fmt: skip
    hashing = medians["hashlib alone"]
    print(f"\none {SIZE >> 30} GiB file (sparse), {RUNS} interleaved runs each ({load()}):")
    print(f"  hashlib alone {hashing:7.3f} s (sha256, 1 MiB chunks, in a Python process)")
    for name in ("attest sign", "attest verify"):
        ratio = medians[name] / hashing
        print(f"  {name} {medians[name]:7.3f} s, ratio {verdict(ratio, LARGE_GOAL)}")
    for command in ("sign", "verify"):
        small_mib, large_mib = rss[(command, "small")], rss[(command, "2 GiB")]
        same = "MET" if large_mib <= small_mib + 8 else "NOT MET"
        print(f"  attest {command} peak RSS: small file {small_mib:.0f} MiB, 2 GiB "
              f"{large_mib:.0f} MiB  goal no growth with size (within 8 MiB): {same}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="attest sign against its peers")
    parser.add_argument("--only", choices=("small", "large"), help="run one part only")
    only = parser.parse_args().only
    byte_compile()
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as tmp:
        work = Path(tmp)
        state = work / "instance"
        subprocess.run(attest("instance", "up", "--state", str(state), "--ttl", "1200"), check=True)
        try:
            config = state / "trust_config.json"
            if only != "large":
                small_files(work, state, config)
            if only != "small":
                large_file(work, state, config)
        finally:
            subprocess.run(attest("instance", "down", "--state", str(state)), check=False)


if __name__ == "__main__":
    main()
