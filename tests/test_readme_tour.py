"""The README's tour runs as written (issue 16): every ```sh block of its "## A tour" section, in
order, in one bash shell, in a fresh clone of this repository (this checkout's working tree,
committed there), against the local Sigstore instance the tour starts itself.

A block stops at its first failing command, as under `set -e`, but the shell lives on for the
next block, as a terminal does; the shell also runs with `set -u -o pipefail`, so a variable the
tour never defined ends the run. A block must exit 0, or N when it holds a line `# exits N`.
After every block the clone is as clean as git sees it (the tour writes only where git
ignores), and the files the block's commands say they write exist. Only exit codes and files
are asserted, never the commands' output lines."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import REPO

TOUR = re.compile(r"^## A tour\n(.*?)^## ", re.S | re.M)
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)
EXITS = re.compile(r"^# exits (\d+)\b", re.M)
JWT = re.compile(r"eyJ[\w-]{10,}\.eyJ[\w-]{10,}")  # an identity token: never printed
TIMEOUT = 600  # seconds for the whole tour (about a minute on a quiet machine)

# Files a block's command writes (relative to the directory the block ends in), beyond those it
# names after --output, --decision-log or `cat >`.
WRITES = {
    "attest instance up": ("build/instance/trust_config.json", "build/instance/trusted_root.json"),
    "attest build": (
        "dist/acme_web-1.4.0-py3-none-any.whl",
        "dist/acme_web-1.4.0.tar.gz",
        "dist/build.build.sigstore.json",
    ),
    "attest sign": (
        "dist/acme_web-1.4.0-py3-none-any.whl.sigstore.json",
        "dist/acme_web-1.4.0.tar.gz.sigstore.json",
    ),
    "attest provenance": ("dist/acme_web-1.4.0.provenance.sigstore.json",),
    "attest attest": (
        "dist/acme_web-1.4.0.sbom.sigstore.json",
        "dist/acme_web-1.4.0.vulns.sigstore.json",
        "dist/acme_web-1.4.0.slo.sigstore.json",
    ),
}
NAMED = re.compile(r"(?:--output|--decision-log|cat >) (\S+)")


@dataclasses.dataclass(frozen=True)
class Block:
    number: int
    text: str
    expected: int  # its exit code: `# exits N`, else 0

    def writes(self) -> set[str]:
        named = set(NAMED.findall(self.text))
        return named.union(*(files for command, files in WRITES.items() if command in self.text))


def tour_blocks(readme: str) -> list[Block]:
    section = TOUR.search(readme)
    assert section, 'README.md has no "## A tour" section followed by another "## " section'
    blocks = []
    for number, match in enumerate(BLOCK.finditer(section.group(1)), start=1):
        text = match.group(1)
        exits = EXITS.findall(text)
        assert len(exits) <= 1, f"tour block {number} says `# exits N` twice"
        blocks.append(Block(number, text, int(exits[0]) if exits else 0))
    return blocks


def test_the_tour_is_blocks_to_paste_with_their_failures_marked() -> None:
    blocks = tour_blocks((REPO / "README.md").read_text())
    assert len(blocks) >= 10
    assert {b.expected for b in blocks} == {0, 1}  # the scan and the gate say no on the way
    for block in blocks:  # these would end the shell, or hide a failure, when pasted
        assert not re.search(r"^\s*(exit|set [-+]e)\b|\(\) *\{", block.text, re.M), block.text
    tour = "\n".join(b.text for b in blocks)
    assert "attest instance down" in blocks[-1].text, "the tour stops its instance at the end"
    for command in ("sbom", "scan", "build", "sign", "provenance", "attest", "verify", "release"):
        assert f"attest {command} " in tour, f"the tour never runs attest {command}"


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def _fresh_clone(tmp_path: Path) -> Path:
    """A clone of this repository holding this checkout's working tree as its last commit (so
    the README under test is the one on disk), with this venv as its `.venv` and ../shared."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tour runs in a clone of one")
    if sys.prefix == sys.base_prefix:
        pytest.skip("not run from a venv: the tour activates the checkout's .venv")
    clone = tmp_path / "attest"
    _git("clone", "--quiet", "--no-hardlinks", str(REPO), str(clone), cwd=tmp_path)
    changed = _git("ls-files", "--modified", "--others", "--exclude-standard", cwd=REPO)
    for name in changed.splitlines():
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
        else:
            (clone / name).unlink(missing_ok=True)
    identity = ["-c", "user.name=tour", "-c", "user.email=tour@example.invalid"]
    _git("add", "--all", cwd=clone)
    _git(*identity, "commit", "--quiet", "--allow-empty", "-m", "the working tree", cwd=clone)
    (clone / ".venv").symlink_to(sys.prefix)  # a symlink, which .gitignore's `.venv/` misses
    with (clone / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/.venv\n")
    if (REPO.parent / "shared").is_dir():
        (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    return clone


def _driver(blocks: list[Block], clone: Path, results: Path) -> Path:
    """One bash script running the blocks in one shell: a failing command returns from its
    block (the ERR trap), and after each block its status, the directory it ended in, what git
    sees as changed and every file of the tree are recorded."""
    lines = [
        "set -u -o pipefail",
        "trap 'if [ -n \"${_tour_block-}\" ]; then _tour_block=; return; fi' ERR",
    ]
    for block in blocks:
        at = shlex.quote(str(results / str(block.number)))
        (results / f"{block.number}.sh").write_text(block.text)
        lines += [
            f"_tour_block=1; . {at}.sh > {at}.log 2>&1; echo $? > {at}.status; _tour_block=",
            f"pwd > {at}.pwd",
            f"git -C {shlex.quote(str(clone))} status --porcelain > {at}.dirty",
            f"(cd {shlex.quote(str(clone))} && find . -path ./.git -prune -o -type f -print)"
            f" > {at}.files",
        ]
    driver = results / "tour.sh"
    driver.write_text("\n".join(lines) + "\n")
    return driver


def _run(blocks: list[Block], tree: Path, results: Path, env: dict[str, str]) -> None:
    subprocess.run(
        ["bash", str(_driver(blocks, tree, results))],
        cwd=tree,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_a_block_stops_at_its_first_failure_and_the_next_keeps_the_shell(tmp_path: Path) -> None:
    """The harness itself: what a terminal keeps (variables, the directory) carries over, a
    failing command ends its block with its status, an undefined variable ends the tour, and a
    file git does not ignore is seen."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    _git("init", "--quiet", cwd=tree)
    texts = ["A=kept\ncd sub\n(exit 3)\nB=never\n", 'echo "$A" > seen\n', 'echo "$B"\n', "true\n"]
    blocks = [Block(n, text, 0) for n, text in enumerate(texts, start=1)]
    results = tmp_path / "results"
    results.mkdir()
    _run(blocks, tree, results, {"PATH": os.defpath, "HOME": str(tmp_path)})
    statuses = [(results / f"{n}.status").read_text() for n in (1, 2)]
    assert statuses == ["3\n", "0\n"]
    assert (tree / "sub" / "seen").read_text() == "kept\n"
    assert (results / "2.dirty").read_text() == "?? sub/\n"
    assert not (results / "3.status").exists()  # $B was never defined: the shell ended
    assert "B: unbound variable" in (results / "3.log").read_text()
    assert not (results / "4.status").exists()


def _environment(tmp_path: Path) -> dict[str, str]:
    """A newcomer's shell: nothing of this session's (no token, no CI variables), caches and
    home in tmp_path, this venv's bin on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.defpath}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }


def _stop_instances(clone: Path) -> None:
    for state in clone.glob("**/instance/trust_config.json"):
        subprocess.run(
            [sys.executable, "-m", "attest", "instance", "down", "--state", str(state.parent)],
            capture_output=True,
            timeout=60,
            check=False,
        )


def _check(block: Block, results: Path, clone: Path) -> None:
    at = results / str(block.number)
    log = at.with_suffix(".log").read_text(errors="replace")
    shown = f"tour block {block.number}:\n{block.text}\n--- its output:\n{log[-4000:]}"
    assert at.with_suffix(".status").exists(), f"the shell ended during {shown}"
    status = int(at.with_suffix(".status").read_text())
    assert status == block.expected, f"exit {status}, not {block.expected}, in {shown}"
    assert not JWT.search(log), f"an identity token was printed in {shown}"
    dirty = at.with_suffix(".dirty").read_text()
    assert not dirty, f"the tour left the tree dirty (not ignored by git):\n{dirty}in {shown}"
    here = Path(at.with_suffix(".pwd").read_text().strip()).relative_to(clone)
    files = set(at.with_suffix(".files").read_text().splitlines())
    missing = sorted(f for f in block.writes() if f"./{(here / f).as_posix()}" not in files)
    assert not missing, f"{missing} not written by {shown}"


@pytest.mark.network
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    blocks = tour_blocks((clone / "README.md").read_text())
    assert blocks, "the tour has no ```sh block to run"
    results = tmp_path / "results"
    results.mkdir()
    before = subprocess.run(
        ["find", ".", "-path", "./.git", "-prune", "-o", "-type", "f", "-print"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    try:
        _run(blocks, clone, results, _environment(tmp_path))
    finally:
        _stop_instances(clone)
    for block in blocks:
        _check(block, results, clone)
    last = (results / f"{blocks[-1].number}.files").read_text()
    left = sorted(set(last.splitlines()) - set(before.splitlines()))
    assert not left, f"the tour's last block should remove what the tour wrote: {left}"


# The usage blocks of the README's command reference (```-fenced, no language, lines starting
# `attest COMMAND`) name exactly the long options of that command's --help, as pip-audit checks
# its README against its --help: a renamed, added or removed option shows here.
USAGE = re.compile(r"^```\n(attest .*?)^```$", re.S | re.M)
LONG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
COMMAND_PATH = re.compile(r"(?:[a-z][a-z-]*(?: |$))+")  # lower-case words: the path
EVERYWHERE = {"--verbose", "--log-format", "--help", "--quiet"}  # every command's, said once
NOT_IN_USAGE = {"verify-bundle": {"--key"}}  # the conformance protocol's flag: always refused


def usages(readme: str) -> dict[str, set[str]]:
    """Each command a usage block shows (its path: `verify`, `trust update`), with the long
    options its lines name."""
    named: dict[str, set[str]] = {}
    for block in USAGE.findall(readme):
        for usage in re.split(r"^(?=attest )", block, flags=re.M):
            if usage.strip():
                path = COMMAND_PATH.match(usage.split(maxsplit=1)[1])
                assert path, usage
                named.setdefault(path[0].strip(), set()).update(LONG.findall(usage))
    return named


def help_options(help_text: str) -> set[str]:
    """The long options of click's --help: the first column of the lines under "Options:"."""
    options = help_text.partition("\nOptions:\n")[2]
    return {
        name
        for line in options.splitlines()
        if line.startswith("  -")
        for name in LONG.findall(re.split(r"\s{2,}", line.strip())[0])
    }


def test_every_usage_block_names_exactly_the_commands_options(
    invoke: Callable[..., Result],
) -> None:
    shown = usages((REPO / "README.md").read_text())
    assert {"sbom", "scan", "sign", "verify"} <= set(shown)
    for command, documented in shown.items():
        result = invoke(*command.split(), "--help")
        assert result.exit_code == 0, result.stderr
        actual = help_options(result.stdout) - EVERYWHERE - NOT_IN_USAGE.get(command, set())
        assert documented == actual, (
            f"README's usage of attest {command}: not options {sorted(documented - actual)}, "
            f"missing {sorted(actual - documented)}"
        )
