"""Ratio benchmark for the deploy gate, against the local instance (started here, stopped after).

500 signed artifacts, each also covered by a provenance, an SBOM and an SLO attestation:
1. `attest verify` of all 500 in one process vs `python -m sigstore verify identity` run once
   per artifact. Goal: attest at least 10x faster.
2. The gate in-process, one process (`verify.gate.decide`: every check, every attestation) vs
   a raw in-process sigstore-python `Verifier.verify_artifact` loop checking the signatures
   only, on the same 500 bundles. Goal: at most 0.75x its time. Medians of 3 interleaved runs.
3. Memory (threat D2): `attest verify` in a child process on one 2 GiB artifact, signed and
   attested like the others, and on a small one of the same release for comparison: the
   child's peak RSS (ru_maxrss, as bench_sign measures it). Goal: at most 100 MiB for 2 GiB.
   The file is sparse (truncate), so it costs no disk; the gate still reads and hashes every
   byte, the holes coming back as zeros.

4. Scaling: `attest verify` (signature and identity) on 10, 100, 1,000 and 10,000 artifacts
   of one release (one certificate), each in a child process, the artifacts named in a file
   (`--artifacts-from`: 10,000 paths on a command line cost the interpreter 2.3 KiB each before
   any code of ours runs, and near ARG_MAX no shell passes them): time per artifact (at 1,000
   and 10,000 the marginal time, (t(N) - t(10)) / (N - 10), so start-up does not flatter
   the large run) and peak RSS. Goals: per artifact at 10,000 within 1.2x of that at 1,000;
   peak RSS growing by at most 2 KiB per artifact. The signed release is kept in
   `.bench-cache/verify-scale-N/` (its trusted root with it: verifying needs no instance),
   reused while complete.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_verify.py [--peer-runs N]
[--rss-mib M] [--rss-only] [--ratio-only] [--scale-only] [--scale 10,100,1000,10000]` from
the repository root (N processes of the peer, default 500; the ratio is per artifact either
way; M the large artifact's size in MiB, default 2048; --rss-only skips 1 and 2, --ratio-only
runs 2 alone, --scale-only all but 4).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sign import peak_rss  # run as a script: benchmarks/ is on sys.path
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from attest.instance import lifecycle, oidc
from attest.instance.state import load_state
from attest.provenance import stage as provenance
from attest.sign.stage import SignRequest, sign
from verify import gate
from verify.formats import bundles
from verify.policy import load_policy
from verify.sigstore_adapter import hashed_digest

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
ARTIFACTS = 500
RUNS = 3
RSS_MIB = 2048  # the large artifact: 2 GiB
RSS_GOAL_MIB = 100
RATIO_GOAL = 0.75  # the gate in-process / the raw loop
SCALE = (10, 100, 1_000, 10_000)
FLAT_GOAL = 1.2  # time per artifact at the largest size / at 1,000
GROWTH_GOAL_KIB = 2.0  # peak RSS per artifact
CACHE = ROOT / ".bench-cache"
IDENTITY = "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main"
ENVIRON = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/web",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SHA": "0" * 40,
    "GITHUB_WORKFLOW_REF": "acme/web/.github/workflows/release.yml@refs/heads/main",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "1",
    "GITHUB_RUN_ATTEMPT": "1",
    "RUNNER_ENVIRONMENT": "github-hosted",
}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:5])} ...\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def start(work: Path) -> Path:
    """The local instance, in `work/instance`."""
    state_dir = work / "instance"
    lifecycle.up(state_dir, None, ttl=1800)
    return state_dir


def make_sbom(work: Path) -> Path:
    sbom = work / "sbom.cdx.json"
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "attest",
            "sbom",
            "--lock",
            str(ROOT / "examples/demo-project/uv.lock"),
            "--output",
            str(sbom),
        ],
        check=True,
        capture_output=True,
    )
    return sbom


def release(artifacts: list[Path], state_dir: Path, sbom: Path, policy: Path) -> str:
    """Sign `artifacts` (bundles beside them), attest provenance and the SBOM over them, and
    write a policy requiring all of it; returns the issuer. A fresh token each time: they
    live 5 minutes."""
    state = load_state(state_dir)
    claims = oidc.github_claims("acme/web")
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    config = state_dir / "trust_config.json"
    sign(SignRequest(artifacts=tuple(artifacts), trust_config=config, identity_token=token))
    signing = provenance.Signing(trust_config=config, identity_token=token)
    now = datetime.datetime.now(datetime.timezone.utc)
    provenance.provenance(
        tuple(artifacts), signing, name="release", environ=ENVIRON, command=["bench"], now=now
    )
    provenance.attest(["sbom"], tuple(artifacts), signing, name="release", sbom=sbom)
    policy.write_text(
        f"version: 1\ntrust:\n  trusted_root: {state_dir / 'trusted_root.json'}\n"
        "  allow_development_root: true\n"
        f"identities:\n  - issuer: {state.issuer_url}\n    subject: {IDENTITY}\n"
        "require:\n  signature: true\n  provenance:\n    source_repository: https://github.com/acme/web\n"
        "  sbom: {}\n"
    )
    return state.issuer_url


def prepare(work: Path, state_dir: Path, sbom: Path) -> tuple[list[Path], Path, str]:
    """500 signed artifacts with attestations, and a policy requiring them."""
    dist = work / "dist"
    dist.mkdir()
    artifacts = []
    for i in range(ARTIFACTS):
        path = dist / f"artifact-{i:03}.bin"
        path.write_bytes(f"artifact {i}\n".encode() * 64)
        artifacts.append(path)
    policy = work / "policy.yaml"
    issuer = release(artifacts, state_dir, sbom, policy)
    return artifacts, policy, issuer


def prepare_large(work: Path, state_dir: Path, sbom: Path, mib: int) -> tuple[Path, Path, Path]:
    """A release of one sparse `mib` MiB artifact and a small one, with its policy."""
    dist = work / "large"
    dist.mkdir()
    large, small = dist / "large.bin", dist / "small.bin"
    with large.open("wb") as handle:
        handle.truncate(mib << 20)
    small.write_bytes(b"small artifact\n" * 64)
    policy = work / "policy-large.yaml"
    release([large, small], state_dir, sbom, policy)
    return large, small, policy


def gate_command(policy: Path, artifact: Path) -> list[str]:
    return [str(PYTHON), "-m", "attest", "verify", "--policy", str(policy), str(artifact)]


def raw_loop(artifacts: list[Path], root: Path, identity: str, issuer: str) -> float:
    """sigstore-python alone: hash each artifact, verify its signature bundle."""
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root)))
    policy = Identity(identity=identity, issuer=issuer)
    start = time.perf_counter()
    for artifact in artifacts:
        digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
        bundle = Bundle.from_json(bundles.signature_path(artifact).read_bytes())
        verifier.verify_artifact(hashed_digest(digest), bundle, policy)
    return time.perf_counter() - start


def ratios(artifacts: list[Path], policy_path: Path, work: Path, issuer: str, runs: int) -> None:
    """Measurements 1 and 2."""
    print(f"{ARTIFACTS} artifacts, each signed, with provenance and SBOM attestations")
    cli_ratio(artifacts, policy_path, work, issuer, runs)
    gate_ratio(artifacts, policy_path, work, issuer)


def cli_ratio(artifacts: list[Path], policy_path: Path, work: Path, issuer: str, runs: int) -> None:
    """Measurement 1: `attest verify` in one process vs the sigstore CLI once per artifact."""
    process = timed(
        [str(PYTHON), "-m", "attest", "verify", "--policy", str(policy_path), *map(str, artifacts)]
    )
    sample = artifacts[:runs]
    peer = sum(
        timed(
            [
                str(PYTHON),
                "-m",
                "sigstore",
                "--trust-config",
                str(work / "instance" / "trust_config.json"),
                "verify",
                "identity",
                "--cert-identity",
                IDENTITY,
                "--cert-oidc-issuer",
                issuer,
                str(a),
            ]
        )
        for a in sample
    )
    per_peer = peer / len(sample)
    print(f"  attest verify, one process (every check)      : {process:7.2f} s")
    print(
        f"  python -m sigstore verify, once per artifact  : {per_peer * ARTIFACTS:7.2f} s"
        f" ({len(sample)} runs, {per_peer:.3f} s each)"
    )
    speedup = per_peer * ARTIFACTS / process
    print(
        f"  speed-up over the per-artifact CLI            : {speedup:7.1f}x  "
        f"goal >= 10x: {'MET' if speedup >= 10 else 'NOT MET'}"
    )


def gate_ratio(artifacts: list[Path], policy_path: Path, work: Path, issuer: str) -> None:
    """Measurement 2: the gate in-process vs the raw verify_artifact loop, interleaved."""
    root = work / "instance" / "trusted_root.json"
    policy = load_policy(policy_path)
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    ours, raw = [], []
    for round_ in range(RUNS):
        if round_ % 2:  # interleaved: a drift of the machine's speed hits both alike
            raw.append(raw_loop(artifacts, root, IDENTITY, issuer))
        start = time.perf_counter()
        run = gate.decide(artifacts, policy, now)
        ours.append(time.perf_counter() - start)
        assert run.allowed, "the gate must allow the benchmark's release"
        if not round_ % 2:
            raw.append(raw_loop(artifacts, root, IDENTITY, issuer))
    ratio = statistics.median(ours) / statistics.median(raw)
    ours_s, raw_s = statistics.median(ours), statistics.median(raw)
    print(f"  gate in-process, median of {RUNS} (every check) : {ours_s:7.3f} s")
    print(f"  raw verify_artifact loop, median of {RUNS}      : {raw_s:7.3f} s")
    print(
        f"  ratio gate / raw loop (one process)           : {ratio:7.2f}x  "
        f"goal <= {RATIO_GOAL}x: {'MET' if ratio <= RATIO_GOAL else 'NOT MET'}"
    )


def memory(large: Path, small: Path, policy: Path) -> None:
    """Measurement 3: the gate's peak RSS on the large artifact, and on a small one."""
    small_s, small_mib = peak_rss(gate_command(policy, small))
    large_s, large_mib = peak_rss(gate_command(policy, large))
    size = large.stat().st_size
    label = f"{size >> 30} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"
    print(f"attest verify of one {label} artifact (sparse; every byte read and hashed):")
    for name, seconds, mib in [
        ("small artifact, same release", small_s, small_mib),
        (f"{label} artifact", large_s, large_mib),
    ]:
        print(f"  {name:<30}: {seconds:6.1f} s, peak RSS {mib:4.0f} MiB")
    verdict = "MET" if large_mib <= RSS_GOAL_MIB else "NOT MET"
    goal = f"goal <= {RSS_GOAL_MIB} MiB for 2 GiB: {verdict}"
    if size < RSS_MIB << 20:
        goal += f" (measured at {label}, not 2 GiB: not conclusive)"
    print(f"  {goal}")


def scale_release(count: int) -> tuple[list[Path], Path]:
    """`count` artifacts signed in one session (one certificate) and a policy requiring their
    signatures, kept under CACHE (with the instance's trusted root, so that verifying needs no
    instance) and reused while complete."""
    where = CACHE / f"verify-scale-{count}"
    dist, policy = where / "dist", where / "policy.yaml"
    artifacts = [dist / f"artifact-{i:05}.bin" for i in range(count)]
    done = where / "complete"
    if done.exists():
        return artifacts, policy
    shutil.rmtree(where, ignore_errors=True)
    dist.mkdir(parents=True)
    for i, path in enumerate(artifacts):
        path.write_bytes(f"artifact {i}\n".encode() * 64)
    with tempfile.TemporaryDirectory(prefix="bench-verify-scale-") as tmp:
        state_dir = start(Path(tmp))
        try:
            state = load_state(state_dir)
            claims = oidc.github_claims("acme/web")
            token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
            config = state_dir / "trust_config.json"
            sign(SignRequest(artifacts=tuple(artifacts), trust_config=config, identity_token=token))
            shutil.copy(state_dir / "trusted_root.json", where / "trusted_root.json")
            policy.write_text(
                f"version: 1\ntrust:\n  trusted_root: {where / 'trusted_root.json'}\n"
                "  allow_development_root: true\n"
                f"identities:\n  - issuer: {state.issuer_url}\n    subject: {IDENTITY}\n"
                "require:\n  signature: true\n"
            )
        finally:
            lifecycle.down(state_dir)
    done.touch()
    return artifacts, policy


def scaling(sizes: tuple[int, ...]) -> list[tuple[int, float, float]]:
    """Measurement 4: (artifacts, seconds per artifact, peak RSS MiB) for each size."""
    rows = []
    for count in sizes:
        artifacts, policy = scale_release(count)
        os.sync()
        listed = CACHE / f"verify-scale-{count}.txt"  # no command line holds 10,000 paths
        listed.write_text("".join(f"{a}\n" for a in artifacts))
        seconds, mib = peak_rss(
            [str(PYTHON), "-m", "attest", "verify", "--policy", str(policy),
             "--artifacts-from", str(listed)]
        )  # fmt: skip
        rows.append((count, seconds, mib))
    print(f"attest verify, one release of N artifacts (one certificate), load {_load()}:")
    print("  artifacts | wall s | per artifact ms | peak RSS MiB")
    base_s = rows[0][1]
    per = {}
    for count, seconds, mib in rows:
        # marginal past the smallest run: start-up does not flatter the large runs
        per[count] = (seconds - base_s) / (count - rows[0][0]) if count >= 1000 else seconds / count
        print(f"  {count:>9,} | {seconds:6.2f} | {per[count] * 1000:15.3f} | {mib:12.1f}")
    if 1000 in per and len(rows) > 1 and rows[-1][0] > 1000:
        flat = per[rows[-1][0]] / per[1000]
        verdict = "MET" if flat <= FLAT_GOAL else "NOT MET"
        goal = f"goal <= {FLAT_GOAL}x: {verdict}"
        print(f"  per artifact at {rows[-1][0]:,} / at 1,000: {flat:.2f}x  {goal}")
    if len(rows) > 1:
        growth = (rows[-1][2] - rows[0][2]) * 1024 / (rows[-1][0] - rows[0][0])
        verdict = "MET" if growth <= GROWTH_GOAL_KIB else "NOT MET"
        goal = f"goal <= {GROWTH_GOAL_KIB} KiB: {verdict}"
        print(f"  peak RSS growth: {growth:.2f} KiB per artifact  {goal}")
    return rows


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ratio_only() -> None:
    """Measurement 2 alone, on a release signed against the instance started here."""
    print(f"load average {_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        try:
            state_dir = start(work)
            artifacts, policy, issuer = prepare(work, state_dir, make_sbom(work))
            print(f"{ARTIFACTS} artifacts, each signed, with provenance and SBOM attestations")
            gate_ratio(artifacts, policy, work, issuer)
        finally:
            lifecycle.down(work / "instance")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-runs", type=int, default=ARTIFACTS)
    parser.add_argument("--rss-mib", type=int, default=RSS_MIB, help="the large artifact's size")
    parser.add_argument("--rss-only", action="store_true", help="only the memory measurement")
    parser.add_argument("--scale-only", action="store_true", help="only the scaling measurement")
    parser.add_argument(
        "--ratio-only", action="store_true", help="only the gate / raw loop ratio (2)"
    )
    parser.add_argument("--scale", default=",".join(map(str, SCALE)), help="artifact counts")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.scale.split(","))
    if args.scale_only:
        scaling(sizes)
        return
    if args.ratio_only:
        ratio_only()
        return
    print(f"load average {_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        try:
            state_dir = start(work)
            sbom = make_sbom(work)
            # all signing first: the gate is offline, the measurements need no instance
            if not args.rss_only:
                artifacts, policy, issuer = prepare(work, state_dir, sbom)
            large, small, large_policy = prepare_large(work, state_dir, sbom, args.rss_mib)
            if not args.rss_only:
                ratios(artifacts, policy, work, issuer, args.peer_runs)
                print()
            memory(large, small, large_policy)
        finally:
            lifecycle.down(work / "instance")
    if not args.rss_only:
        print()
        scaling(sizes)


if __name__ == "__main__":
    main()
