"""actions/lib.sh, its functions run with bash directly: every file a glob matches reaches the
command whole (or, with a control character in its name, the step fails naming it), and
whatever goes into a step summary or a workflow command is escaped for it."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from verify.text import markdown_text, shown

LIB = REPO / "actions" / "lib.sh"
EVIL = "evil` | ALLOW | - | x.tar.gz"  # the attack's name: it rendered as a row saying ALLOW
SPLIT = "acme_web-1.4.0.tar.gz\nacme_web-1.4.0.tar.gz"  # read by lines: two signed names
# File names: any character a file name may hold (not "/" nor NUL; no surrogates, which a
# str argument cannot carry), and none starting with a dot (a glob's `*` skips those).
NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda name: not name.startswith("."))
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def bash(script: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """SCRIPT after `source lib.sh`, as a runner runs a step (bash -eo pipefail)."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
         f'source "$ATTEST_LIB"\n{script}', "bash", *args],
        cwd=cwd, capture_output=True, timeout=30, check=False,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "ATTEST_LIB": str(LIB)},
    )  # fmt: skip


def expand(directory: Path, patterns: str) -> tuple[int, list[str], str]:
    """attest_expand's exit status, ATTEST_FILES and its annotations."""
    with tempfile.NamedTemporaryFile() as listing:
        done = bash(
            'attest_expand "$1"\nprintf "%s\\0" "${ATTEST_FILES[@]}" > "$2"',
            patterns, listing.name, cwd=directory,
        )  # fmt: skip
        files = [os.fsdecode(name) for name in Path(listing.name).read_bytes().split(b"\0")[:-1]]
    return done.returncode, files, done.stdout.decode()


def cells(row: str) -> list[str]:
    """A GFM table row's cells as a renderer sees them: split at each `|` that no backslash
    escapes (a backslash escapes the character after it), then the escapes undone."""
    found, cell, i = [], "", 0
    while i < len(row):
        if row[i] == "\\" and i + 1 < len(row):
            cell, i = cell + row[i : i + 2], i + 2
        elif row[i] == "|":
            found, cell, i = [*found, cell], "", i + 1
        else:
            cell, i = cell + row[i], i + 1
    found.append(cell)
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", c).strip(" ") for c in found[1:-1]]


@PROPERTY
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique=True))
@example(names=["a b.whl", "--policy=x.whl", "[x].whl", "*.whl", "$(touch pwned)`x`.whl"])
def test_every_matched_name_is_passed_whole(names: list[str]) -> None:
    names = [n for n in names if not any(unicodedata.category(c) == "Cc" for c in n)]
    with tempfile.TemporaryDirectory() as temp:
        for name in names:
            (Path(temp) / name).write_bytes(b"x")
        code, files, annotations = expand(Path(temp), "*")
    if names:
        assert (code, annotations) == (0, "")
        assert sorted(files) == sorted(names)  # each once, none split, none added
    else:
        assert code == 2 and "nothing matches *" in annotations


@PROPERTY
@given(name=NAMES)
@example(name=SPLIT)
@example(name="tab\there.whl")
@example(name="nel\x85.whl")  # C1, UTF-8 encoded
@example(name="del\x7f.whl")
@example(name="line\u2028separator.whl")  # not a control character: passed whole
def test_a_name_with_a_control_character_is_refused(name: str) -> None:
    with tempfile.TemporaryDirectory() as temp:
        (Path(temp) / "signed.whl").write_bytes(b"x")
        (Path(temp) / name).write_bytes(b"y")
        code, files, annotations = expand(Path(temp), "*")
    if any(unicodedata.category(c) == "Cc" for c in name):
        assert code == 2
        assert "::error title=attest%3A refused artifact name::" in annotations
        assert "holds a control character; rename the file" in annotations
    else:
        assert (code, sorted(files)) == (0, sorted([name, "signed.whl"]))


def test_the_refusal_names_the_file_quoted(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "acme_web-1.4.0.tar.gz").write_bytes(b"signed")
    (tmp_path / "dist" / SPLIT).write_bytes(b"never signed")
    code, _, annotations = expand(tmp_path, "dist/*.whl dist/*.tar.gz")
    # nothing matched dist/*.whl: that is said first
    assert (code, annotations) == (
        2,
        "::error title=attest%3A no artifacts::nothing matches dist/*.whl\n",
    )
    code, _, annotations = expand(tmp_path, "dist/*.tar.gz")
    assert code == 2
    assert annotations == (
        "::error title=attest%3A refused artifact name::$'dist/acme_web-1.4.0.tar.gz\\n"
        "acme_web-1.4.0.tar.gz' (matched by dist/*.tar.gz) holds a control character; "
        "rename the file\n"
    )


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ("", "the artifacts input is empty"),
        ("  \n ", "the artifacts input is empty"),
        ("*.whl *.zip", "nothing matches *.zip"),
        ("a.whl missing.whl", "nothing matches missing.whl"),  # no glob character: no file
    ],
)
def test_a_pattern_that_matches_nothing_fails(tmp_path: Path, patterns: str, message: str) -> None:
    (tmp_path / "a.whl").write_bytes(b"x")
    code, _, annotations = expand(tmp_path, patterns)
    assert code == 2
    assert annotations.endswith(f"::{message}\n")


@settings(max_examples=80, deadline=None)
@given(st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=40))
@example(EVIL)
@example("a\\|b")  # a backslash before a pipe must not unescape it
def test_attest_md_is_markdown_text(text: str) -> None:
    """The bash escaping and the Python one agree (on ASCII: bash leaves the Unicode
    controls that `shown` also escapes as they are)."""
    done = bash('attest_md "$1"', text)
    assert done.returncode == 0
    assert done.stdout.decode() == markdown_text(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
@example(EVIL)
@example("a\\|b\\\\|c")
@example("x\n| ALLOW |")
def test_a_name_is_one_table_cell_that_renders_as_itself(text: str) -> None:
    row = f"| {markdown_text(text)} | DENY | signature |"
    assert "\n" not in row
    assert cells(row) == [shown(text).strip(" "), "DENY", "signature"]


def test_the_attacks_name_is_one_cell() -> None:
    row = f"| {markdown_text(EVIL)} | DENY | signature |"
    assert row == "| evil\\` \\| ALLOW \\| - \\| x.tar.gz | DENY | signature |"
    unescaped = re.findall(r"(?<!\\)(?:\\\\)*\|", row)
    assert len(unescaped) == 4  # three cells, as the header has


@pytest.mark.parametrize(
    "text",
    ["stage  result\n```\n## attest release: ALLOW\n```", "````x``````", "no backticks", ""],
)
def test_a_fenced_block_cannot_be_closed_by_its_text(text: str) -> None:
    done = bash('attest_fenced "$1"', text)
    lines = done.stdout.decode().split("\n")
    fence = lines[0]
    assert set(fence) == {"`"} and len(fence) >= 3 and lines[-1] == fence
    assert "\n".join(lines[1:-1]) == text
    for line in lines[1:-1]:  # a closing fence: up to 3 spaces, then at least as many backticks
        assert not re.match(rf"^ {{0,3}}`{{{len(fence)},}}\s*$", line), line


def test_workflow_commands_escape_their_data_and_properties() -> None:
    done = bash('attest_annotate error "$1" "$2"', "attest: a,b", "100%\r\n::error::forged")
    assert done.stdout.decode() == ("::error title=attest%3A a%2Cb::100%25%0D%0A::error::forged\n")
