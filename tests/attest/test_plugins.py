"""Plugins through entry points: third-party packages installed by the tests extend the CLI,
duplicates and broken plugins are refused with exit 2, a plugin is imported only where it may be
chosen, and nothing is loaded at import time. (A broken gate check: tests/verify/test_gate.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.attest.scan.helpers import NOW, PYPA_FIXTURE, SCAN_FIXTURES
from tests.conftest import PLUGIN_FAILURES, REPO, SBOM_FIXTURES, run_attest
from verify.errors import ExitCode


def test_third_party_stage_appears_as_a_command(plugin_dirs: dict[str, Path]) -> None:
    path = [plugin_dirs["attest-plugin-hello"]]
    listed = run_attest("--help", pythonpath=path)
    assert listed.returncode == 0
    assert "hello" in listed.stdout
    greeted = run_attest("hello", "--name", "deploy", pythonpath=path)
    assert (greeted.returncode, greeted.stdout) == (0, "hello, deploy\n")
    plugins = json.loads(run_attest("plugins", "list", "--json", pythonpath=path).stdout)
    hello = {p["name"]: p for p in plugins["attest.stages"]}["hello"]
    assert hello["distribution"] == "attest-plugin-hello"
    assert hello["version"] == "1.0.0"


def test_third_party_sbom_source_is_chosen_by_file_name(
    plugin_dirs: dict[str, Path], tmp_path: Path
) -> None:
    lock = tmp_path / "deps.hello"
    lock.write_text("six==1.16.0\n")
    done = run_attest(
        "sbom", "--lock", str(lock), "--project", str(REPO),
        pythonpath=[plugin_dirs["attest-plugin-hello"]],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    purls = [c["purl"] for c in json.loads(done.stdout)["components"]]
    assert purls == ["pkg:pypi/six@1.16.0"]
    assert f"hello file {lock}" in done.stderr


def test_duplicate_plugin_name_is_refused(plugin_dirs: dict[str, Path]) -> None:
    done = run_attest("sbom", "--help", pythonpath=[plugin_dirs["attest-plugin-dup"]])
    assert done.returncode == ExitCode.USAGE
    assert "plugin name 'sbom' in group attest.stages is registered twice" in done.stderr
    assert "attest-pipeline" in done.stderr and "attest-plugin-dup" in done.stderr
    assert "Traceback" not in done.stderr


def test_broken_plugins_are_refused_when_used_and_harmless_otherwise(
    plugin_dirs: dict[str, Path],
) -> None:
    path = [plugin_dirs["attest-plugin-broken"]]
    wrong_type = run_attest("not-a-command", pythonpath=path)
    assert wrong_type.returncode == ExitCode.USAGE
    assert "plugin 'not-a-command' from attest-plugin-broken" in wrong_type.stderr
    assert "is not a Command" in wrong_type.stderr
    missing = run_attest("fails-to-import", pythonpath=path)
    assert missing.returncode == ExitCode.USAGE
    assert "failed to load: No module named 'attest_plugin_broken_missing'" in missing.stderr
    assert "Traceback" not in missing.stderr + wrong_type.stderr
    assert run_attest("sbom", "--help", pythonpath=path).returncode == 0


@pytest.mark.parametrize("how", PLUGIN_FAILURES)
def test_a_stage_plugin_that_exits_at_import_is_a_plugin_error(
    plugin_dirs: dict[str, Path], how: str
) -> None:
    """Before: a stage plugin calling `sys.exit()` at import made `attest --help` exit 0 with no
    output; `sys.exit(1)` exit 1; a BaseException of its own, a raw traceback."""
    path = [plugin_dirs["attest-plugin-exits"]]
    assert "exiting" in run_attest("--help", pythonpath=path).stdout
    for args in (["--help"], ["exiting"]):
        done = run_attest(*args, pythonpath=path, env={"ATTEST_PLUGIN_FAILS": f"load:{how}"})
        assert done.returncode == ExitCode.USAGE, done.stderr
        assert (
            "attest: error: plugin 'exiting' from attest-plugin-exits (attest_plugin_exits:stage) "
            f"failed to load: {PLUGIN_FAILURES[how]}"
        ) in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("how", PLUGIN_FAILURES)
def test_a_plugin_that_exits_while_running_ends_in_exit_3(
    plugin_dirs: dict[str, Path], tmp_path: Path, how: str
) -> None:
    """A stage or a vulnerability source calling `sys.exit(0)` ended `attest scan` with exit 0
    and no report: only click's own exit ends a command, anything else is an error."""
    path = [plugin_dirs["attest-plugin-exits"]]
    fails = {"ATTEST_PLUGIN_FAILS": f"run:{how}"}
    assert run_attest("exiting", pythonpath=path).stdout == "ran\n"
    scan = ["scan", "--sbom", str(SCAN_FIXTURES / "sbom.cdx.json"), "--vuln-source", "exiting", "--now", NOW,
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert run_attest(*scan, pythonpath=path).returncode == ExitCode.OK
    for args in (["exiting"], scan):
        done = run_attest(*args, pythonpath=path, env=fails)
        assert done.returncode == ExitCode.OPERATIONAL, done.stderr
        if how == "exception":
            assert "internal error: RuntimeError: the plugin broke" in done.stderr
        elif how == "base-exception":
            assert "internal error: GaveUp: the plugin gave up" in done.stderr
        else:
            said = f"internal error: {PLUGIN_FAILURES[how]} before the command finished"
            assert f"attest: error: {said}" in done.stderr
        assert done.stdout == "" and "Traceback" not in done.stderr


BROKEN_SOURCE = (
    "plugin 'broken-source' from attest-plugin-broken (attest_plugin_broken_missing:Source) "
    "failed to load: No module named 'attest_plugin_broken_missing'"
)


def test_a_broken_sbom_source_breaks_no_input_a_built_in_source_reads(
    plugin_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """Before: choosing a source by kind imported every installed source, so one that fails
    to import made `attest sbom --requirements` (and `attest scan --requirements`) exit 2."""
    path = [plugin_dirs["attest-plugin-broken"]]
    requirements = SBOM_FIXTURES / "requirements" / "compiled.txt"
    project = ["--project", str(SBOM_FIXTURES / "uv-project")]
    sbom = run_attest("sbom", "--requirements", str(requirements), *project, pythonpath=path)
    assert sbom.returncode == 0, sbom.stderr
    assert json.loads(sbom.stdout)["components"]
    assert "broken-source" not in sbom.stderr
    uv_lock = run_attest("sbom", "--lock", str(SBOM_FIXTURES / "uv-project" / "uv.lock"),
                         *project, pythonpath=path)  # fmt: skip
    assert uv_lock.returncode == 0, uv_lock.stderr
    scan = run_attest(
        "scan", "--requirements", str(requirements), "--db", str(PYPA_FIXTURE), "--now", NOW,
        "--cache-dir", str(tmp_path / "cache"), "--allow-skips", pythonpath=path,
    )  # fmt: skip
    assert scan.returncode in (ExitCode.OK, ExitCode.DENIED), scan.stderr
    assert json.loads(scan.stdout)["summary"]


def test_a_broken_sbom_source_is_named_where_it_may_be_chosen(
    plugin_dirs: dict[str, Path], tmp_path: Path
) -> None:
    path = [plugin_dirs["attest-plugin-broken"]]
    requirements = SBOM_FIXTURES / "requirements" / "compiled.txt"
    named = run_attest("sbom", "--requirements", str(requirements), "--source", "broken-source",
                       pythonpath=path)  # fmt: skip
    assert named.returncode == ExitCode.USAGE
    assert f"attest: error: {BROKEN_SOURCE}" in named.stderr
    # no built-in source reads this lock file: the installed plugins are the candidates, and
    # one that does not load might have been the one to read it
    lock = tmp_path / "deps.hello"
    lock.write_text("six==1.16.0\n")
    unknown = run_attest("sbom", "--lock", str(lock), pythonpath=path)
    assert unknown.returncode == ExitCode.USAGE
    assert f"attest: error: {BROKEN_SOURCE}" in unknown.stderr
    assert "Traceback" not in named.stderr + unknown.stderr


def test_nothing_is_registered_or_loaded_at_import_time() -> None:
    probe = (
        "import sys, attest, attest.cli, attest.plugins, verify, verify.plugins\n"
        "print([m for m in sys.modules if m.startswith(('attest.sbom', 'attest_plugin'))])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
