"""Ratio benchmark: `attest sbom` against cyclonedx-py (cyclonedx-bom 7.5.0) on one environment.

Both tools describe the same target venv (about 150 packages, hash-pinned in
benchmarks/target.lock) and both validate what they write: attest always does, and
cyclonedx-py is given `--validate` explicitly. Each tool runs 5 times, interleaved (the order
alternates each round), after one untimed warm-up run each; the script prints each tool's
median, min and max wall time, the ratio attest/peer, whether the goal "attest takes at most
0.5x the peer's time" is met, and how many components each tool reported. It exits non-zero
if either tool fails or writes no readable JSON.

A second part measures growth: `attest sbom --requirements` on generated hash-pinned files of
1,000, 2,000, 4,000 and 10,000 entries, flat (each `# via -r requirements.in`) and as one
`# via` chain (each entry via the one before, pip-compile's longest graph), written as JSON and
as XML (`--format xml`). It prints each time, the time per entry relative to 1,000 entries (1.0
is linear; a quadratic cost doubles it with each doubling), and whether 10,000 entries take
under 10 s.

The peer runs from its own venv (hash-pinned from benchmarks/peer.lock). Both venvs live under
build/bench/ and are reused while their stamp file matches their lock file, so a second run
only measures.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_sbom.py` from the repository root.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "build" / "bench"
ATTEST = ROOT / ".venv" / "bin" / "attest"
RUNS = 5
GOAL = 0.5
SIZES = (1_000, 2_000, 4_000, 10_000)
LARGE_GOAL = 10.0  # seconds for 10,000 entries


def ensure_venv(venv: Path, lock: Path) -> None:
    """Create `venv` with exactly the packages in `lock`, unless its stamp says it is done."""
    stamp = venv / ".bench-installed"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return
    print(f"setting up {venv.relative_to(ROOT)} from {lock.relative_to(ROOT)} ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    run_once(["python3", "-m", "venv", str(venv)], ROOT)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    pip += ["--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(lock)]
    run_once(pip, ROOT)
    stamp.write_text(digest + "\n", encoding="utf-8")


def run_once(cmd: list[str], cwd: Path) -> float:
    """Run `cmd` once and return its wall time in seconds; exit, showing its output, on failure."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"FAILED (exit {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
        print(proc.stdout + proc.stderr, file=sys.stderr)
        sys.exit(1)
    return elapsed


def describe(sbom: Path) -> tuple[int, int]:
    """Components and external references in a CycloneDX JSON file."""
    try:
        bom = json.loads(sbom.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"cannot read {sbom}: {e}")
    components = bom.get("components", [])
    refs = sum(len(c.get("externalReferences", [])) for c in components)
    return len(components), refs


def xml_components(sbom: Path) -> int:
    """Components in a CycloneDX XML file."""
    try:
        root = ET.parse(sbom).getroot()
    except (OSError, ET.ParseError) as e:
        sys.exit(f"cannot read {sbom}: {e}")
    ns = {"c": "http://cyclonedx.org/schema/bom/1.6"}
    return len(root.findall("c:components/c:component", ns))


def requirements(path: Path, count: int, chain: bool) -> Path:
    """`count` hash-pinned entries; with `chain`, each is `# via` the one before."""
    lines = []
    for i in range(count):
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        via = f"pkg{i - 1:05d}" if chain and i else "-r requirements.in"
        lines.append(f"pkg{i:05d}==1.{i} \\\n    --hash=sha256:{digest}\n    # via {via}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def growth(work: Path) -> None:
    """Time `attest sbom --requirements` at each size, flat and chained, as JSON and as XML,
    and print the growth."""
    print("\nGrowth: attest sbom --requirements on generated files (one run each):")
    for fmt in ("json", "xml"):
        for chain in (False, True):
            label = f"{fmt} " + ("# via chain" if chain else "flat")
            per_entry: dict[int, float] = {}
            for count in SIZES:
                source = requirements(work / f"r{count}.txt", count, chain)
                out = work / f"r{count}.{fmt}"
                cmd = [str(ATTEST), "sbom", "--requirements", str(source), "--format", fmt]
                seconds = run_once([*cmd, "--output", str(out)], work)
                components = describe(out)[0] if fmt == "json" else xml_components(out)
                if components != count:
                    sys.exit(f"{label} {count}: {components} components written, {count} expected")
                per_entry[count] = seconds / count
                growth_ratio = per_entry[count] / per_entry[SIZES[0]]
                print(
                    f"  {label:16} {count:6} entries {seconds:7.2f} s"
                    f"  per entry {1000 * per_entry[count]:.3f} ms  growth {growth_ratio:.2f}x",
                    flush=True,
                )
            large = per_entry[SIZES[-1]] * SIZES[-1]
            verdict = "MET" if large < LARGE_GOAL else "NOT MET"
            print(
                f"  {label}: {SIZES[-1]} entries in {large:.2f} s, goal < {LARGE_GOAL} s: {verdict}"
            )


def main() -> int:
    target = BENCH_DIR / "target"
    peer = BENCH_DIR / "peer"
    ensure_venv(target, ROOT / "benchmarks" / "target.lock")
    ensure_venv(peer, ROOT / "benchmarks" / "peer.lock")

    with tempfile.TemporaryDirectory(prefix="bench-sbom-") as tmp:
        # An empty working directory: neither tool picks up this repository's pyproject.toml.
        work = Path(tmp)
        outputs = {"attest": work / "attest.json", "peer": work / "peer.json"}
        commands = {
            "attest": [str(ATTEST), "sbom", "--python", str(target)],
            "peer": [str(peer / "bin" / "cyclonedx-py"), "environment", "--validate"],
        }
        commands["attest"] += ["--output", str(outputs["attest"])]
        commands["peer"] += ["--output-file", str(outputs["peer"]), str(target / "bin" / "python")]

        for cmd in commands.values():  # warm-up: page cache, .pyc files
            run_once(cmd, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(RUNS):
            order = ["attest", "peer"] if i % 2 == 0 else ["peer", "attest"]
            for name in order:
                times[name].append(run_once(commands[name], work))
                print(f"  run {i + 1}/{RUNS} {name:6} {times[name][-1]:7.3f} s", flush=True)
        counts = {name: describe(path) for name, path in outputs.items()}

    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\nSBOM of one venv ({target.relative_to(ROOT)}), {RUNS} interleaved runs each:")
    for name, t in times.items():
        components, refs = counts[name]
        print(
            f"  {name:6} median {medians[name]:7.3f} s  (min {min(t):.3f}, max {max(t):.3f})"
            f"  {components} components, {refs} external references"
        )
    ratio = medians["attest"] / medians["peer"]
    verdict = "MET" if ratio <= GOAL else "NOT MET"
    print(f"  ratio attest/peer: {ratio:.3f}  goal <= {GOAL}x: {verdict}")
    if counts["attest"][0] != counts["peer"][0]:
        print("  note: the tools report different numbers of components")
    with tempfile.TemporaryDirectory(prefix="bench-sbom-growth-") as tmp:
        growth(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
