"""The files that make attest adoptable: one version everywhere it is said (the source, the
installed metadata, `attest --version`, the changelog's newest release), SemVer; the changelog in
Keep a Changelog's shape; the Apache-2.0 licence declared as an SPDX expression and shipped whole;
a security policy that says how to report and what is in scope."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import tomllib
from click.testing import CliRunner

from attest.cli import cli
from tests.conftest import REPO

DISTRIBUTION = "attest-pipeline"
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
RELEASE = re.compile(r"^## \[([^\]]+)\](?: - ([0-9]{4}-[0-9]{2}-[0-9]{2}))?$", re.MULTILINE)


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _source_version() -> str:
    """The version where pyproject.toml says it is written (hatch's `[tool.hatch.version]`)."""
    data = _pyproject()
    assert "version" in data["project"]["dynamic"]
    source = REPO / data["tool"]["hatch"]["version"]["path"]
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]:
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"{source} assigns no __version__")


def _releases(text: str) -> list[tuple[str, str | None]]:
    return [(m[1], m[2]) for m in RELEASE.finditer(text)]


def test_the_version_is_one_everywhere() -> None:
    version = _source_version()
    assert SEMVER.fullmatch(version), f"{version} is not MAJOR.MINOR.PATCH"
    assert metadata.version(DISTRIBUTION) == version, "stale install: run `make setup`"
    assert CliRunner().invoke(cli, ["--version"]).output == f"attest, version {version}\n"
    releases = _releases((REPO / "CHANGELOG.md").read_text())
    assert releases[0][0] == "Unreleased"
    assert releases[1][0] == version, f"CHANGELOG.md's newest release is {releases[1][0]}"


def test_the_version_comes_from_the_installed_metadata(tmp_path: Path) -> None:
    """`attest --version` says what pip installed, not a constant of the source: a distribution
    record found first on the path (PYTHONPATH comes before site-packages) is the one shown."""
    record = tmp_path / "attest_pipeline-9.8.7.dist-info"
    record.mkdir()
    (record / "METADATA").write_text(
        "Metadata-Version: 2.4\nName: attest-pipeline\nVersion: 9.8.7\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", "from attest.cli import main; main()", "--version"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "attest, version 9.8.7\n"


def test_the_changelog_is_kept_as_keep_a_changelog_says() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    releases = _releases(text)
    assert releases[0] == ("Unreleased", None)
    versions = [name for name, _ in releases[1:]]
    assert versions and all(SEMVER.fullmatch(v) for v in versions), versions
    assert all(date for _, date in releases[1:]), "every release heading has its date"
    newest_first = sorted(versions, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    assert versions == newest_first
    dates = [date for _, date in releases[1:]]
    assert dates == sorted(dates, reverse=True)
    for name, _ in releases:  # each heading links to its tag or comparison
        assert re.search(rf"^\[{re.escape(name)}\]: https://", text, re.MULTILINE), name
    kinds = set(re.findall(r"^### (.+)$", text, re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds
    assert "## Versioning" in text and "Before 1.0" in text


def test_the_licence_is_apache_2_declared_and_shipped() -> None:
    assert _pyproject()["project"]["license"] == "Apache-2.0"
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in licence
    assert licence.count("\n") > 190 and "END OF TERMS AND CONDITIONS" in licence
    installed = metadata.metadata(DISTRIBUTION)
    assert installed.get_all("License-Expression") == ["Apache-2.0"]
    assert installed.get_all("License-File") == ["LICENSE"]


def test_the_security_policy_says_how_to_report_and_what_is_in_scope() -> None:
    text = (REPO / "SECURITY.md").read_text()
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert sections == ["How to report", "What is in scope", "Supported versions", "What to expect"]
    assert "Report a vulnerability" in text and "Do not open a public issue" in text
    for area in ("deploy gate", "signing", "scan", "composite actions"):
        assert area in text, area
    assert "local instance (`attest instance`) is for development, demos and tests only" in text


def test_the_readme_points_to_them() -> None:
    readme = (REPO / "README.md").read_text()
    for name in ("LICENSE", "SECURITY.md", "CHANGELOG.md"):
        assert f"]({name})" in readme, name
