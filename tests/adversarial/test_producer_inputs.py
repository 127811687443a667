"""The producer's own inputs (issue 14): the trust config of `attest sign`, the SBOM and scan
report of `attest provenance` and `attest attest`, the artifacts and the bundles read back by
`attest release`. Each is opened only if it is a regular file and read with a size limit that
does not trust st_size: a FIFO, /dev/zero, a directory or a 2 GiB sparse file is exit 2 with one
line naming the file, never a hang, a MemoryError or exit 3, and the message never quotes the
file. Each run is a child process, so a reader that blocked would end in the timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LocalInstance, run_attest
from verify.errors import ExitCode

SECRET = "-----BEGIN PRIVATE KEY----- MIIEvSECRETdoNotPrint"
CI = "https://example.com/ci"
NOT_REGULAR = "is not a regular file (FIFO, socket, device), expected a file"


def hostile(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An input of the given kind, and what the refusal says of it after its name."""
    path = tmp_path / f"{kind}.json"
    if kind == "fifo":
        os.mkfifo(path)
        return path, NOT_REGULAR
    if kind == "device":  # refused by where it lies, before what it is
        return Path("/dev/zero"), "is in /dev, a kernel pseudo file system: never read as input"
    if kind == "directory":
        path.mkdir()
        return path, "is a directory, expected a file"
    if kind == "sparse":
        with path.open("wb") as handle:
            handle.truncate(2 << 30)  # 2 GiB that takes no disk
        return path, "2048.0 MiB, over the 64 MiB limit for an input file"
    if kind == "nested":
        path.write_text("[" * 100_000 + "]" * 100_000)
        return path, ""
    raise AssertionError(kind)


def refused(done: subprocess.CompletedProcess[str], path: Path, reason: str) -> None:
    """Exit 2, one line that names the file and gives the reason, nothing of the file."""
    assert done.returncode == ExitCode.USAGE, done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("attest: error:")]
    assert done.stderr.endswith(f"{line}\n")  # the last line, and a whole one
    assert line.startswith(f"attest: error: {path}: {reason}"), line
    assert "Traceback" not in done.stderr
    assert "MIIEvSECRET" not in done.stdout + done.stderr
    assert len(line) < len(str(path)) + 300, line


def _artifact(tmp_path: Path) -> Path:
    wheel = tmp_path / "acme-1.0-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")
    return wheel


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("fifo", ""),
        ("device", ""),
        ("directory", ""),
        ("sparse", ""),
        ("nested", "not a Sigstore ClientTrustConfig: document: Invalid JSON: recursion limit"),
        ("secret", "not a Sigstore ClientTrustConfig: mediaType: Input should be"),
    ],
)
def test_a_hostile_trust_config_is_a_clean_refusal(tmp_path: Path, kind: str, reason: str) -> None:
    if kind == "secret":  # pydantic's own message would quote the value
        config, said = tmp_path / "trust.json", ""
        config.write_text(json.dumps({"mediaType": SECRET}))
    else:
        config, said = hostile(tmp_path, kind)
    done = run_attest(
        "sign", "--trust-config", str(config), "--identity-token", "x.y.z", str(_artifact(tmp_path))
    )
    refused(done, config, reason or said)


@pytest.mark.parametrize("kind", ["fifo", "directory", "sparse", "nested"])
def test_a_hostile_sbom_for_provenance_is_a_clean_refusal(
    instance: LocalInstance, tmp_path: Path, kind: str
) -> None:
    sbom, said = hostile(tmp_path, kind)
    signing = ["--trust-config", str(instance.trust_config), "--identity-token", instance.token(CI)]
    wheel = str(_artifact(tmp_path))
    for command in (
        ["provenance", *signing, "--sbom", str(sbom), wheel],
        ["attest", *signing, "--predicate", "sbom", "--sbom", str(sbom), wheel],
    ):
        refused(run_attest(*command), sbom, said or "the SBOM is not JSON: nested too deeply")
    assert not list(tmp_path.glob("*.sigstore.json"))


@pytest.mark.parametrize("kind", ["device", "nested"])
def test_a_hostile_scan_report_is_a_clean_refusal(
    instance: LocalInstance, tmp_path: Path, kind: str
) -> None:
    report, said = hostile(tmp_path, kind)
    done = run_attest(
        "attest", "--trust-config", str(instance.trust_config), "--identity-token",
        instance.token(CI), "--predicate", "vulns", "--scan", str(report), str(_artifact(tmp_path)),
    )  # fmt: skip
    refused(done, report, said or "the scan report is not JSON: nested too deeply")


def test_release_refuses_an_artifact_that_is_not_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "acme-1.0.tar.gz"
    os.mkfifo(fifo)
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\n")
    done = run_attest("release", "--policy", str(policy), "--project", str(tmp_path), str(fifo))
    refused(done, fifo, "is not a regular file")  # it said "no such file"


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "sparse", "secret"])
def test_a_bundle_read_back_by_release_is_read_as_input(tmp_path: Path, kind: str) -> None:
    """The release dates its evidence by the bundles it just wrote; one replaced meanwhile by
    something else is refused like any input, not read whole or forever."""
    if kind == "secret":
        bundle, said = tmp_path / "x.sigstore.json", "not a Sigstore bundle: "
        bundle.write_text(json.dumps({"mediaType": SECRET}))
    else:
        bundle, said = hostile(tmp_path, kind)
    code = (
        "import sys\nfrom pathlib import Path\nfrom attest.release.stage import signed_at\n"
        "from verify.errors import AttestError\n"
        f"try:\n    signed_at(Path({str(bundle)!r}))\nexcept AttestError as e:\n"
        "    print(int(e.exit_code), e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr == ""
    [line] = done.stdout.strip().splitlines()
    assert line.startswith(f"{int(ExitCode.USAGE)} {bundle}: {said}"), line
    assert "MIIEvSECRET" not in line and len(line) < len(str(bundle)) + 300
