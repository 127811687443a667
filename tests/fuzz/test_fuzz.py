"""The gate's fuzz target runs for a bounded time in `make test` and finds nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SECONDS = int(os.environ.get("ATTEST_FUZZ_SECONDS", "30"))
CONFORMANCE = REPO.parent / "shared" / "data" / "sigstore-conformance" / "bundle-verify"


def _seeds(corpus: Path) -> int:
    """Example policies (0x00), a statement (0x01) and real bundles when ../shared has them
    (0x02): starting points the fuzzer mutates."""
    seeds = [
        b"\x00" + p.read_bytes() for p in sorted((REPO / "examples" / "policies").glob("*.yaml"))
    ]
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a.whl", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://in-toto.io/attestation/link/v0.3",
        "predicate": {"name": "build", "command": ["make"], "materials": []},
    }
    seeds.append(b"\x01" + json.dumps(statement).encode())
    if CONFORMANCE.is_dir():
        seeds += [
            b"\x02" + p.read_bytes()
            for p in sorted(CONFORMANCE.glob("*/bundle.sigstore.json"))[:20]
        ]
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i:03}").write_bytes(seed)
    return len(seeds)


@pytest.mark.skipif(
    sys.version_info < (3, 11) or sys.platform != "linux",
    reason="atheris wheels: CPython 3.11+ on Linux",
)
def test_the_gate_survives_fuzzing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    assert _seeds(corpus) >= 5
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "fuzz" / "fuzz_gate.py"), str(corpus),
         f"-max_total_time={SECONDS}", "-rss_limit_mb=2048", "-timeout=10"],
        capture_output=True, text=True, timeout=SECONDS + 120, cwd=tmp_path, check=False,
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    assert "Done" in report, report[-2000:]
