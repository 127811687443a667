"""Coverage-guided fuzz target (atheris) for the gate's untrusted inputs: policies, statements
and bundles. The first byte picks the input; the parsers may refuse with their typed errors,
and the evidence collector, which judges bundles, may not raise at all.

Run: python tests/fuzz/fuzz_gate.py [CORPUS_DIR] -max_total_time=SECONDS (tests/fuzz/test_fuzz.py
does, with a seed corpus).
"""

import contextlib
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from verify.evidence import Collector
    from verify.formats.predicates import InvalidAttestation
    from verify.formats.statement import Statement
    from verify.policy import PolicyError, parse_policy
    from verify.trust import load_trust

import datetime

_WORK = Path(tempfile.mkdtemp(prefix="fuzz-gate-"))
_ARTIFACT = _WORK / "artifact.whl"
_ARTIFACT.write_bytes(b"the artifact\n")
_BUNDLE = _WORK / "artifact.whl.sigstore.json"
_ROOT = load_trust("production", None).root
_POLICY = parse_policy(
    b"version: 1\ntrust: production\nidentities: [{issuer: https://i.example, subject: x}]\n",
    "fuzz.yaml",
    _WORK,
)
_NOW = datetime.datetime.now(datetime.timezone.utc)


def one_input(data: bytes) -> None:
    if not data:
        return
    kind, body = data[0] % 3, data[1:]
    if kind == 0:
        with contextlib.suppress(PolicyError):
            parse_policy(body, "fuzz.yaml", _WORK)
    elif kind == 1:
        with contextlib.suppress(InvalidAttestation):
            Statement.from_json(body)
    else:
        _BUNDLE.write_bytes(body)
        # a new collector each time: one reads a directory once
        Collector(_ROOT, _POLICY, _NOW, _WORK).collect(_ARTIFACT)  # a problem, never an exception


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
