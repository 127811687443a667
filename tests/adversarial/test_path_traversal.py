"""Names are not paths (issue 8): a signed statement whose subject names a file outside the
directory (`../../../etc/passwd`) is judged by its digest only, and the gate never opens what a
subject names."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from attest.output import write_atomic
from tests.signing.conftest import LocalInstance
from tests.signing.test_gate_support import (
    SBOM,
    github_token,
    make_release,
    session,
    strict_policy,
    write_policy,
)
from verify import gate
from verify.attestations.predicates import KINDS
from verify.policy import load_policy


def test_subject_names_are_never_opened(
    instance: LocalInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = make_release(instance, tmp_path / "dist")
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (release.wheel, release.sdist)]
    statement: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "../../../etc/passwd", "digest": {"sha256": digests[0]}},
            {"name": "/etc/shadow", "digest": {"sha256": digests[1]}},
        ],
        "predicateType": KINDS["sbom"],
        "predicate": SBOM,
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    bundle = session(instance, github_token(instance)).sign_statement(payload, "sbom")
    write_atomic(release.dist / "acme_web-1.4.0.sbom.sigstore.json", bundle.to_json().encode())
    policy = load_policy(write_policy(tmp_path / "policy.yaml", strict_policy(instance)))

    opened: list[str] = []
    real_open = Path.open

    def recording_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self.resolve()))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", recording_open)
    now = release.now + datetime.timedelta(minutes=1)
    run = gate.decide([release.wheel, release.sdist], policy, now)
    assert run.allowed, [o.to_dict(i) for d in run.decisions for i, o in enumerate(d.outcomes)]
    # it read the release (and its trust root and plugin metadata), never the subjects' "names"
    assert str(release.wheel.resolve()) in opened
    assert not [path for path in opened if path.startswith("/etc")], opened
