"""The actions' own scripts (the `run:` of each action.yml) run with bash as a runner runs them,
with this checkout's attest on PATH, against a release signed by the local instance: an
unsigned file the artifacts glob matches is always judged (or the step fails), never hidden
behind a signed name or read as an option, and the step summary shows each name in its own
table cell. Faster than act (tests/actions/test_workflows.py), and no network at all."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import signed_release as g
from tests.actions.test_lib import EVIL, SPLIT, cells
from tests.attest.scan.helpers import NOW, record, sbom, write_pypa
from tests.conftest import REPO, LocalInstance
from verify.text import markdown_text, shown

ACTIONS = REPO / "actions"
BIN = Path(sys.executable).parent
INPUT = re.compile(r"\$\{\{ inputs\.([\w-]+) \}\}")
OUTPUT = re.compile(r"^([\w-]+)<<(ATTEST_EOF_\d+)\n(.*?)\n\2$", re.M | re.S)


@dataclasses.dataclass
class Step:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def table(self, header: str) -> list[list[str]]:
        """The rows (as cells) of the summary's table that starts with the line `header`."""
        lines = self.summary.splitlines()
        start = lines.index(header)
        assert set(lines[start + 1]) <= set("|-")
        rows = []
        for line in lines[start + 2 :]:
            if not line.startswith("|"):
                break
            rows.append(cells(line))
        return rows


def run_action(
    stage: str, workspace: Path, env: dict[str, str] | None = None, **inputs: str
) -> Step:
    """The action's one step as the runner runs it: its env from the inputs (defaults where not
    given; keyword names with `_` for `-`), bash -eo pipefail, the step files in a temp dir."""
    action = yaml.safe_load((ACTIONS / stage / "action.yml").read_text())
    [step] = action["runs"]["steps"]
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update({name.replace("_", "-"): value for name, value in inputs.items()})
    temp = workspace.parent / f"runner-temp-{stage}"
    temp.mkdir()
    runner = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "LANG": "C.UTF-8",
        "HOME": str(temp),
        "GITHUB_ACTION_PATH": str(ACTIONS / stage),
        "GITHUB_ACTION": stage,
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(temp / "output"),
        "GITHUB_STEP_SUMMARY": str(temp / "summary"),
    }
    step_env = {key: INPUT.sub(lambda m: values[m[1]], value) for key, value in step["env"].items()}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=workspace, env={**runner, **step_env, **(env or {})},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    output = temp / "output"
    summary = temp / "summary"
    return Step(
        done.returncode,
        done.stdout,
        done.stderr,
        {m[1]: m[3] for m in OUTPUT.finditer(output.read_text())} if output.exists() else {},
        summary.read_text() if summary.exists() else "",
    )


@pytest.fixture
def workspace(signed: g.Release, tmp_path: Path) -> Path:
    """A copy of the signed release (wheel, sdist, every bundle) as the job's workspace."""
    return signed.copy(tmp_path / "workspace").dist


@pytest.fixture
def policy(instance: LocalInstance, tmp_path: Path) -> Path:
    return g.write_policy(tmp_path / "policy.yaml", g.strict_policy(instance))


def verify(workspace: Path, policy: Path, artifacts: str = "*.whl *.tar.gz") -> Step:
    return run_action("verify", workspace, artifacts=artifacts, policy=str(policy))


def judged(step: Step) -> dict[str, str]:
    """Each artifact the gate judged, by the path it was given, and its decision: none twice."""
    report: dict[str, Any] = json.loads(Path(step.outputs["report"]).read_text())
    decisions = {d["artifact"]["path"]: d["decision"] for d in report["decisions"]}
    assert len(decisions) == len(report["decisions"])
    return decisions


def test_the_signed_release_is_allowed(workspace: Path, policy: Path) -> None:
    """The baseline the other tests change one file of."""
    step = verify(workspace, policy)
    assert step.code == 0, step.stderr
    assert (step.outputs["decision"], step.outputs["exit-code"]) == ("allow", "0")
    assert judged(step) == {g.WHEEL: "ALLOW", g.SDIST: "ALLOW"}


@pytest.mark.parametrize("control", ["\n", "\r", "\t", "\x1b", "\x7f", "\x85"])
def test_an_unsigned_name_with_a_control_character_never_allows(
    workspace: Path, policy: Path, control: str
) -> None:
    """The attack: `*.tar.gz` read back by lines turned this file into two more copies of the
    signed sdist's name, and the step said allow without ever judging it."""
    name = f"{g.SDIST}{control}{g.SDIST}"
    (workspace / name).write_bytes(b"EVIL PAYLOAD, never signed\n")
    step = verify(workspace, policy)
    assert step.code == 2
    assert (step.outputs["decision"], step.outputs["exit-code"]) == ("error", "2")
    assert step.stdout.startswith("::error title=attest%3A refused artifact name::$'")
    assert "(matched by *.tar.gz) holds a control character; rename the file" in step.stdout
    assert "report" not in step.outputs  # the gate never ran: nothing to mistake for a verdict


def test_the_attacks_name_is_refused_by_every_action_taking_artifacts(
    workspace: Path, policy: Path
) -> None:
    (workspace / SPLIT).write_bytes(b"EVIL PAYLOAD, never signed\n")
    refusal = (
        "::error title=attest%3A refused artifact name::$'acme_web-1.4.0.tar.gz\\n"
        "acme_web-1.4.0.tar.gz' (matched by *.tar.gz) holds a control character; rename the file"
    )
    for stage, inputs in {
        "sign": {},
        "provenance": {},
        "verify": {"policy": str(policy)},
        "release": {"policy": str(policy)},
    }.items():
        step = run_action(stage, workspace, artifacts="*.tar.gz", **inputs)
        assert (step.code, step.stdout.strip()) == (2, refusal), stage


def test_a_file_name_is_never_an_option(
    workspace: Path, policy: Path, instance: LocalInstance
) -> None:
    """A name starting with a dash went to attest as an option: `--policy=audit.tar.gz` beside
    an audit-mode policy named audit.tar.gz replaced the step's policy, and it said allow."""
    audit = {k: v for k, v in g.strict_policy(instance).items() if k != "require"}
    g.write_policy(workspace / "audit.tar.gz", {**audit, "mode": "audit"})
    (workspace / "--policy=audit.tar.gz").write_bytes(b"")
    step = verify(workspace, policy)
    assert (step.code, step.outputs["decision"]) == (1, "deny"), step.stderr
    assert judged(step) == {
        g.WHEEL: "ALLOW", g.SDIST: "ALLOW", "audit.tar.gz": "DENY", "--policy=audit.tar.gz": "DENY",
    }  # fmt: skip


def test_the_summary_shows_a_denied_name_in_one_cell(workspace: Path, policy: Path) -> None:
    """The attack's name rendered as a row saying ALLOW for an artifact the gate denied."""
    (workspace / EVIL).write_bytes(b"unsigned\n")
    step = verify(workspace, policy)
    assert (step.code, step.outputs["decision"]) == (1, "deny")
    assert judged(step) == {g.WHEEL: "ALLOW", g.SDIST: "ALLOW", EVIL: "DENY"}
    rows = step.table("| artifact | decision | failed checks |")
    expected = [[g.WHEEL, "ALLOW"], [g.SDIST, "ALLOW"], [EVIL, "DENY"]]
    assert sorted(row[:2] for row in rows) == sorted(expected)
    assert all(len(row) == 3 for row in rows)
    [line] = [line for line in step.summary.splitlines() if "evil" in line]
    assert line.startswith("| evil\\` \\| ALLOW \\| - \\| x.tar.gz | DENY | signature, ")


def test_sign_and_provenance_summaries_escape_names(
    instance: LocalInstance, tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    names = [EVIL, "x\\|y_*[z](u)<b>.whl"]
    for name in names:
        (workspace / name).write_bytes(b"artifact\n")
    env = {"ATTEST_IDENTITY_TOKEN": g.github_token(instance), **g.GITHUB_ENV}
    common = {"artifacts": "*.gz *.whl", "trust_config": str(instance.trust_config)}
    sign = run_action("sign", workspace, env, **common)
    assert sign.code == 0, sign.stderr
    rows = sign.table("| artifact | sha256 | bundle | log index |")
    assert sorted((row[0], row[2]) for row in rows) == sorted(
        (name, f"{name}.sigstore.json") for name in names
    )
    assert all(len(row) == 4 for row in rows)
    identity, issuer = sign.outputs["identity"], sign.outputs["issuer"]
    assert f"as {markdown_text(identity)} (issuer {markdown_text(issuer)})." in sign.summary
    provenance = run_action("provenance", workspace, env, name="acme", **common)
    assert provenance.code == 0, provenance.stderr
    [row] = provenance.table("| attestation | predicate type | subjects | log index |")
    assert row[0] == "acme.provenance.sigstore.json" and len(row) == 4
    assert sorted(row[2].split(", ")) == sorted(shown(name) for name in names)


def test_the_scan_summary_shows_names_as_text(tmp_path: Path) -> None:
    """attest scan writes the scan action's summary itself: an advisory id, a package or a
    version from the input stays in its cell or its line."""
    advisory = "PYSEC-1 | ok | `x`"
    db = write_pypa(tmp_path / "db", [record(advisory, "toyparser", events=[
        {"introduced": "0"}, {"fixed": "2.0"}], modified="2026-07-01T00:00:00Z")])  # fmt: skip
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    forged = "evil\n## attest scan: passed"
    sbom(workspace / "sbom.json", {"toyparser": "1.5", forged: "1.0 | <b>ok</b>"})
    step = run_action(
        "scan", workspace, sbom="sbom.json", db=str(db), now=NOW, allow_skips="true",
        fail_on_breach="false",
    )  # fmt: skip
    assert step.code == 0, step.stderr
    headings = [line for line in step.summary.splitlines() if line.startswith("#")]
    assert headings == ["## attest scan: FAILED: 1 overdue"]
    [row] = step.table(
        "| status | package | version | advisory | severity | due | days left | fixed in |"
    )
    assert row[:4] == ["overdue", "toyparser", "1.5", advisory] and len(row) == 8
    [skip] = [line for line in step.summary.splitlines() if "not checked" in line]
    assert skip == (
        "- not checked: evil\\\\n## attest scan: passed 1.0 \\| \\<b\\>ok\\</b\\>: version "
        "'1.0 \\| \\<b\\>ok\\</b\\>' is not PEP 440"
    )


def test_list_inputs_are_read_whole() -> None:
    """A list input (waivers, globs) given one item per line: `read -a` without `-d ''` stops
    at the first newline, and the rest was silently dropped (release's waivers)."""
    scripts = (
        [(ACTIONS / "lib.sh").read_text()]
        + [
            yaml.safe_load(path.read_text())["runs"]["steps"][0]["run"]
            for path in sorted(ACTIONS.glob("*/action.yml"))
        ]
        + [path.read_text() for path in sorted(ACTIONS.glob("*/*.sh"))]
    )
    reads = [line for script in scripts for line in re.findall(r"\bread\b.* -a .*", script)]
    assert len(reads) >= 3  # lib.sh, scan, release
    for line in reads:
        assert "-d ''" in line, line
