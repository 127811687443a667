"""The environment source on a real virtual environment created by the test, and on the
running interpreter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.attest.sbom.helpers import Sbom, fake_venv
from tests.conftest import FIXTURES, REPO, SBOM_FIXTURES

ALPHA = "pkg:pypi/alpha-pkg@1.2.0"
BETA = "pkg:pypi/beta@2.0.1"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv (with pip) holding two small distributions built from tests/fixtures/dists."""
    root = tmp_path_factory.mktemp("env")
    wheels = root / "wheels"
    for name in ("alpha", "beta"):
        subprocess.run(
            [
                sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                "--no-build-isolation", "-w", str(wheels), str(FIXTURES / "dists" / name),
            ],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    target = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=300)
    subprocess.run(
        [
            str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
            "--no-deps", *map(str, sorted(wheels.iterdir())),
        ],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def test_another_venv(invoke: Callable[..., Result], venv: Path, tmp_path: Path) -> None:
    result = invoke("sbom", "--python", str(venv), "--project", str(FIXTURES / "dists" / "alpha"))
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert BETA in sbom.components
    assert any(p.startswith("pkg:pypi/pip@") for p in sbom.components)
    assert "click" not in {c["name"] for c in sbom.components.values()}  # not ours: theirs
    assert sbom.root["licenses"] == [{"expression": "Apache-2.0 OR MIT"}]
    # the project (alpha) is the root, not also a component; markers were evaluated in that
    # environment: gamma (python < 3) and delta (an extra) are not dependencies
    assert (sbom.root["name"], sbom.root["version"]) == ("Alpha_Pkg", "1.2.0")
    assert ALPHA not in sbom.components
    assert sbom.graph[sbom.root["bom-ref"]] == [BETA]


def test_interpreter_path_equals_venv_dir(invoke: Callable[..., Result], venv: Path) -> None:
    by_dir = invoke("sbom", "--python", str(venv), "--reproducible")
    by_interpreter = invoke("sbom", "--python", str(venv / "bin" / "python"), "--reproducible")
    assert by_dir.exit_code == by_interpreter.exit_code == 0
    assert by_dir.stdout == by_interpreter.stdout


def test_licenses_and_graph_without_a_project(
    invoke: Callable[..., Result], venv: Path, tmp_path: Path
) -> None:
    result = invoke("sbom", "--python", str(venv), "--project", str(SBOM_FIXTURES / "uv-project"))
    sbom = Sbom(result.stdout)
    assert sbom.licenses(ALPHA) == ["Apache-2.0 OR MIT"]  # PEP 639 License-Expression
    assert sbom.licenses(BETA) == ["MIT"]  # from the trove classifier
    assert sbom.graph[ALPHA] == [BETA]
    links = sbom.components[ALPHA]["externalReferences"]
    assert sorted((r["type"], r["url"], r.get("comment")) for r in links) == [
        ("other", "https://alpha.example/donate", "Project-URL: Funding"),
        ("vcs", "https://git.example/alpha", None),  # credentials stripped
        ("website", "https://alpha.example/", None),
    ]  # the malformed URL is left out rather than failing validation
    # demo-app's declared dependencies are not installed there: the root falls back to the
    # packages nothing else depends on
    assert BETA not in sbom.graph[sbom.root["bom-ref"]]
    assert ALPHA in sbom.graph[sbom.root["bom-ref"]]


def test_the_working_directorys_venv_by_default(
    invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the default project is the working directory, its .venv attest's
    result = invoke("sbom")
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert sbom.root["name"] == "attest-pipeline"
    assert "attest-pipeline" not in {c["name"] for c in sbom.components.values()}
    direct = {ref.split("@")[0] for ref in sbom.graph[sbom.root["bom-ref"]]}
    assert {"pkg:pypi/click", "pkg:pypi/cyclonedx-python-lib", "pkg:pypi/packaging"} <= direct
    assert f"Python environment {(REPO / '.venv').resolve()}" in result.stderr


# A bare `attest sbom` in a project describes THAT project's environment (issue 16: it described
# attest's own), and says which it read: the working directory's .venv, else $VIRTUAL_ENV, else
# (said so) the interpreter attest runs under.


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("venvs")
    return {
        "local": fake_venv(root / "project" / ".venv", "local-pkg", "1.0"),
        "active": fake_venv(root / "active", "active-pkg", "2.0"),
    }


def _bare_sbom(invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, cwd: Path) -> Result:
    monkeypatch.chdir(cwd)
    result = invoke("sbom")
    assert result.exit_code == 0, result.stderr
    return result


def test_a_bare_sbom_reads_the_projects_venv_before_virtual_env(
    invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, venvs: dict[str, Path]
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", str(venvs["active"]))
    result = _bare_sbom(invoke, monkeypatch, venvs["local"].parent)
    assert set(Sbom(result.stdout).components) == {"pkg:pypi/local-pkg@1.0"}
    assert (
        f"attest: no input named: reading the virtual environment {venvs['local'].resolve()} "
        "(.venv in the working directory)" in result.stderr
    )
    assert f"from Python environment {venvs['local'].resolve()}" in result.stderr


def test_a_bare_sbom_reads_virtual_env_without_a_venv_here(
    invoke: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    venvs: dict[str, Path],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", str(venvs["active"]))
    result = _bare_sbom(invoke, monkeypatch, tmp_path)
    assert set(Sbom(result.stdout).components) == {"pkg:pypi/active-pkg@2.0"}
    assert (
        f"attest: no input named: reading the virtual environment {venvs['active']} "
        "($VIRTUAL_ENV)" in result.stderr
    )


def test_a_bare_sbom_says_it_read_attests_own_environment_when_there_is_no_other(
    invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    result = _bare_sbom(invoke, monkeypatch, tmp_path)
    assert any(p.startswith("pkg:pypi/click@") for p in Sbom(result.stdout).components)
    assert (
        f"attest: no input named: reading the environment attest runs under, {sys.prefix} "
        "(no .venv in the working directory and no $VIRTUAL_ENV: name the project's with "
        "--python)" in result.stderr
    )


def test_a_venv_here_that_is_not_one_is_refused_not_passed_over(
    invoke: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".venv").mkdir()
    monkeypatch.chdir(tmp_path)
    result = invoke("sbom")
    assert result.exit_code == 2
    assert "attest: error: .venv: is a directory but not a virtual environment" in result.stderr
