"""The composite actions and the workflows, read: the linters find nothing (offline), and the
rules the threat model counts on hold in every file: inputs never interpolated into scripts,
remote actions pinned by commit, least-privilege permissions, documented inputs and outputs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

BIN = Path(sys.executable).parent
STAGES = ["setup", "sbom", "scan", "sign", "provenance", "verify", "release"]
ACTIONS = [REPO / "action.yml"] + [REPO / "actions" / stage / "action.yml" for stage in STAGES]
WORKFLOWS = [
    path
    for folder in (".github/workflows", "examples/workflows", "tests/actions/workflows")
    for path in sorted((REPO / folder).glob("*.yml"))
]
SIGNING = {"./actions/sign", "./actions/provenance", "./actions/release", "./"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def _lines_with_uses(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]


def _tool(name: str) -> Path:
    tool = BIN / name
    if not tool.exists():
        pytest.fail(f"{name} is not installed ({tool}): run `make setup`")
    return tool


def test_zizmor_finds_nothing() -> None:
    done = subprocess.run(
        [str(_tool("zizmor")), "--offline", "--config", str(REPO / "actions" / "zizmor.yml"),
         *map(str, ACTIONS + WORKFLOWS)],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout
    # every file was audited, not just collected
    for path in ACTIONS + WORKFLOWS:
        assert f"completed {path}" in done.stderr


def test_jactionlint_finds_nothing() -> None:
    done = subprocess.run(
        [str(_tool("jactionlint")), "--no-online", f"--shellcheck={_tool('shellcheck')}",
         f"--ruff={_tool('ruff')}", "--strict-exit", *map(str, ACTIONS + WORKFLOWS)],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    shellcheck = subprocess.run(
        [str(_tool("shellcheck")), "--shell=bash", "-x", "actions/lib.sh",
         *(str(p.relative_to(REPO)) for p in sorted(REPO.glob("actions/*/*.sh")))],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip
    assert shellcheck.returncode == 0, shellcheck.stdout


@pytest.mark.parametrize("path", ACTIONS + WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_expression_in_a_script(path: Path) -> None:
    data = _load(path)
    steps = (
        data["runs"]["steps"]
        if "runs" in data
        else [s for job in data["jobs"].values() for s in job["steps"]]
    )
    for step in steps:
        assert "${{" not in step.get("run", ""), step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_workflows_are_pinned_and_least_privilege(path: Path) -> None:
    for line in _lines_with_uses(path):
        target = line.split("uses:", 1)[1].split("#", 1)[0].strip()
        if target.startswith("./"):
            continue
        assert PINNED.match(target), line
        assert re.search(r"# v\d+\.\d+\.\d+$", line), f"no version comment: {line}"
    data = _load(path)
    assert data["permissions"] in ({}, {"contents": "read"})
    for job in data["jobs"].values():
        uses = {step.get("uses") for step in job["steps"]}
        permissions = job.get("permissions", {})
        assert "write" not in {v for k, v in permissions.items() if k != "id-token"}
        assert (permissions.get("id-token") == "write") == bool(uses & SIGNING)
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("stage", STAGES)
def test_actions_are_documented(stage: str) -> None:
    action = _load(REPO / "actions" / stage / "action.yml")
    assert action["runs"]["using"] == "composite"
    for name, spec in {**action.get("inputs", {}), **action.get("outputs", {})}.items():
        assert spec.get("description"), name
    readme = (REPO / "actions" / stage / "README.md").read_text()
    assert "## Permissions" in readme
    for name in [*action.get("inputs", {}), *action.get("outputs", {})]:
        assert f"`{name}`" in readme, f"{stage}/README.md does not document {name}"
    needs_token = "id-token: write" in readme.split("## Permissions", 1)[1]
    assert needs_token == (stage in ("sign", "provenance", "release"))


def test_the_test_workflow_runs_the_release_job() -> None:
    """tests/actions/workflows/release.yml runs what examples/workflows/release.yml does, in
    order, and more (test_example_workflows.py runs the example itself)."""

    def local(path: Path) -> list[str]:
        steps = _load(path)["jobs"]["release"]["steps"]
        return list(dict.fromkeys(s["uses"] for s in steps if s.get("uses", "").startswith("./")))

    example = local(REPO / "examples" / "workflows" / "release.yml")
    assert example == [f"./actions/{stage}" for stage in STAGES[:5]]
    assert local(REPO / "tests" / "actions" / "workflows" / "release.yml")[:5] == example


def test_the_top_level_action_is_setup_then_release() -> None:
    """action.yml (`uses: <owner>/attest@<sha>`) takes setup's and release's inputs and runs
    their very scripts, with the same env: nothing to drift apart."""
    top = _load(REPO / "action.yml")
    setup, release = (_load(REPO / "actions" / s / "action.yml") for s in ("setup", "release"))
    assert top["inputs"] == {**setup["inputs"], **release["inputs"]} | {
        "python": top["inputs"]["python"]
    }
    assert top["inputs"]["python"]["default"] == setup["inputs"]["python"]["default"]
    assert set(top["outputs"]) == {"version", "exit-code", "out"}
    first, second = top["runs"]["steps"]
    assert first["env"] == setup["runs"]["steps"][0]["env"]
    assert first["run"] == 'bash "$GITHUB_ACTION_PATH/actions/setup/setup.sh"'
    assert second["env"] == release["runs"]["steps"][0]["env"]
    assert second["run"] == 'bash "$GITHUB_ACTION_PATH/actions/release/release.sh"'
    assert setup["runs"]["steps"][0]["run"] == 'bash "$GITHUB_ACTION_PATH/setup.sh"'
    assert release["runs"]["steps"][0]["run"] == 'bash "$GITHUB_ACTION_PATH/release.sh"'
    readme = (REPO / "README.md").read_text()
    for name in [*top["inputs"], *top["outputs"]]:
        assert f"`{name}`" in readme, name
    assert "uses: attest-pipeline/attest@" in readme
