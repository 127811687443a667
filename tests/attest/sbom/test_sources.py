"""Each source format, end to end through `attest sbom`: components, purls, hashes, origins,
the dependency graph and the root component from pyproject.toml."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from attest.cli import cli
from tests.attest.sbom.helpers import Sbom
from tests.conftest import REPO, SBOM_FIXTURES


def sha(text: str) -> str:
    return "SHA-256:" + hashlib.sha256(text.encode()).hexdigest()


def test_uv_lock(invoke: Callable[..., Result]) -> None:
    lock = SBOM_FIXTURES / "uv-project" / "uv.lock"
    result = invoke("sbom", "--lock", str(lock))
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert sbom.root["name"] == "demo-app" and sbom.root["version"] == "0.3.0"
    assert sbom.root["licenses"] == [{"license": {"id": "MIT"}}]
    # uv's git source (`URL?rev=v1.4.0#<commit>`) in pip's form: the query is never kept
    assert set(sbom.components) == {
        "pkg:pypi/certifi@2024.8.30",
        "pkg:pypi/click@8.1.7",
        "pkg:pypi/colorama@0.4.6",
        "pkg:pypi/idna@3.10",
        "pkg:pypi/requests@2.32.3",
        "pkg:pypi/internal-lib@1.4.0?vcs_url="
        + "git%2Bhttps://git.example/internal-lib%40"
        + hashlib.sha256(b"internal").hexdigest()[:40],
    }
    assert sbom.hashes("pkg:pypi/requests@2.32.3") == {sha("requests-sdist"), sha("requests-wheel")}
    root_ref = sbom.root["bom-ref"]
    assert sorted(sbom.graph[root_ref]) == sorted(
        ["pkg:pypi/click@8.1.7", "pkg:pypi/requests@2.32.3", *[
            p for p in sbom.components if p.startswith("pkg:pypi/internal-lib")
        ]]
    )  # fmt: skip
    assert sorted(sbom.graph["pkg:pypi/requests@2.32.3"]) == [
        "pkg:pypi/certifi@2024.8.30",
        "pkg:pypi/idna@3.10",
    ]
    assert sbom.graph["pkg:pypi/click@8.1.7"] == ["pkg:pypi/colorama@0.4.6"]
    assert "demo-app" not in {c["name"] for c in sbom.components.values()}


def test_pylock(invoke: Callable[..., Result]) -> None:
    lock = SBOM_FIXTURES / "pylock-project" / "pylock.toml"
    result = invoke("sbom", "--lock", str(lock))
    assert result.exit_code == 0, result.stderr
    assert "no pyproject.toml" in result.stderr  # a warning, and no root component
    sbom = Sbom(result.stdout)
    assert "component" not in sbom.data["metadata"]
    cattrs = "pkg:pypi/cattrs@24.1.2"
    assert sbom.hashes(cattrs) == {
        sha("cattrs-sdist"),
        "SHA-512:" + hashlib.sha512(b"cattrs").hexdigest(),
    }
    assert sbom.graph[cattrs] == ["pkg:pypi/attrs@25.3.0"]
    private = "pkg:pypi/private-tool@1.0?repository_url=https://pypi.internal.example/simple"
    assert sbom.hashes(private) == {sha("private-wheel")}
    vcs = [p for p in sbom.components if p.startswith("pkg:pypi/vcs-dep?vcs_url=git%2B")]
    assert len(vcs) == 1 and "version" not in sbom.components[vcs[0]]


def test_poetry_lock(invoke: Callable[..., Result]) -> None:
    lock = SBOM_FIXTURES / "poetry-project" / "poetry.lock"
    result = invoke("sbom", "--lock", str(lock))
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert (sbom.root["name"], sbom.root["version"]) == ("poetry-app", "2.0.0")
    assert sbom.root["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    jinja = "pkg:pypi/jinja2@3.1.4"
    assert sbom.components[jinja]["description"].startswith("A very fast")
    assert sbom.hashes(jinja) == {sha("jinja2-wheel"), sha("jinja2-sdist")}
    assert sbom.graph[jinja] == ["pkg:pypi/markupsafe@2.1.5"]
    assert sbom.graph[sbom.root["bom-ref"]] == [jinja]  # from [tool.poetry.dependencies]
    assert "pkg:pypi/toolbelt@0.9?repository_url=https://pypi.internal.example/simple" in (
        sbom.components
    )


def test_requirements_compiled_with_via_annotations(invoke: Callable[..., Result]) -> None:
    path = SBOM_FIXTURES / "requirements" / "compiled.txt"
    project = SBOM_FIXTURES / "uv-project"
    result = invoke("sbom", "--requirements", str(path), "--project", str(project))
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert sbom.hashes("pkg:pypi/certifi@2024.8.30") == {sha("certifi-sdist"), sha("certifi-wheel")}
    assert sbom.hashes("pkg:pypi/toolkit@1.0") == {sha("toolkit")}
    # `# via` annotations give the graph: direct ones hang off the root.
    assert sorted(sbom.graph[sbom.root["bom-ref"]]) == [
        "pkg:pypi/requests@2.32.3",
        "pkg:pypi/toolkit@1.0",
    ]
    assert sbom.graph["pkg:pypi/toolkit@1.0"] == ["pkg:pypi/requests@2.32.3"]
    assert sorted(sbom.graph["pkg:pypi/requests@2.32.3"]) == [
        "pkg:pypi/certifi@2024.8.30",
        "pkg:pypi/idna@3.10",
    ]


def test_requirements_with_include_url_and_unpinned(invoke: Callable[..., Result]) -> None:
    path = SBOM_FIXTURES / "requirements" / "plain.txt"
    result = invoke(
        "sbom", "--requirements", str(path), "--project", str(SBOM_FIXTURES / "uv-project")
    )
    assert result.exit_code == 0, result.stderr
    assert "werkzeug is not pinned to one version" in result.stderr
    sbom = Sbom(result.stdout)
    assert sbom.hashes("pkg:pypi/itsdangerous@2.2.0") == {sha("itsdangerous")}
    assert "pkg:pypi/flask@3.0.3" in sbom.components
    assert "pkg:pypi/werkzeug" in sbom.components
    assert (
        "pkg:pypi/urllib3?download_url=https://files.example/urllib3-2.2.3-py3-none-any.whl"
        in sbom.components
    )
    # no annotations: every requirement is a direct dependency of the root
    assert len(sbom.graph[sbom.root["bom-ref"]]) == 4


def test_credentials_in_urls_never_reach_the_sbom(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "private @ https://deploy:s3cr3t-t0ken@pypi.internal.example/private-1.0.whl\n"
        "tool @ git+https://oauth2:ghp_t0ken@git.example/tool.git@v1\n"
    )
    result = invoke(
        "sbom", "--requirements", str(path), "--project", str(SBOM_FIXTURES / "uv-project")
    )
    assert result.exit_code == 0, result.stderr
    assert "s3cr3t" not in result.stdout and "t0ken" not in result.stdout
    assert "deploy" not in result.stdout and "oauth2" not in result.stdout
    purls = set(Sbom(result.stdout).components)
    assert "pkg:pypi/private?download_url=https://pypi.internal.example/private-1.0.whl" in purls
    assert "pkg:pypi/tool?vcs_url=git%2Bhttps://git.example/tool.git%40v1" in purls


def test_uv_export_requirements_graph_matches_the_lock(invoke: Callable[..., Result]) -> None:
    """`uv export` annotates direct dependencies `# via <project>`: they hang off the root, and
    the graph equals the one from the uv.lock it came from."""
    project = REPO / "examples" / "demo-project"
    from_requirements = Sbom(
        invoke("sbom", "--requirements", str(project / "requirements.txt")).stdout
    )
    from_lock = Sbom(invoke("sbom", "--lock", str(project / "uv.lock")).stdout)
    root = from_lock.root["bom-ref"]
    assert sorted(ref.split("@")[0] for ref in from_lock.graph[root]) == [
        "pkg:pypi/flask", "pkg:pypi/jinja2", "pkg:pypi/pyyaml", "pkg:pypi/requests",
    ]  # fmt: skip
    assert from_requirements.graph == from_lock.graph
    assert set(from_requirements.components) == set(from_lock.components)
    for purl in from_lock.components:
        assert from_requirements.hashes(purl) == from_lock.hashes(purl), purl


def test_requirements_from_standard_input_to_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-` reads the requirements from stdin (its includes are relative to the working
    directory) and `-o -` writes the SBOM to stdout; the messages stay on stderr."""
    monkeypatch.chdir(tmp_path)
    path = SBOM_FIXTURES / "requirements" / "compiled.txt"
    project = SBOM_FIXTURES / "uv-project"
    args = ["sbom", "--requirements", "-", "--project", str(project), "-o", "-"]
    result = CliRunner().invoke(cli, args, input=path.read_bytes())
    assert result.exit_code == 0, result.stderr
    sbom = Sbom(result.stdout)
    assert sbom.hashes("pkg:pypi/toolkit@1.0") == {sha("toolkit")}
    assert result.stderr.splitlines()[-1].startswith(
        "attest: SBOM of 4 components from requirements file - (for Python "
    )
    assert " to -" not in result.stderr and list(tmp_path.iterdir()) == []
    lock = CliRunner().invoke(cli, ["sbom", "--lock", "-"], input=b"")
    assert lock.exit_code == 2
    assert (
        "attest: error: --lock -: not accepted: a lock file is read by the reader its name selects"
        in (lock.stderr)
    )
