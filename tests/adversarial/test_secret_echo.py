"""No input byte reaches a person beyond a short excerpt (issue 14): every command that reads a
file is fed files holding a secret-looking value, in every shape a reader might quote (a bare
line, a JSON string, a YAML or TOML value, a requirement, a file reached through an include),
and the value never appears in stdout, stderr, or any file the command writes. An excerpt of the
offending token may be quoted; the secret is longer than any excerpt, so whole it never is.

The invariant is per reader, not per message: a new message anywhere that echoes a line trips
it. Each run is in-process (click's runner), so a reader that hung would hang here: the hostile
files are regular files, and the pseudo-file cases live with each reader's own tests. Each runs
quiet, with -vv (every log line, and the traceback of its error) and with -vv in JSON: no input
secret reaches any output at any verbosity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from attest.cli import cli
from tests.conftest import REPO, run_attest
from verify import logs

# 72 characters: longer than any excerpt a message may quote.
SECRET = "ghs_" + "S3cr3tV4lu3" * 6 + "ENDxx"
_PIECE = SECRET[8:48]  # what a cut-short excerpt of the secret would still show in full

SHAPES: dict[str, str] = {
    "line": f"TOKEN={SECRET}\n",
    "json": json.dumps({"bomFormat": SECRET, "x": [SECRET]}),
    "json list": json.dumps([SECRET, {SECRET: SECRET}]),
    "yaml": f"version: {SECRET}\n{SECRET}: [{SECRET}]\n",
    "toml": f'version = "{SECRET}"\n[{SECRET}]\nx = 1\n',
    "requirement": f"{SECRET}==1.0 ; {SECRET}\nflask=={SECRET}\n",
}


def _commands(tmp: Path, shape: str, artifact: Path) -> Iterator[tuple[str, list[str]]]:
    """(name, argv) for each option of each command that reads a file; the hostile file is
    written under the name that option expects, so each reader gets past choosing a format."""

    def hostile(name: str) -> str:
        path = tmp / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(SHAPES[shape])
        return str(path)

    db = str(REPO / "examples" / "advisories")
    out = str(tmp / "out")
    sbom = str(REPO / "tests" / "fixtures" / "scan" / "sbom.cdx.json")
    policy = str(REPO / "examples" / "policies" / "strict.yaml")  # the production root
    signer = ["--certificate-identity", "x", "--certificate-oidc-issuer", "https://x"]
    token = ["--identity-token", "x.y.z"]
    yield "sbom --requirements", ["sbom", "--requirements", hostile("requirements.txt"), "-o", out]
    yield "sbom --lock", ["sbom", "--lock", hostile("uv.lock"), "-o", out]
    requirements = str(REPO / "tests" / "fixtures" / "scan" / "requirements.txt")
    project = str(Path(hostile("pyproject.toml")).parent)
    yield "sbom --project", ["sbom", "--requirements", requirements, "--project", project,
                             "-o", out]  # fmt: skip
    scan = ["scan", "--db", db, "--now", "2026-07-20", "-o", out]
    yield "scan --sbom", [*scan, "--sbom", hostile("sbom.cdx.json")]
    yield "scan --requirements", [*scan, "--requirements", hostile("requirements.txt")]
    yield "scan --lock", [*scan, "--lock", hostile("pylock.toml")]
    yield "scan --db", ["scan", "--sbom", sbom, "--db", hostile("all.json"), "-o", out]
    for name in ("policy.yaml", "policy.toml", "policy.json"):
        yield f"scan --policy {name}", [*scan, "--sbom", sbom, "--policy", hostile(name)]
    yield "scan --waivers", [*scan, "--sbom", sbom, "--waivers", hostile("waivers.yaml")]
    yield "scan --ledger", [*scan, "--sbom", sbom, "--ledger", hostile("ledger.json")]
    for command in ("sign", "provenance"):
        yield f"{command} --trust-config", [
            command, "--trust-config", hostile("trust.json"), *token, str(artifact), *(
                ["--allow-dirty"] if command == "provenance" else [])
        ]  # fmt: skip
    yield "provenance --sbom", ["provenance", "--allow-dirty", "--sbom",
                                hostile("sbom.cdx.json"), *token, str(artifact)]  # fmt: skip
    for predicate, option, name in (("vulns", "--scan", "scan.json"),
                                    ("sbom", "--sbom", "sbom.cdx.json")):  # fmt: skip
        yield f"attest {option}", ["attest", "--predicate", predicate, option, hostile(name),
                                   *token, str(artifact)]  # fmt: skip
    yield "verify --policy", ["verify", "--policy", hostile("policy.yaml"), str(artifact)]
    bundles = Path(hostile(f"{artifact.name}.sigstore.json")).parent
    yield "verify bundle", ["verify", "--policy", policy, "--attestations", str(bundles),
                            str(artifact)]  # fmt: skip
    yield "verify --decision-log", ["verify", "--policy", policy, "--decision-log",
                                    hostile("decisions.log"), str(artifact)]  # fmt: skip
    yield "verify --db", ["verify", "--policy", policy, "--db", hostile("all.json"),
                          "--attestations", str(bundles), str(artifact)]  # fmt: skip
    yield "verify-bundle --bundle", ["verify-bundle", *signer, "--bundle",
                                     hostile("b.sigstore.json"), str(artifact)]  # fmt: skip
    yield "verify-bundle --trusted-root", ["verify-bundle", *signer, "--bundle",
        hostile("b.sigstore.json"), "--trusted-root", hostile("root.json"), str(artifact)]  # fmt: skip
    yield "verify-log", ["verify-log", hostile("decisions.log")]


def _written(out: Path) -> Iterator[Path]:
    """What a command wrote: its output file (or the files in its output directory)."""
    if out.is_file():
        yield out
    elif out.is_dir():
        yield from (path for path in out.rglob("*") if path.is_file())


def _run(argv: list[str]) -> tuple[int, str]:
    code, text, _ = _run_seeing_stderr(argv)
    return code, text


def _run_seeing_stderr(argv: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, argv, catch_exceptions=True)
    text = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += repr(result.exception)
    return result.exit_code, text, result.stderr


@pytest.fixture(autouse=True)
def _quiet_again() -> Iterator[None]:
    yield
    logs.configure(0)  # a -vv run leaves the root configured: the next test starts quiet


VERBOSITY = {"quiet": [], "-vv": ["-vv"], "-vv json": ["-vv", "--log-format", "json"]}


@pytest.mark.parametrize("verbosity", sorted(VERBOSITY))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_command_echoes_a_whole_input_value(tmp_path: Path, shape: str, verbosity: str) -> None:
    artifact = tmp_path / "app-1.0-py3-none-any.whl"
    artifact.write_bytes(b"PK\x05\x06" + bytes(18))
    leaks: list[str] = []
    for name, argv in _commands(tmp_path, shape, artifact):
        code, text, stderr = _run_seeing_stderr([*VERBOSITY[verbosity], *argv])
        assert code in (0, 1, 2), f"{name} on a {shape}: exit {code}: {text[-500:]}"
        if verbosity == "quiet":
            assert "Traceback" not in text, name
        elif "json" in verbosity:  # logs and the traceback are JSON; people's lines stay text
            people = _run_seeing_stderr(argv)[2].splitlines()
            lines = [x for x in stderr.splitlines() if x not in people]
            assert all(isinstance(json.loads(x), dict) for x in lines), (name, lines)
        if SECRET in text:
            leaks.append(f"{name} printed it")
        for path in _written(tmp_path / "out"):
            if SECRET.encode() in path.read_bytes():
                leaks.append(f"{name} wrote it to {path.name}")
            path.unlink()  # each command starts with nothing written
    assert not leaks, f"a {shape} input echoed whole: {leaks}"


@pytest.mark.parametrize("verbosity", sorted(VERBOSITY))
@pytest.mark.parametrize("command", ["sbom", "scan"])
def test_an_included_file_is_never_quoted(tmp_path: Path, command: str, verbosity: str) -> None:
    """A requirements file in a pull request that includes a file elsewhere (a CI runner's
    secrets, /proc/self/environ) must not print any of it: not even an excerpt."""
    outside = tmp_path / "elsewhere" / "secrets.env"
    outside.parent.mkdir()
    outside.write_text(f"TOKEN={SECRET}\n")
    project = tmp_path / "project"
    project.mkdir()
    named = project / "requirements.txt"
    named.write_text(f"-r {outside}\n-c ../elsewhere/secrets.env\n")
    argv = [command, "--requirements", str(named), "-o", str(tmp_path / "out")]
    if command == "scan":
        argv += ["--db", str(REPO / "examples" / "advisories")]
    code, text = _run([*VERBOSITY[verbosity], *argv])
    assert code == 2, text
    assert _PIECE not in text and "TOKEN=" not in text, text
    assert "outside" in text, text  # the reason: the include leaves the named file's tree


@pytest.mark.parametrize("command", ["sbom", "scan"])
def test_proc_self_environ_is_refused_by_name(tmp_path: Path, command: str) -> None:
    """A child process, so the secret is in the environment /proc/self/environ shows."""
    named = tmp_path / "requirements.txt"
    named.write_text("-r /proc/self/environ\n")
    argv = [command, "--requirements", str(named), "-o", str(tmp_path / "out")]
    if command == "scan":
        argv += ["--db", str(REPO / "examples" / "advisories")]
    done = run_attest(*argv, env={"ATTEST_TEST_SECRET": SECRET})
    text = done.stdout + done.stderr
    assert done.returncode == 2, text
    assert _PIECE not in text and "ATTEST_TEST_SECRET" not in text, text
    assert "/proc/self/environ" in text, text
