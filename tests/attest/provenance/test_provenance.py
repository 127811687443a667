"""`attest provenance`, `attest attest` and `attest build`: golden statements for a simulated
GitHub Actions run and a local git checkout, every attestation verified by sigstore-python's
verify_dsse and by sigstore-js, and every bad input refused clearly."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from attest.instance import oidc
from attest.provenance import stage
from attest.sign.session import SigningSession
from tests.clients import verify_dsse_py, verify_js
from tests.conftest import FIXTURES, REPO, LocalInstance
from verify.errors import ExitCode, InputError, OperationalError
from verify.formats.predicates import KINDS

GOLDEN = FIXTURES / "provenance"
CI = "https://example.com/ci"
WORKFLOW = "https://github.com/acme/web/.github/workflows/release.yml@refs/tags/v1.4.0"
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/web",
    "GITHUB_REPOSITORY_ID": "123456",
    "GITHUB_REPOSITORY_OWNER_ID": "7890",
    "GITHUB_REF": "refs/tags/v1.4.0",
    "GITHUB_SHA": "c27d339ee6075c1f744c5d4b200f7901aad2c369",
    "GITHUB_WORKFLOW_REF": "acme/web/.github/workflows/release.yml@refs/tags/v1.4.0",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "1536140711",
    "GITHUB_RUN_ATTEMPT": "2",
    "RUNNER_ENVIRONMENT": "github-hosted",
}
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def _dist(tmp_path: Path) -> tuple[Path, Path]:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = dist / "acme_web-1.4.0-py3-none-any.whl"
    sdist = dist / "acme_web-1.4.0.tar.gz"
    wheel.write_bytes(b"the wheel\n")
    sdist.write_bytes(b"the sdist\n")
    return wheel, sdist


def _signing(local: LocalInstance, token: str) -> stage.Signing:
    return stage.Signing(trust_config=local.trust_config, identity_token=token)


def _github_token(local: LocalInstance) -> str:
    claims = oidc.github_claims("acme/web", ref="refs/tags/v1.4.0")
    state = local.state
    return oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)


def _golden(name: str, statement: dict[str, Any]) -> None:
    path = GOLDEN / name
    if os.environ.get("ATTEST_UPDATE_GOLDEN"):
        path.write_text(json.dumps(statement, indent=2, sort_keys=True) + "\n")
    assert statement == json.loads(path.read_text()), f"differs from {path}"


@pytest.mark.interop
def test_github_actions_provenance_golden(instance: LocalInstance, tmp_path: Path) -> None:
    wheel, sdist = _dist(tmp_path)
    written = stage.provenance(
        (wheel, sdist),
        _signing(instance, _github_token(instance)),
        environ=GITHUB_ENV,
        command=["attest"],
        now=NOW,
    )
    assert written.path == tmp_path / "dist" / "acme_web-1.4.0.provenance.sigstore.json"
    statement = verify_dsse_py(instance, written.path, WORKFLOW)
    _golden("github.statement.json", statement)
    assert verify_js(instance.trusted_root, written.path, None, WORKFLOW, instance.issuer) is None


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.com",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("print('acme')\n")
    (repo / ".gitignore").write_text("dist/\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "release")
    _git(repo, "remote", "add", "origin", "https://deploy:t0ken@git.example/acme/web.git")
    return repo


@pytest.mark.interop
def test_local_provenance_golden(instance: LocalInstance, tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    wheel, sdist = _dist(repo)
    token = instance.token(CI)
    written = stage.provenance(
        (wheel, sdist),
        _signing(instance, token),
        source_dir=repo,
        environ={},
        command=["attest", "provenance", "--identity-token", token, "dist/*"],
        now=NOW,
    )
    statement = verify_dsse_py(instance, written.path, CI)
    assert token not in json.dumps(statement)
    internal = statement["predicate"]["buildDefinition"]["internalParameters"]
    assert set(internal) == {"host", "platform", "python"}
    metadata = statement["predicate"]["runDetails"]["metadata"]
    assert metadata["invocationId"].startswith("urn:uuid:")
    # what varies by machine and run is checked above, then fixed for the golden comparison
    statement["predicate"]["buildDefinition"]["internalParameters"] = {"host": "-"}
    metadata["invocationId"] = "-"
    _golden("local.statement.json", statement)
    assert verify_js(instance.trusted_root, written.path, None, CI, instance.issuer) is None


@pytest.mark.interop
def test_sbom_components_become_resolved_dependencies(
    instance: LocalInstance, tmp_path: Path
) -> None:
    repo = _checkout(tmp_path)
    wheel, _ = _dist(repo)
    written = stage.provenance(
        (wheel,),
        _signing(instance, instance.token(CI)),
        source_dir=repo,
        environ={},
        sbom=_sbom(tmp_path),
        command=["attest"],
        now=NOW,
    )
    dependencies = verify_dsse_py(instance, written.path, CI)["predicate"]["buildDefinition"][
        "resolvedDependencies"
    ]
    uris = {d["uri"] for d in dependencies}
    assert "pkg:pypi/requests@2.31.0" in uris and "pkg:pypi/flask@2.2.5" in uris
    assert written.path.name == f"{wheel.name}.provenance.sigstore.json"


def _sbom(tmp_path: Path) -> Path:
    out = tmp_path / "sbom.cdx.json"
    lock = REPO / "examples" / "demo-project" / "uv.lock"
    subprocess.run(
        [sys.executable, "-m", "attest", "sbom", "--lock", str(lock), "--output", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def scan_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real scan of the demo project against the example advisory set (2 overdue)."""
    out = tmp_path_factory.mktemp("scan")
    report = out / "scan.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "attest",
            "scan",
            "--lock",
            str(REPO / "examples" / "demo-project" / "uv.lock"),
            "--db",
            str(REPO / "examples" / "advisories"),
            "--cache-dir",
            str(out / "cache"),
            "--now",
            "2026-07-15T00:00:00Z",
            "--format",
            "json",
            "--output",
            str(report),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr  # overdue findings: the report is still written
    return report


@pytest.mark.interop
def test_sbom_vulns_and_slo_statements(
    invoke: Callable[..., Result], instance: LocalInstance, tmp_path: Path, scan_report: Path
) -> None:
    wheel, sdist = _dist(tmp_path)
    token = instance.token(CI)
    result = invoke(
        "attest",
        "--predicate",
        "sbom",
        "--predicate",
        "vulns",
        "--predicate",
        "slo",
        "--sbom",
        str(_sbom(tmp_path)),
        "--scan",
        str(scan_report),
        "--trust-config",
        str(instance.trust_config),
        "--identity-token",
        token,
        "--json",
        str(wheel),
        str(sdist),
    )
    assert result.exit_code == 0, result.stderr
    assert token not in result.stdout + result.stderr
    written = {w["kind"]: Path(w["path"]) for w in json.loads(result.stdout)}
    assert {k: p.name for k, p in written.items()} == {
        kind: f"acme_web-1.4.0.{kind}.sigstore.json" for kind in ("sbom", "vulns", "slo")
    }
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (wheel, sdist)}
    for kind, path in written.items():
        statement = verify_dsse_py(instance, path, CI)
        assert statement["predicateType"] == KINDS[kind]
        assert {s["digest"]["sha256"] for s in statement["subject"]} == digests
        assert verify_js(instance.trusted_root, path, None, CI, instance.issuer) is None
    sbom = verify_dsse_py(instance, written["sbom"], CI)["predicate"]
    assert sbom["bomFormat"] == "CycloneDX" and len(sbom["components"]) == 12
    vulns = verify_dsse_py(instance, written["vulns"], CI)["predicate"]
    assert {r["id"] for r in vulns["scanner"]["result"]} >= {"PYSEC-2026-2151", "PYSEC-2026-2275"}
    slo = verify_dsse_py(instance, written["slo"], CI)["predicate"]
    overdue = sorted(f["id"] for f in slo["findings"] if f["status"] == "overdue")
    assert overdue == ["PYSEC-2026-2151", "PYSEC-2026-2275"]
    assert len(slo["policySha256"]) == 64 and slo["scannedAt"] == "2026-07-15T00:00:00Z"
    # which advisory data decided it (threat S9): the database's content digest, signed
    database = json.loads(scan_report.read_text())["source"]["database"]
    assert len(database["sha256"]) == 64
    assert slo["database"]["sha256"] == database["sha256"]
    assert vulns["scanner"]["db"]["version"] == f"sha256:{database['sha256']}"


@pytest.mark.interop
def test_large_sbom_is_attested_by_reference(instance: LocalInstance, tmp_path: Path) -> None:
    wheel, _ = _dist(tmp_path)
    sbom = _sbom(tmp_path)
    [written] = stage.attest(
        ["sbom"], (wheel,), _signing(instance, instance.token(CI)), sbom=sbom, max_inline_sbom=1000
    )
    predicate = verify_dsse_py(instance, written.path, CI)["predicate"]
    assert predicate == {
        "attestByReference": {
            "name": "sbom.cdx.json",
            "digest": {"sha256": hashlib.sha256(sbom.read_bytes()).hexdigest()},
            "mediaType": "application/vnd.cyclonedx+json",
            "size": sbom.stat().st_size,
        }
    }


@pytest.mark.interop
def test_build_link(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _checkout(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the build's log
    token = instance.token(CI)
    result = invoke(
        "build",
        "--product",
        "dist",
        "--trust-config",
        str(instance.trust_config),
        "--identity-token",
        token,
        "--",
        "sh",
        "-c",
        "mkdir -p dist && cp app.py dist/acme.tar.gz && echo built",
    )
    assert result.exit_code == 0, result.stderr
    link = repo / "dist" / "build.build.sigstore.json"
    statement = verify_dsse_py(instance, link, CI)
    product = hashlib.sha256((repo / "dist" / "acme.tar.gz").read_bytes()).hexdigest()
    assert statement["subject"] == [{"name": "dist/acme.tar.gz", "digest": {"sha256": product}}]
    predicate = statement["predicate"]
    assert predicate["command"] == [
        "sh",
        "-c",
        "mkdir -p dist && cp app.py dist/acme.tar.gz && echo built",
    ]
    assert {m["name"] for m in predicate["materials"]} == {".gitignore", "app.py"}
    assert predicate["byproducts"] == {"return-value": 0}
    assert verify_js(instance.trusted_root, link, None, CI, instance.issuer) is None


@pytest.mark.interop
def test_a_build_command_keeps_its_verbosity_words(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without `--`, every word from the command's first is the command's: the tool receives
    --verbose, -vv, --log-format json and --json, and the signed link records them; a -v
    before the command's name is attest's."""
    repo = _checkout(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the build's log
    tool = "import json, os, sys; os.makedirs('dist'); open('dist/argv', 'w').write(json.dumps(sys.argv[1:]))"
    words = ["--verbose", "-x", "--log-format", "json", "-vv", "--json"]
    result = invoke(
        "build",
        "-v",
        "--product",
        "dist",
        "--trust-config",
        str(instance.trust_config),
        "--identity-token",
        instance.token(CI),
        sys.executable,
        "-c",
        tool,
        *words,
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads((repo / "dist" / "argv").read_text()) == words
    statement = verify_dsse_py(instance, repo / "dist" / "build.build.sigstore.json", CI)
    assert statement["predicate"]["command"] == [sys.executable, "-c", tool, *words]
    assert "build: start" in result.stderr and not result.stderr.lstrip().startswith("{")
    assert result.stdout == ""  # --json was the tool's: attest's JSON report is not written


def test_failing_build_writes_no_link(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _checkout(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the default logs go
    base = [
        "build",
        "--product",
        "dist",
        "--trust-config",
        str(instance.trust_config),
        "--identity-token",
        instance.token(CI),
        "--",
    ]
    failed = invoke(*base, "sh", "-c", "mkdir -p dist && touch dist/x && echo oops && exit 4")
    assert failed.exit_code == ExitCode.OPERATIONAL
    log = failed.stderr.split("its output is saved in ", 1)[1].split("\n", 1)[0]
    assert f"the build command exited 4; no link was written; its output is in {log}" in (
        failed.stderr
    )
    assert Path(log).read_text() == "oops\n"
    assert Path(log).parent == tmp_path and Path(log).stat().st_mode & 0o777 == 0o600
    killed = invoke(*base, "sh", "-c", "kill -9 $$")
    assert "the build command was killed by SIGKILL; no link was written" in killed.stderr
    assert not (repo / "dist" / "build.build.sigstore.json").exists()
    logs = set(tmp_path.glob("attest-build-*.log"))
    missing = invoke(*base, "no-such-build-tool")
    assert missing.exit_code == ExitCode.USAGE
    assert "cannot run the build command 'no-such-build-tool'" in missing.stderr
    assert set(tmp_path.glob("attest-build-*.log")) == logs  # its empty log was removed
    nothing = invoke(*[("out" if a == "dist" else a) for a in base], "true")
    assert nothing.exit_code == ExitCode.USAGE
    assert "out: the build created or changed no files there" in nothing.stderr


def test_a_rerun_records_only_what_it_wrote(instance: LocalInstance, tmp_path: Path) -> None:
    """Stale files in the output directory (the first run's dist and its own link bundle) are
    not products of a second build that wrote one file; a run that wrote nothing is refused."""
    repo = _checkout(tmp_path)
    signing = _signing(instance, instance.token(CI))
    first = "mkdir -p dist && echo 1 > dist/acme.tar.gz && echo 1 > dist/acme.whl"
    built = stage.build(
        ["sh", "-c", first], (Path("dist"),), signing, base=repo, log=tmp_path / "1"
    )
    names = [s.name for s in built.statement.subjects]
    assert names == ["dist/acme.tar.gz", "dist/acme.whl"]
    again = stage.build(
        ["sh", "-c", "echo 2 > dist/acme.whl"],
        (Path("dist"),),
        signing,
        base=repo,
        log=tmp_path / "2",
    )
    assert [s.name for s in again.statement.subjects] == ["dist/acme.whl"]
    with pytest.raises(InputError, match="dist: the build created or changed no files there"):
        stage.build(["true"], (Path("dist"),), signing, base=repo, log=tmp_path / "3")


def test_a_link_out_of_the_tree_is_never_signed(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build that leaves a link to a file outside dist among its products, or a --material
    that cannot be recorded, is exit 2 naming it, before any signing: no link is written."""
    repo = _checkout(tmp_path)
    (tmp_path / "outside-secret.txt").write_text("SECRET")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the build's log
    token = instance.token(CI)
    base = ["build", "--trust-config", str(instance.trust_config), "--identity-token", token]
    leak = "mkdir dist && echo x > dist/a.whl && ln -s ../../outside-secret.txt dist/leak.whl"
    leaked = invoke(*base, "--product", "dist", "--", "sh", "-c", leak)
    assert leaked.exit_code == ExitCode.USAGE, leaked.stderr
    assert (
        "cannot record the products (each must be a file in its product directory): "
        f"dist/leak.whl: a link out of {repo / 'dist'} (to {tmp_path / 'outside-secret.txt'})"
    ) in leaked.stderr
    missing = invoke(*base, "--material", "nope.txt", "--product", "out", "--", "touch", "ran")
    assert missing.exit_code == ExitCode.USAGE
    assert "nope.txt: no such file or directory" in missing.stderr
    assert not (repo / "ran").exists()
    assert not list(repo.rglob("*.sigstore.json"))


def test_a_product_changed_while_signing_writes_no_link(
    instance: LocalInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something outside the build (not its child: those are ended before hashing) rewrites a
    product while the link is signed: the signed digest would not be the file's, so no link."""
    repo = _checkout(tmp_path)
    sign = SigningSession.sign_statement

    def rewriting(self: SigningSession, payload: bytes, name: str) -> Any:
        (repo / "dist" / "a.whl").write_text("EVIL")
        return sign(self, payload, name)

    monkeypatch.setattr(SigningSession, "sign_statement", rewriting)
    with pytest.raises(OperationalError) as refused:
        stage.build(
            ["sh", "-c", "mkdir dist && echo x > dist/a.whl"],
            (Path("dist"),),
            _signing(instance, instance.token(CI)),
            base=repo,
            log=tmp_path / "log",
        )
    assert str(refused.value) == (
        "dist/a.whl: changed after it was hashed, while the link was being signed (something "
        "outside the build writes there); no link was written"
    )
    assert not (repo / "dist" / "build.build.sigstore.json").exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["provenance", "missing.whl"], "missing.whl: no such file"),
        (["provenance", "a.whl", "b.whl"], "share no distribution name and version: give --name"),
        (["provenance", "--sbom", "bad.json", "a.whl"], "bad.json: the SBOM is not JSON"),
        (["provenance", "--sbom", "notcdx.json", "a.whl"], "not a CycloneDX SBOM"),
        (["provenance", "a.whl"], "not inside a git repository"),
        (["attest", "--predicate", "vulns", "a.whl"], "--predicate vulns needs --scan FILE"),
        (["attest", "--predicate", "sbom", "a.whl"], "--predicate sbom needs --sbom FILE"),
        (
            ["attest", "--predicate", "slo", "--scan", "notcdx.json", "a.whl"],
            "not an attest scan report",
        ),
        (
            ["provenance", "--bundle-dir", "nowhere", "a.whl"],
            "nowhere: bundle directory does not exist",
        ),
        (["provenance", "--name", "../x", "a.whl"], "must be a plain file name"),
    ],
)
def test_bad_input(
    invoke: Callable[..., Result],
    instance: LocalInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    problem: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    for name in ("a.whl", "b.whl"):
        (tmp_path / name).write_text(name)
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "notcdx.json").write_text('{"hello": "world"}')
    result = invoke(
        *args[:1],
        "--trust-config",
        str(instance.trust_config),
        "--identity-token",
        instance.token(CI),
        *args[1:],
    )
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert problem in result.stderr
    assert not list(tmp_path.glob("*.sigstore.json"))


@pytest.mark.interop
def test_dirty_tree_is_refused_unless_allowed(instance: LocalInstance, tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    wheel, _ = _dist(repo)
    (repo / "app.py").write_text("print('changed')\n")
    signing = _signing(instance, instance.token(CI))
    with pytest.raises(
        Exception, match=r"has changes \(app.py\): commit them, or pass --allow-dirty"
    ):
        stage.provenance((wheel,), signing, source_dir=repo, environ={}, command=["x"], now=NOW)
    written = stage.provenance(
        (wheel,), signing, source_dir=repo, environ={}, command=["x"], now=NOW, allow_dirty=True
    )
    source = verify_dsse_py(instance, written.path, CI)["predicate"]["buildDefinition"][
        "externalParameters"
    ]["source"]
    assert source["dirty"] is True
    assert source["uri"] == "https://git.example/acme/web.git"  # credentials stripped


def test_incomplete_github_environment(instance: LocalInstance, tmp_path: Path) -> None:
    wheel, _ = _dist(tmp_path)
    environ = {k: v for k, v in GITHUB_ENV.items() if k != "GITHUB_SHA"}
    with pytest.raises(Exception, match="GITHUB_ACTIONS is set but GITHUB_SHA is not"):
        stage.provenance(
            (wheel,),
            _signing(instance, instance.token(CI)),
            environ=environ,
            command=["x"],
            now=NOW,
        )


@pytest.mark.interop
def test_the_sbom_and_the_scan_from_standard_input(
    instance: LocalInstance, tmp_path: Path, scan_report: Path
) -> None:
    """`--sbom -` and `--scan -` read standard input (one of them per run); what was read is
    what is signed. A by-reference SBOM names its file, which standard input has not."""
    from click.testing import CliRunner

    from attest.cli import cli

    wheel, _ = _dist(tmp_path)
    sbom = _sbom(tmp_path)
    sign = ["--trust-config", str(instance.trust_config), "--identity-token", instance.token(CI)]

    def run(*args: str, stdin: bytes) -> Result:
        return CliRunner().invoke(cli, ["attest", *args, *sign, "--json", str(wheel)], input=stdin)

    result = run("--predicate", "sbom", "--sbom", "-", stdin=sbom.read_bytes())
    assert result.exit_code == 0, result.stderr
    [written] = json.loads(result.stdout)
    predicate = verify_dsse_py(instance, Path(written["path"]), CI)["predicate"]
    assert predicate == json.loads(sbom.read_text())
    result = run("--predicate", "slo", "--scan", "-", stdin=scan_report.read_bytes())
    assert result.exit_code == 0, result.stderr
    [written] = json.loads(result.stdout)
    slo = verify_dsse_py(instance, Path(written["path"]), CI)["predicate"]
    assert slo["scannedAt"] == "2026-07-15T00:00:00Z"
    large = run("--predicate", "sbom", "--sbom", "-", "--max-inline-sbom", "10", stdin=b"{}" * 9)
    assert large.exit_code == ExitCode.USAGE
    assert "the SBOM on standard input is 18 bytes, over --max-inline-sbom 10" in large.stderr
    both = run("--predicate", "sbom", "--sbom", "-", "--scan", "-", stdin=b"")
    assert both.exit_code == ExitCode.USAGE
    assert "attest: error: --scan -: standard input is already taken by --sbom -" in both.stderr
