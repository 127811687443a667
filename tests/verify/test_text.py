"""No name can forge a line of the gate's output: control characters, line separators and bidi
controls in file names (and anything else quoted to people) are escaped where text is rendered,
and the machine output (JSON, the decision log) keeps the exact name."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from verify.text import shown

POLICY = REPO / "examples" / "policies" / "github-release.yaml"  # the production root: offline
FORGED = "x\nattest: ALLOW y.whl"
# What may not reach a person raw: C0/C1 controls, DEL, separators, bidi controls, surrogates.
RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme_web-1.4.0-py3-none-any.whl", "acme_web-1.4.0-py3-none-any.whl"),
        ("naïve …/ü.whl", "naïve …/ü.whl"),  # printable Unicode stays as it is
        (r"refs/tags/v\d+", r"refs/tags/v\d+"),  # backslashes too: patterns stay readable
        (FORGED, "x\\nattest: ALLOW y.whl"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("\x00\x07\x7f\x85\x9b", "\\x00\\x07\\x7f\\x85\\x9b"),  # NUL, BEL, DEL, NEL, CSI
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),  # right-to-left override
        ("\u2066x\u2069\u200f\u061c", "\\u2066x\\u2069\\u200f\\u061c"),
        (os.fsdecode(b"bad\xffbyte"), "bad\\udcffbyte"),  # an undecodable byte of a file name
        # invisible beyond ASCII: zero width, no-break and ogham spaces, BOM, soft hyphen, tags
        ("PYSEC-\u200b1", "PYSEC-\\u200b1"),
        ("a\u00a0b\u1680c\ufeffd\u00ade", "a\\xa0b\\u1680c\\ufeffd\\xade"),
        ("tag\U000e0041", "tag\\U000e0041"),
    ],
)
def test_shown_escapes_what_could_fake_or_move_a_line(text: str, expected: str) -> None:
    assert shown(text) == expected
    assert not RAW.search(shown(text)) and "\n" not in shown(text)
    assert shown(shown(text)) == shown(text)  # escaping twice changes nothing


def _verify(invoke: Callable[..., Result], directory: Path, name: str, *args: str) -> Result:
    """The gate on an unsigned artifact with an unreadable bundle beside it: it is denied, and
    its name appears in the verdict, in a check's expectation and in failures."""
    (directory / name).write_bytes(b"not signed")
    (directory / f"{name}.sigstore.json").write_bytes(b"not a bundle")
    return invoke("verify", "--policy", str(POLICY), *args, str(directory / name))


def _attest_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("attest: ")]


def test_a_file_name_cannot_print_an_allow(invoke: Callable[..., Result], tmp_path: Path) -> None:
    """Today's probe: the name printed a line `attest: ALLOW y.whl` of its own."""
    log = tmp_path / "decisions.jsonl"
    result = _verify(invoke, tmp_path, FORGED, "--json", "--decision-log", str(log))
    assert result.exit_code == 1
    [decision] = json.loads(result.stdout)["decisions"]
    assert _attest_lines(result.stderr) == [
        f"attest: DENY {tmp_path}/x\\nattest: ALLOW y.whl (sha256 {decision['artifact']['sha256']})",
        "attest: error: 1 artifact: 0 allowed, 1 denied",
    ]
    assert "- x\\nattest: ALLOW y.whl.sigstore.json: unparsable bundle" in result.stderr
    assert not any(line.startswith("attest: ALLOW") for line in result.stderr.splitlines())
    # machine output keeps the exact name
    assert decision["artifact"]["name"] == FORGED
    assert json.loads(log.read_text())["artifact"]["name"] == FORGED


def test_errors_quote_names_escaped(invoke: Callable[..., Result], tmp_path: Path) -> None:
    """Every error goes out through one place (`attest: error: ...`), escaped there."""
    missing = tmp_path / "p\nattest: ALLOW y.whl"
    result = invoke("verify", "--policy", str(missing), "a.whl")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("attest: error: ") and "p\\nattest: ALLOW y.whl" in (
        result.stderr
    )


DANGEROUS = st.sampled_from(
    ["\n", "\r", "\x1b", "\x1b[1A", "\x85", "\x9b", "\x7f", "\u2028", "\u2029", "\u202e", "\u2066",
     "\x0b", "\x0c", "\x1c", "attest: ALLOW ", "\t"]
)  # fmt: skip
NAME_CHARS = st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00")
NAMES = (
    st.lists(DANGEROUS | st.text(NAME_CHARS, max_size=6), min_size=1, max_size=8)
    .map("".join)
    .filter(lambda n: n not in ("", ".", "..") and len(os.fsencode(n)) <= 200)
) | st.binary(min_size=1, max_size=60).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
).map(os.fsdecode)  # names that are not UTF-8


@settings(
    max_examples=int(os.environ.get("ATTEST_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES)
def test_no_file_name_forges_a_line_of_the_gates_output(
    invoke: Callable[..., Result], tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """For any file name: exactly the verdict and the summary start with `attest: `, and no
    control, separator or bidi character reaches stderr (each line, by every Unicode line
    break, is one the gate wrote)."""
    result = _verify(invoke, tmp_path_factory.mktemp("names"), name)
    assert result.exit_code == 1, result.stderr
    lines = _attest_lines(result.stderr)
    assert len(lines) == 2, lines
    assert lines[0].startswith("attest: DENY ") and lines[1] == (
        "attest: error: 1 artifact: 0 allowed, 1 denied"
    )
    assert not RAW.search(result.stderr)
    assert result.stderr.splitlines() == result.stderr.split("\n")[:-1]
