"""A timestamp authority that does not answer stops the signing before the log is written:
sigstore-python only warns, logs the entry, then cannot build the Rekor v2 bundle (which needs
the timestamp) and the run ended as an internal error, with an entry in the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.conftest import LocalInstance
from tests.loopback import unused_port
from verify.errors import ExitCode


def test_a_dead_tsa_is_an_operational_error_before_anything_is_logged(
    invoke: Callable[..., Result], rekor2_instance: LocalInstance, tmp_path: Path
) -> None:
    config = json.loads(rekor2_instance.trust_config.read_text())
    dead = f"http://127.0.0.1:{unused_port()}/api/v1/timestamp"
    config["signingConfig"]["tsaUrls"][0]["url"] = dead
    (tmp_path / "dead.json").write_text(json.dumps(config))
    artifact = tmp_path / "a.txt"
    artifact.write_bytes(b"contents\n")
    before = rekor2_instance.entries()
    result = invoke(
        "sign", "--trust-config", str(tmp_path / "dead.json"),
        "--identity-token", rekor2_instance.token(), str(artifact),
    )  # fmt: skip
    assert result.exit_code == ExitCode.OPERATIONAL, result.stderr
    said = " ".join(result.stderr.split())
    assert f"the timestamp authority '{dead}' did not answer (ConnectionError)" in said
    assert "a Rekor v2 bundle needs a signed timestamp" in said
    assert "nothing was logged or written for it" in said and "internal error" not in said
    assert rekor2_instance.entries() == before, said
    assert not list(tmp_path.glob("*.sigstore.json"))
