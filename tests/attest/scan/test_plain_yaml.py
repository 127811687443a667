"""The fast reader of advisory YAML (verify/osv/plain_yaml.py) gives exactly what PyYAML gives,
or declines: on every record of the PyPA database, on generated records, and on mutated ones
(where PyYAML refuses a document, the fast reader must decline it too)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.attest.scan.helpers import shared_db
from verify import untrusted_yaml
from verify.osv import plain_yaml
from verify.osv import records as osv
from verify.osv.database import records


def agrees(text: str) -> bool:
    """The fast reader declined, or read what the full loader reads (and the loader accepts);
    and so when it may only check the keys an advisory's entries never read (`osv.UNREAD`): it
    then reads the rest as the full loader does."""
    return _agrees(text, frozenset()) and _agrees(text, osv.UNREAD)


def _agrees(text: str, unread: frozenset[str]) -> bool:
    fast = plain_yaml.load(text, unread)
    if fast is None:
        return True
    try:
        full = untrusted_yaml.load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return False  # accepted what PyYAML refuses
    if unread and isinstance(full, dict):  # a key left out must be one only checked
        full = {k: v for k, v in full.items() if k in fast or k not in unread}
    return bool(fast == full and _types(fast) == _types(full))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_it_reads_the_whole_pypa_database_as_pyyaml_does() -> None:
    read = 0
    for name, blob in records(shared_db()):
        fast = plain_yaml.load(blob)
        if fast is not None:
            assert fast == untrusted_yaml.load(blob), name
            read += 1
    assert read > 7000  # all but a handful take the fast way (the point of it)


def test_the_references_of_the_pypa_database_are_only_checked_and_read_as_the_rest() -> None:
    """With `references` only checked (the index's parse: entries never read them), every
    record reads as the full loader reads it but for that key, or declines as before; almost
    every record's references are of the shape that is only checked."""
    checked = 0
    for name, blob in records(shared_db()):
        fast = plain_yaml.load(blob, osv.UNREAD)
        if fast is not None:
            full = untrusted_yaml.load(blob)
            checked += "references" in full
            assert fast == {k: v for k, v in full.items() if k != "references"}, name
            assert list(osv.entries(fast)) == list(osv.entries(full)), name
    assert checked > 7000


@pytest.mark.parametrize(
    "text",
    [
        "id: X\nid: Y\n",  # a key given twice: the full loader names it
        "id: &a X\nalias: *a\n",
        "id: !!python/object X\n",
        "id: X # comment\n",
        "id: {a: 1}\n",
        "id: 1.0\n",
        "id: yes\n",
        "id:\n",
        "id: X\n\tsummary: Y\n",
        "id: X\r\nsummary: Y\r\n",
        "id: 'unclosed\n",
        '"id": X\n',
        "- id\n",
        "id: |2\n  X\n",
        "refs:\n- type: X\n  url: Y\n- type: X\n  type: Y\n",  # a key given twice in an item
        "refs:\n- type: X\n  yes: Y\n",  # a key that is no string
        "refs:\n- type: X\n  url: Y # comment\n",
    ],
)
def test_what_it_does_not_read_is_left_to_the_full_loader(text: str) -> None:
    assert plain_yaml.load(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "modified: 2024-01-01\n",
        "modified: 2023-07-24T14:58:05.562874Z\n",
        "modified: 2001-12-14 21:59:43.10 -5\n",
        'versions:\n- 1.0.1\n- "0.1"\n- 2.0.0\n',
    ],
)
def test_timestamps_and_quoted_items_read_as_pyyaml_reads_them(text: str) -> None:
    """Unquoted timestamps (536 PyPA records) and quoted versions amid plain ones take the fast
    way too, as the datetime, date or string PyYAML gives."""
    fast = plain_yaml.load(text)
    assert fast is not None
    assert fast == yaml.safe_load(text) and _types(fast) == _types(yaml.safe_load(text))


@pytest.mark.parametrize(
    "text",
    [
        "details: 'a quoted\n  scalar'' folded\n\n  over lines'\nid: X\n",
        "details: |+\n  kept\n\n\nid: X\n",
        "details: |+\n  kept at the end\n\n",
        'refs:\n- type: X\n  url: https://a/#b\n- type: Y\n  url: "0"\nid: X\n',
        "refs:\n- type: X\n  url: a long\n    url\n- type: Y\n",  # an item's value continued
        "id: 'it''\n  s'\n",  # a doubled quote at the end of a line
        "refs:\n- type: X\n  events:\n  - fixed: 1.0.1\n- type: Y\n",  # an item holding a list
        "refs:\n  - type: X\n    url: Y\n  - url: Z\nid: X\n",
    ],
)
def test_runs_of_items_and_multiline_scalars_read_as_pyyaml_reads_them(text: str) -> None:
    """Multi-line single-quoted scalars and `|+` blocks (290 PyPA records) and runs of one-line
    mappings (references, events) are read in one go: as PyYAML reads them."""
    fast = plain_yaml.load(text)
    assert fast is not None
    assert fast == yaml.safe_load(text) and _types(fast) == _types(yaml.safe_load(text))


@pytest.mark.parametrize(
    "text",
    [
        "refs:\n- type: X\n\n  url: Y\n",  # a blank line inside an item
        "refs:\n- type: X\n   url: Y\n",  # a line deeper than the item's keys
        "refs:\n- type: X\n  url: Y\n # comment\n",
        "details: 'a\n\n   \n  b'\n",
        'details: "a\n\n   \n  b"\n',  # a line of spaces (read as a space before)
        "details: |+\n  a\n  \n",
        "refs:\n  \n- type: X\n",  # a line of spaces first under a key (IndexError once)
    ],
)
def test_edges_of_runs_and_multiline_scalars_agree_or_decline(text: str) -> None:
    assert agrees(text)


def test_it_reads_the_shapes_dumpers_write() -> None:
    text = (
        "id: PYSEC-1\n"
        'details: "line\\none \\"quoted\\" \\u00e9\\\n'
        '  \\ folded"\n'
        "summary: a long plain\n  scalar\n\n  with a break\n"
        "literal: |\n  a\n\n  b\n"
        "affected:\n- package:\n    name: x\n  versions:\n  - 1.0.0\n  - '2.0'\n  - \"3.0\"\n"
        "aliases: []\n"
        "url:\n  https://example.org/a\n"
    )
    assert agrees(text)
    assert plain_yaml.load(text) == untrusted_yaml.load(text)


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_VALUE = st.one_of(_TEXT, st.sampled_from(["0", "1.0", "1.2.3", "yes", "null", "~", "a: b", "#"]))
_RECORD = st.dictionaries(
    st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
    st.one_of(
        _VALUE,
        st.lists(_VALUE, max_size=5),
        st.lists(st.dictionaries(st.sampled_from(["type", "url", "name"]), _VALUE), max_size=3),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _RECORD,
    st.sampled_from([None, '"', "'", "|"]),
    st.sampled_from([20, 80, 10_000]),
    st.booleans(),
)
def test_generated_records_read_as_pyyaml_reads_them(
    record: dict[str, Any], style: str | None, width: int, indent_lists: bool
) -> None:
    text = yaml.safe_dump(record, default_style=style, width=width, allow_unicode=True)
    if indent_lists:
        text = text.replace("\n- ", "\n  - ")  # may well be invalid: then it must decline
    assert agrees(text), text


@settings(max_examples=300, deadline=None)
@given(_RECORD, st.integers(min_value=0), st.sampled_from([" ", "\n", "-", ":", "'", '"', "#"]))
def test_mutated_records_are_read_as_pyyaml_reads_them_or_declined(
    record: dict[str, Any], where: int, insert: str
) -> None:
    text = yaml.safe_dump(record, allow_unicode=True, width=30)
    at = where % (len(text) + 1)
    assert agrees(text[:at] + insert + text[at:])


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789._:-+eExobabrcpostdv", min_size=1, max_size=14))
def test_what_passes_for_a_version_is_a_string_to_pyyaml(text: str) -> None:
    """Versions skip PyYAML's resolver: only text it would read as this very string may."""
    if plain_yaml._VERSION.fullmatch(text):
        assert yaml.safe_load(f"v: {text}\n") == {"v": text}
    assert agrees(f"versions:\n- {text}\n- 1.0.0\n")


_ESCAPES = st.sampled_from(list('a "\\xuU04ntN_LP/eéFq'))


@settings(max_examples=2000, deadline=None)
@given(st.lists(_ESCAPES, max_size=14).map("".join))
def test_double_quoted_escapes_read_as_pyyaml_reads_them_or_decline(body: str) -> None:
    """Escapes are replaced in one split of the scalar: known ones as PyYAML reads them, and a
    scalar with an unknown one, a stray backslash or an unescaped quote declined."""
    assert agrees(f'id: "{body}"\n'), body


@pytest.mark.parametrize("byte", range(256))
def test_the_byte_check_of_printable_ascii_agrees_with_the_text_check(byte: int) -> None:
    """Bytes all printable ASCII or line breaks are taken without the text's checks: any other
    byte (a control, DEL, a byte of a UTF-8 sequence) goes through them as before."""
    raw = b"id: a" + bytes([byte]) + b"b\n"
    try:
        text: str | None = raw.decode()
    except UnicodeDecodeError:
        text = None
    assert plain_yaml.text(raw) == (None if text is None else plain_yaml._text(text))
    assert plain_yaml.load(raw) == (None if text is None else plain_yaml.load(text))


# The `affected` list in the PyPA shape is read line by line by one match each (`_affected`):
# it must give what PyYAML gives or hand the list back, on records of that shape with odd lines.
_SHAPED = (
    "id: PYSEC-1\naffected:\n- package:\n    name: django\n    ecosystem: PyPI\n"
    "    purl: pkg:pypi/django\n  ranges:\n  - type: ECOSYSTEM\n    events:\n"
    "    - introduced: '0'\n    - fixed: 4.2.3\n  - events:\n    - introduced: \"4.0\"\n"
    "    type: GIT\n    repo: https://github.com/django/django\n  versions:\n  - '3.2'\n"
    '  - 3.2.1\n  - "4.0"\n  ecosystem_specific: {}\nreferences:\n- type: WEB\n  url: https://x\n'
)


def test_the_pypa_shape_of_affected_is_read_in_one_go_as_pyyaml_reads_it() -> None:
    start = _SHAPED.index("affected:\n") + len("affected:\n")
    assert plain_yaml._affected(_SHAPED, start) is not None  # the shaped way, not the general one
    assert plain_yaml.load(_SHAPED) == untrusted_yaml.load(_SHAPED)


@pytest.mark.parametrize(
    ("line", "twice"),
    [
        ("    name: django\n", "    name: flask\n"),  # in the package
        ("    - fixed: 4.2.3\n", "      fixed: 4.2.4\n"),  # in an event
        ("  - type: ECOSYSTEM\n", "    type: SEMVER\n"),  # in a range
        ("  - 3.2.1\n", "  versions:\n  - 9.9\n"),  # in the item
        ("  url: https://x\n", "  url: https://y\n"),  # in a reference
    ],
)
def test_a_key_given_twice_in_a_pypa_record_is_left_to_the_full_loader(
    line: str, twice: str
) -> None:
    """PyYAML refuses a key given twice (untrusted_yaml says so); the shaped way must not take
    such a record, wherever in the list the key is."""
    text = _SHAPED.replace(line, line + twice, 1)
    with pytest.raises(yaml.YAMLError):
        untrusted_yaml.load(text)
    assert plain_yaml.load(text) is None


_ODD = [
    "'0'", '"4.2"', "'it''s'", '"a\\"b"', '"x\\ty"', "[]", "{}", "[a, b]", "{a: 1}", "1.0", "yes",
    "null", "~", "2023-01-01", "2023-07-11T16:37:11.407533Z", "x # c", "|", "|-", ">", "&a x",
    "*a", "!!str x", "a: b", "'open", '"open', "-1", "- x", "1.2.3", "0.1.2-1", "PyPI",
]  # fmt: skip
_CLEAN = st.one_of(st.from_regex(r"[a-z][a-z0-9./]{0,9}", fullmatch=True), st.just("1.2.3"))


def _mostly(clean: st.SearchStrategy[str], odd: list[str]) -> st.SearchStrategy[str]:
    """`clean`, and one time in twenty one of `odd`: most records keep the shape, some not."""
    return st.integers(0, 19).flatmap(lambda i: st.sampled_from(odd) if i == 0 else clean)


_SHAPE_VALUE = _mostly(_CLEAN, _ODD)
_SHAPE_KEY = _mostly(
    st.sampled_from(["name", "ecosystem", "purl", "type", "repo", "introduced", "fixed"]),
    ["last_affected", "on", "1", "events", "versions", "package", "ranges", "ecosystem_specific"],
)
_EXTRA = st.sampled_from(
    ["    # a comment", "      continued", "  ecosystem_specific: {}", "", "   x: y", "  - 1.0.0",
     "  versions: []", "- ", "  note: |", "    text", "    - fixed: 1.0.0", "  ranges:", "-", "  "]
)  # fmt: skip


@st.composite
def _pypa_record(draw: st.DrawFn) -> str:
    lines = ["id: PYSEC-1", "affected:"]
    for _ in range(draw(st.integers(1, 3))):
        pairs = draw(st.lists(st.tuples(_SHAPE_KEY, _SHAPE_VALUE), min_size=1, max_size=4))
        lines += ["- package:", *(f"    {k}: {v}" for k, v in pairs), "  ranges:"]
        for _ in range(draw(st.integers(1, 2))):
            lines += [f"  - type: {draw(_SHAPE_VALUE)}", "    events:"]
            events = draw(st.lists(st.tuples(_SHAPE_KEY, _SHAPE_VALUE), min_size=1, max_size=4))
            lines += [f"    - {k}: {v}" for k, v in events]
        versions = draw(st.lists(_SHAPE_VALUE, min_size=1, max_size=5))
        lines += ["  versions:", *(f"  - {v}" for v in versions)]
    lines.append("references:")
    for _ in range(draw(st.integers(1, 3))):
        lines += [f"- type: {draw(_SHAPE_VALUE)}", f"  url: {draw(_SHAPE_VALUE)}"]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        lines.insert(draw(st.integers(2, len(lines))), draw(_EXTRA))
    return "\n".join([*lines, draw(st.sampled_from(["", "id: X\n", "  url: y\n"]))])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pypa_record())
def test_pypa_shaped_records_read_as_pyyaml_reads_them_or_declined(text: str) -> None:
    """Quotes, escapes, block and flow scalars, comments, keys given twice, keys that are no
    strings, lines out of place: the fast reader gives what the full loader gives, or declines
    (where the full loader refuses, it declines)."""
    assert agrees(text), text


# References only checked: what passes the check must load (a key once, no alias, no comment,
# no scalar over lines but the url the dumper begins on the next line); anything else is read
# as before or declined.
_REF_CLEAN = st.sampled_from(["WEB", "https://x.org/a#b?c=d", "'https://x'", '"ADVISORY"', "/p"])
_REF_ODD = st.sampled_from(
    ["a: b", "x # c", "*a", "&a x", "!!str x", "'open", '"open', "[a, b]", "{a: 1}", "a:", "x:",
     "", "|", ">", "- x", "? x", "'it''s'", '"a\\"b"', "1.0", "yes", "\n    https://y",
     "\n    a: b", "\n      deeper", "\n  x", "\n    'open"]
)  # fmt: skip
_REF_VALUE = st.one_of(_REF_CLEAN, _REF_CLEAN, _REF_CLEAN, _REF_ODD)
_REF_KEYS = _mostly(
    st.sampled_from([("type", "url"), ("url", "type")]),
    [("type", "type"), ("url",), ("type", "url", "name"), ("'url'", "type"), ("yes", "url")],
)
_REF_LEAD = _mostly(
    st.just(("- ", "  ")), [("  - ", "    "), ("-  ", "   "), ("- ", " "), ("- ", "   ")]
)


@st.composite
def _references(draw: st.DrawFn) -> str:
    lines = ["id: PYSEC-1", "summary: s", "references:"]
    for _ in range(draw(st.integers(1, 3))):
        first, then = draw(_REF_LEAD)
        keys = draw(_REF_KEYS)
        lines += [f"{then if i else first}{k}: {draw(_REF_VALUE)}" for i, k in enumerate(keys)]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1]))):
        lines.insert(draw(st.integers(3, len(lines))), draw(_EXTRA))
    tail = draw(st.sampled_from(["", "aliases:\n- CVE-1\n", "references: []\n", "- x\n", " y\n"]))
    return "\n".join([*lines, tail])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_references())
def test_references_only_checked_load_or_are_read(text: str) -> None:
    """Quoting, comments, odd indentation, flow lists, anchors, aliases, scalars over lines,
    keys given twice, unknown keys: a `references` value only checked is one the full loader
    loads (the rest of the record read as it reads it); otherwise the reader reads it, or
    declines where the full loader refuses the record."""
    assert agrees(text), text
