"""`attest sign` of files starts light: what only images, PEP 740 or the gate need is imported
where it is used, not by every signing run (each such import cost tens of milliseconds, paid
before the first signature)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

# modules a file-signing run never uses: the gate and its policy (yaml, re2), the statement
# schemas (jsonschema), the SBOM sources (packaging, tomllib)
UNUSED = ("verify.gate", "verify.policy", "verify.evidence", "jsonschema", "yaml",
          "attest.sbom.interface", "verify.formats.predicates", "pypi_attestations")  # fmt: skip


def test_signing_files_imports_neither_the_gate_nor_the_schemas() -> None:
    probe = (
        "import sys\n"
        "import attest.cli, attest.sign.command, attest.sign.stage, attest.sign.session\n"
        f"print(' '.join(m for m in {UNUSED!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.split() == [], f"imported at the start of `attest sign`: {done.stdout}"
