"""Ratio benchmark for the deploy gate, against the local instance (started here, stopped after).

500 signed artifacts, each also covered by a provenance, an SBOM and an SLO attestation:
1. `attest verify` of all 500 in one process vs `python -m sigstore verify identity` run once
   per artifact. Goal: attest at least 10x faster.
2. The gate in-process (`verify.gate.decide`: every check, every attestation) vs a raw
   in-process sigstore-python `Verifier.verify_artifact` loop checking the signatures only.
   Goal: at most 1.5x its time. Medians of 3 runs each.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_verify.py [--peer-runs N]` from the
repository root (N processes of the peer, default 500; the ratio is per artifact either way).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm

from attest.instance import lifecycle, oidc
from attest.instance.state import load_state
from attest.provenance import stage as provenance
from attest.sign.stage import SignRequest, sign
from verify import gate
from verify.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
ARTIFACTS = 500
RUNS = 3


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command[:5])} ...\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def prepare(work: Path) -> tuple[list[Path], Path, str, str]:
    """The instance, 500 signed artifacts with attestations, and a policy requiring them."""
    state_dir = work / "instance"
    lifecycle.up(state_dir, None, ttl=1800)
    state = load_state(state_dir)
    claims = oidc.github_claims("acme/web")
    token = oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)
    dist = work / "dist"
    dist.mkdir()
    artifacts = []
    for i in range(ARTIFACTS):
        path = dist / f"artifact-{i:03}.bin"
        path.write_bytes(f"artifact {i}\n".encode() * 64)
        artifacts.append(path)
    config = state_dir / "trust_config.json"
    sign(SignRequest(artifacts=tuple(artifacts), trust_config=config, identity_token=token))
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
    signing = provenance.Signing(trust_config=config, identity_token=token)
    environ = {
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
    now = datetime.datetime.now(datetime.timezone.utc)
    provenance.provenance(
        tuple(artifacts), signing, name="release", environ=environ, command=["bench"], now=now
    )
    provenance.attest(["sbom"], tuple(artifacts), signing, name="release", sbom=sbom)
    identity = "https://github.com/acme/web/.github/workflows/release.yml@refs/heads/main"
    policy = work / "policy.yaml"
    policy.write_text(
        f"version: 1\ntrust:\n  trusted_root: {state_dir / 'trusted_root.json'}\n"
        "  allow_development_root: true\n"
        f"identities:\n  - issuer: {state.issuer_url}\n    subject: {identity}\n"
        "require:\n  signature: true\n  provenance:\n    source_repository: https://github.com/acme/web\n"
        "  sbom: {}\n"
    )
    return artifacts, policy, identity, state.issuer_url


def raw_loop(artifacts: list[Path], root: Path, identity: str, issuer: str) -> float:
    """sigstore-python alone: hash each artifact, verify its signature bundle."""
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root)))
    policy = Identity(identity=identity, issuer=issuer)
    start = time.perf_counter()
    for artifact in artifacts:
        digest = hashlib.sha256(artifact.read_bytes()).digest()
        bundle = Bundle.from_json(artifact.with_name(artifact.name + ".sigstore.json").read_bytes())
        verifier.verify_artifact(
            Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest), bundle, policy
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-runs", type=int, default=ARTIFACTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        work = Path(tmp)
        try:
            artifacts, policy_path, identity, issuer = prepare(work)
            root = work / "instance" / "trusted_root.json"
            policy = load_policy(policy_path)
            now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
            ours, raw = [], []
            for _ in range(RUNS):
                start = time.perf_counter()
                run = gate.decide(artifacts, policy, now)
                ours.append(time.perf_counter() - start)
                assert run.allowed, "the gate must allow the benchmark's release"
                raw.append(raw_loop(artifacts, root, identity, issuer))
            process = timed(
                [
                    str(PYTHON),
                    "-m",
                    "attest",
                    "verify",
                    "--policy",
                    str(policy_path),
                    *map(str, artifacts),
                ]
            )
            sample = artifacts[: args.peer_runs]
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
                        identity,
                        "--cert-oidc-issuer",
                        issuer,
                        str(a),
                    ]
                )
                for a in sample
            )
            per_peer = peer / len(sample)
            print(f"{ARTIFACTS} artifacts, each signed, with provenance and SBOM attestations")
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
            ratio = statistics.median(ours) / statistics.median(raw)
            ours_s, raw_s = statistics.median(ours), statistics.median(raw)
            print(f"  gate in-process, median of {RUNS} (every check) : {ours_s:7.3f} s")
            print(f"  raw verify_artifact loop, median of {RUNS}      : {raw_s:7.3f} s")
            print(
                f"  ratio gate / raw loop                         : {ratio:7.2f}x  "
                f"goal <= 1.5x: {'MET' if ratio <= 1.5 else 'NOT MET'}"
            )
        finally:
            lifecycle.down(work / "instance")


if __name__ == "__main__":
    main()
