"""The demo's scan chapter (examples/demo_scan.sh) tells its story: an overdue finding fails
the stage, a waiver file lets it pass, expired waivers fail it again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_demo_scan_chapter() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "examples/demo_scan.sh"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exit code 1 (1: an SLO is breached)" in done.stdout
    assert "| overdue | flask | 2.2.5 | PYSEC-2026-2151 | medium 4.3 |" in done.stdout
    assert "## attest scan: passed" in done.stdout
    assert "| waived | requests | 2.31.0 | PYSEC-2026-2275 | medium 5.5 |" in done.stdout
    assert "waiver for CVE-2026-25645" in done.stdout
