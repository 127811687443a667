"""A fast reader for the plain block YAML that advisory records are written in, or nothing.

Loading the 7,080 records of the PyPA database with PyYAML took 7 of the 10.5 s of a cold index
build: its constructor is Python, and most records list hundreds of versions. The records are
written by a dumper in a small part of YAML: block mappings with word keys, block sequences,
plain, single- or double-quoted scalars (folded over lines as a dumper folds them) and literal
block scalars (`|`, `|-`, `|+`). This reader reads exactly that part, giving what PyYAML gives,
and returns None for anything else (an anchor, a tag, a flow collection, a comment, a folded
`>` scalar, a line of spaces in a quoted one, a plain scalar that is not a string, a key given
twice, a tab, an odd indentation): the caller then loads the record with `untrusted_yaml`, whose
bounds and errors apply. Nothing is expanded and nesting follows the lines, so a document costs
what its text costs; runs of list items (versions, references, events) are read by one match,
and an `affected` list of the PyPA database's shape by one match a line (`_affected`).
tests/attest/scan/test_plain_yaml.py checks that it agrees with PyYAML on every record of the PyPA
database (all but 9 are read here) and on generated ones."""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml

from verify.untrusted_yaml import MAX_DEPTH

_STR = "tag:yaml.org,2002:str"
_TIME = "tag:yaml.org,2002:timestamp"
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()


# The first characters PyYAML has implicit resolvers for (bool, int, float, null, timestamp...):
# a plain scalar starting otherwise is a string without asking it (a resolver for any first
# character, keyed None, would make every one ask).
_RESOLVED = frozenset(_RESOLVER.yaml_implicit_resolvers)
_ASK_ALL = None in _RESOLVED


def _tag(text: str) -> str:
    """The tag PyYAML gives a plain scalar (str, int, float, bool, null, timestamp...)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


# Line breaks other than \n, tabs, a byte order mark and what PyYAML's reader refuses.
_REFUSED = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\n"  # printable ASCII and \n: nothing refused
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?\Z")
_KEY_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_]*):(?: ([^\n]*))?\n")
_STARTERS = frozenset("|'\"[{")  # what makes a value more than one plain scalar on its line
_RUNS: dict[int, re.Pattern[str]] = {}  # indent -> a run of `- plain scalar` lines
_ITEMS: dict[int, re.Pattern[str]] = {}  # indent -> a run of `- key: scalar` mappings
_ESCAPE = re.compile(r'\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0abt\tnvfre "\\/N_LP])')
_REPLACEMENTS = {
    "0": "\x00", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b",
    "f": "\x0c", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "\\": "\\", "/": "/", "N": "\x85",
    "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_PLAIN: dict[str, str] = {}  # a plain scalar's text -> the string it is (memo)
_LISTED: dict[str, str] = {}  # an item of a run of list items as written -> its string (memo)
# Most listed versions: digits with two dots, or a dot and a pre-, post- or dev-release. No int
# (no dot), float (one dot, then digits and an exponent with a sign), sexagesimal (a colon) or
# timestamp (a dash) of YAML 1.1 is written so: they are strings, known without the resolver.
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*\.[0-9]+(?:\.[0-9]+|(?:a|b|rc|\.post|\.dev)[0-9]+)+")


class _Declined(Exception):
    """Not in the part of YAML this reader reads."""


def load(text: str | bytes, checked: frozenset[str] = frozenset()) -> Any:
    """The document in `text` as PyYAML's safe loader gives it, or None when it is not plain
    block YAML of the kind described above (the caller then uses the full loader). `checked`:
    top-level keys whose values a caller does not read (an advisory's `references`): where a
    value is of the shape `_CHECKED` knows, it is only checked to load (then it is left out of
    the result), else read as any other."""
    readable = _text(text)
    if readable is None:
        return None
    try:
        value, end = _mapping(readable, 0, 0, 0, checked=checked)
    except _Declined:
        return None
    for key in [k for k, v in value.items() if v is _CHECKED_ONLY]:
        del value[key]
    return value if end == len(readable) and value else None


def _text(text: str | bytes) -> str | None:
    """The text of a document ending with a newline, or None when it holds what this reader
    declines at once (no UTF-8, a tab, a line break other than \\n...)."""
    plain_ascii = False
    if isinstance(text, bytes):
        plain_ascii = not text.translate(None, _PLAIN_ASCII)  # most records, in one pass
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not text.endswith("\n"):
        if "|" in text:
            return None  # a literal block at the end keeps no final newline
        text += "\n"
    if plain_ascii:
        return text
    if text.isascii():  # then only controls are refused, found in one pass
        return text if text.replace("\n", "").isprintable() else None
    return None if _REFUSED.search(text) else text


def text(raw: bytes) -> str | None:
    """`raw` as text this reader reads, or None (see `load`)."""
    return _text(raw)


def plain_value(text: str) -> str | datetime.date | None:
    """The value of a plain scalar written on one line: a string or a timestamp (a datetime or
    a date), as PyYAML gives it, or None when it is another kind or not one plain scalar."""
    try:
        return _value(text)
    except (_Declined, ValueError):
        return None


def _value(text: str) -> str | datetime.date:
    """A plain scalar as a mapping's value: a string, or a timestamp (records date themselves)."""
    try:
        return _plain(text)
    except _Declined:
        if _tag(text) != _TIME or _odd(text):
            raise
        moment: datetime.date = _CONSTRUCTOR.construct_yaml_timestamp(yaml.ScalarNode(_TIME, text))
        return moment


def _line(text: str, pos: int) -> tuple[str, int]:
    """The line at `pos` (the text ends with a newline) and where the next one starts."""
    end = text.index("\n", pos)
    return text[pos:end], end + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _mapping(
    text: str,
    pos: int,
    indent: int,
    depth: int,
    first: str | None = None,
    checked: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], int]:
    """A block mapping whose keys stand at `indent`; `first`: its first line, after `- `;
    `checked`: keys whose values may be only checked (see `load`)."""
    if depth > MAX_DEPTH:
        raise _Declined
    found: dict[str, Any] = {}
    deeper = " " * (indent + 1)
    while pos < len(text):
        simple = _KEY_LINE.match(text, pos) if first is None else None
        if simple is not None and len(simple[1]) == indent:
            # The common line, `key: plain scalar` alone on its line, in one match.
            key, rest, after = simple[2], simple[3], simple.end()
            if rest and rest[0] not in _STARTERS and text[after : after + 1] != "\n":
                if key in found or (_PLAIN.get(key) != key and _plain(key) != key):
                    raise _Declined
                if not text.startswith(deeper, after):  # not continued on the next line
                    found[key], pos = _value(rest), after
                    continue
        line, after = _line(text, pos)
        if first is not None:
            line, first = first, None
        else:
            at = _indent(line)
            if at < indent:
                break
            if at > indent or line.startswith("- ", indent):
                raise _Declined  # deeper than a key of this mapping, or a stray item
            line = line[indent:]
        match = _KEY.match(line)
        if match is None:
            raise _Declined
        key, rest = match.group(1), match.group(2)
        if key in found or (_PLAIN.get(key) != key and _plain(key) != key):
            raise _Declined  # given twice (the full loader says so), or not a string
        if not rest and key in checked and (end := _checked_end(text, after, key)):
            found[key], pos = _CHECKED_ONLY, end  # a key given twice is still seen
            continue
        if not rest:
            shaped = _affected(text, after) if key == "affected" and indent == 0 else None
            if shaped is not None:
                found[key], pos = shaped
            else:
                found[key], pos = _child(text, after, indent, depth)
        elif rest[:1] == "|":
            found[key], pos = _literal(text, after, indent, rest)
        elif rest[:1] in "'\"" and not _closed(rest):
            found[key], pos = _quoted_lines(text, after, indent, rest)
        elif rest[:1] in "'\"" or rest in ("[]", "{}"):
            found[key], pos = _scalar(rest), after
        else:
            found[key], pos = _plain_lines(text, after, indent, rest)
    return found, pos


def _child(text: str, pos: int, indent: int, depth: int) -> tuple[Any, int]:
    """The collection under `key:`: deeper lines, or a sequence at the key's own indent."""
    if pos >= len(text):
        raise _Declined  # `key:` alone is null
    line, after = _line(text, pos)
    at = _indent(line)
    is_item = line.startswith("- ", at)
    if at == indent and is_item:
        return _sequence(text, pos, at, depth + 1)
    if at <= indent or at == len(line):
        raise _Declined  # `key:` alone is null; a line of spaces is a blank line to PyYAML
    if is_item:
        return _sequence(text, pos, at, depth + 1)
    if _KEY.match(line, at) is None:  # a long scalar the dumper began on the next line
        return _plain_lines(text, after, indent, line[at:])
    return _mapping(text, pos, at, depth + 1)


def _run(indent: int) -> re.Pattern[str]:
    run = _RUNS.get(indent)
    if run is None:
        start = r"[^\s\-?:,\[\]{}#&*!|>'\"%@`]"
        item = f'(?:{start}[^\\n]*|"[^"\\\\\\n]*")'  # plain, or double-quoted without escapes
        run = _RUNS[indent] = re.compile(f"(?: {{{indent}}}- {item}\\n)+")
    return run


def _items(indent: int) -> re.Pattern[str]:
    items = _ITEMS.get(indent)
    if items is None:
        start = r"[^\s\-?:,\[\]{}#&*!|>'\"%@`]"
        pair = f'[A-Za-z_][A-Za-z0-9_]*: (?:{start}[^\\n]*|"[^"\\\\\\n]*")\\n'
        # Each mapping ends where a line no deeper than the dash starts: nothing of it (a
        # collection, a scalar continued, a blank line) is left for a slower reading.
        item = f" {{{indent}}}- {pair}(?: {{{indent + 2}}}{pair})*(?= {{0,{indent}}}[^ \\n]|\\Z)"
        items = _ITEMS[indent] = re.compile(f"(?:{item})+")
    return items


def _flat_mappings(block: str, indent: int) -> list[dict[str, Any]]:
    """The mappings of a run matched by `_items`: each `key: scalar` on its own line."""
    found: list[dict[str, Any]] = []
    mapping: dict[str, Any] = {}
    for line in block.split("\n")[:-1]:
        if line[indent] == "-":
            mapping = {}
            found.append(mapping)
        key, _, rest = line[indent + 2 :].partition(": ")
        if key in mapping or (_PLAIN.get(key) != key and _plain(key) != key):
            raise _Declined  # given twice, or not a string
        mapping[key] = rest[1:-1] if rest[0] == '"' else _PLAIN.get(rest) or _value(rest)
    return found


def _sequence(text: str, pos: int, indent: int, depth: int) -> tuple[list[Any], int]:
    if depth > MAX_DEPTH:
        raise _Declined
    run = _run(indent)
    found: list[Any] = []
    while pos < len(text):
        line, after = _line(text, pos)
        at = _indent(line)
        if at != indent or not line.startswith("- ", indent):
            if at > indent:
                raise _Declined  # a scalar continued on the next line
            break
        rest = line[indent + 2 :]
        if _KEY.match(rest) is not None:  # `- key: ...` opens a mapping two columns in
            flat = _items(indent).match(text, pos) if depth < MAX_DEPTH else None
            if flat is not None:  # mappings of one-line scalars (references, events)
                found += _flat_mappings(flat.group(), indent)
                pos = flat.end()
                continue
            item, pos = _mapping(text, pos, indent + 2, depth + 1, rest)
            found.append(item)
            continue
        items = run.match(text, pos)
        if items is None:
            found.append(_scalar(rest))
            pos = after
            continue
        # A run of plain scalars (the bulk of the versions lists), read in one go: each line
        # of it is spaces, `- ` and the scalar, so cutting those leaves the scalars as written.
        pos = items.end()
        written = ("\n" + text[items.start() : pos - 1]).replace(f"\n{' ' * indent}- ", "\n")
        listed = written[1:].split("\n")
        values = list(map(_LISTED.get, listed))
        found += [_listed(item) for item in listed] if None in values else values
    return found, pos


def _listed(item: str) -> str:
    """An item of a run as written (plain, or quoted without escapes or inner quotes): its
    string."""
    value = _LISTED.get(item)
    if value is None:
        value = item[1:-1] if item[0] in "'\"" else _plain(item)
        if len(item) < 200 and len(_LISTED) < 1_000_000:
            _LISTED[item] = value
    return value


def _plain(text: str) -> str:
    """A plain scalar that PyYAML reads as this very string, else _Declined."""
    value = _PLAIN.get(text)
    if value is not None:
        return value
    if _odd(text) or (
        (_ASK_ALL or text[0] in _RESOLVED)
        and _VERSION.fullmatch(text) is None
        and _tag(text) != _STR
    ):
        raise _Declined  # an indicator, a comment, a key, or a number, date, bool or null
    if len(text) < 200 and len(_PLAIN) < 1_000_000:
        _PLAIN[text] = text
    return text


def _odd(text: str) -> bool:
    """An indicator, a comment, a key, surrounding spaces: not one plain scalar."""
    return (
        text[0] in _INDICATORS
        or text != text.strip(" ")
        or ": " in text
        or " #" in text
        or text.endswith(":")
    )


def _plain_lines(text: str, pos: int, indent: int, first: str) -> tuple[Any, int]:
    """A plain scalar folded over the lines indented past its key: a line break is a space,
    blank lines are line breaks."""
    value = first
    while pos < len(text):
        line, after = _line(text, pos)
        blanks = 0
        while line == "" and after < len(text):
            blanks += 1
            line, after = _line(text, after)
        if _indent(line) <= indent:
            break
        piece = line.strip(" ")
        if not piece or piece[0] == "#":
            raise _Declined  # a line of spaces, or a comment
        value += ("\n" * blanks if blanks else " ") + piece
        pos = after
    return _value(value), pos


def _scalar(text: str) -> Any:
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text == "":
        raise _Declined  # `key: ` is null
    if text[0] not in "'\"":
        return _plain(text)
    quote = text[0]
    if len(text) < 2 or text[-1] != quote:
        raise _Declined  # continued on the next line, or followed by a comment
    body = text[1:-1]
    if quote == "'":
        if "'" in body.replace("''", ""):
            raise _Declined
        return body.replace("''", "'")
    if "\\" not in body:
        if '"' in body:
            raise _Declined  # an unescaped quote
        return body
    parts = _ESCAPE.split(body)  # text, escape code, text, ...: one pass, no call per escape
    if '"' in "".join(parts[::2]).replace("\\", '"'):
        raise _Declined  # an unescaped quote, or an escape PyYAML does not know
    parts[1::2] = [_REPLACEMENTS.get(code) or chr(int(code[1:], 16)) for code in parts[1::2]]
    return "".join(parts)


def _closed(text: str) -> bool:
    """Whether the quoted scalar starting `text` ends on its line (a single-quoted one: a quote
    not doubled, read left to right, is in it; `_scalar` then checks it is the last)."""
    if text[0] == "'":
        return "'" in text[1:].replace("''", "")
    return len(text) > 1 and text.endswith('"') and not _escaped(text[:-1])


def _quoted_lines(text: str, pos: int, indent: int, first: str) -> tuple[str, int]:
    """A quoted scalar over several lines, as a dumper folds it: a line break is a space,
    blank lines are line breaks, and in a double-quoted one after a `\\` nothing (the text
    goes on)."""
    quote, value = first[0], first[1:]
    while True:
        if pos >= len(text):
            raise _Declined
        line, pos = _line(text, pos)
        blanks = 0
        while line == "" and pos < len(text):
            blanks += 1
            line, pos = _line(text, pos)
        if _indent(line) <= indent or value.endswith(" "):
            raise _Declined  # a line PyYAML may read otherwise, or spaces it would drop
        piece = line.lstrip(" ")
        if not piece:
            raise _Declined  # a line of spaces: PyYAML reads it as a blank line
        if quote == '"' and _escaped(value):
            value = value[:-1] + "\n" * blanks
        else:
            value += "\n" * blanks if blanks else " "
        value += piece
        if _closed(quote + piece):
            return _scalar(quote + value), pos


def _escaped(text: str) -> bool:
    """Whether `text` ends with an escaping backslash."""
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _literal(text: str, pos: int, indent: int, header: str) -> tuple[str, int]:
    """A literal block scalar (`|` keeps one final newline, `|-` none, `|+` all): its lines are
    those indented past the key, the first one setting the indentation."""
    if header not in ("|", "|-", "|+") or pos >= len(text):
        raise _Declined  # an indentation or keep indicator, or a comment
    line, _ = _line(text, pos)
    at = _indent(line)
    if at <= indent or at == len(line):
        raise _Declined  # empty, or starting with a blank line
    body = []
    while pos < len(text):
        line, after = _line(text, pos)
        if line == "":
            body.append("")
        elif _indent(line) >= at:
            body.append(line[at:])
        elif line.strip(" ") == "" or _indent(line) > indent:
            raise _Declined  # a blank line of spaces, or a line between the two indentations
        else:
            break
        pos = after
    if header == "|+":
        return "".join(line + "\n" for line in body), pos  # every line break kept
    while body and body[-1] == "":
        body.pop()
    value = "\n".join(body)
    return (value + "\n" if header == "|" else value), pos


# An OSV `affected` list as the PyPA database writes it, read line by line by one match each:
# items of `package` (a mapping of one-line scalars), `ranges` (mappings of one-line scalars and
# `events`, a list of one-key mappings) and `versions` (a run of one-line scalars). A line of
# another shape (a key of another kind, a scalar over lines, a comment...) hands the whole list
# back to the general reader above, which reads it or declines.
_VALUE = r"""(?:[^\s\-?:,\[\]{}#&*!|>'"%@`][^\n]*|"[^"\\\n]*"|'[^'\n]*'|\{\}|\[\])"""
_AFFECTED_LINE = re.compile(
    rf"(- |  - |    - |  |    )(?:versions:\n((?:  - {_VALUE}\n)+)"
    rf"|([A-Za-z_][A-Za-z0-9_]*):(?: ({_VALUE}))?\n)"
)
_OPENS = {("- ", "package"), ("  ", "package"), ("- ", "ranges"), ("  ", "ranges")}


def _affected(text: str, pos: int) -> tuple[list[dict[str, Any]], int] | None:
    """The `affected` list starting at `pos` (the line after `affected:`), or None when a line
    is not of the shape above."""
    found: list[dict[str, Any]] = []
    item: dict[str, Any] = {}
    inner: dict[str, Any] | None = None  # the mapping keyed four columns in: a package, a range
    ranges: list[dict[str, Any]] | None = None  # the open `ranges` list of the item
    events: list[dict[str, Any]] | None = None  # the open `events` list of the range
    while pos < len(text) and text[pos] in " -":
        line = _AFFECTED_LINE.match(text, pos)
        if line is None:
            return None
        lead, run, key, rest = line.groups()
        pos = line.end()
        if lead == "- ":
            item, inner, ranges, events = {}, None, None, None
            found.append(item)
        if not found:
            return None  # a deeper line before the first item
        if run is not None:  # `versions:` and its items
            if len(lead) != 2 or "versions" in item:
                return None
            listed = run[4:-1].split("\n  - ")
            values = list(map(_LISTED.get, listed))
            try:
                item["versions"] = [_listed(v) for v in listed] if None in values else values
            except _Declined:
                return None
            inner, ranges, events = None, None, None
            continue
        if _PLAIN.get(key) != key and not _is_plain(key):
            return None  # a key PyYAML reads as a bool, a number...
        target: dict[str, Any] | None
        opened: dict[str, Any] | list[dict[str, Any]] | None = None  # what `key:` alone opens
        if len(lead) == 2:  # a key of the item
            target, inner, ranges, events = item, None, None, None
            if rest is None and key == "package":
                opened = inner = {}
            elif rest is None and key == "ranges":
                opened = ranges = []
        elif lead == "    - ":  # an event: a mapping of one key
            target = {}
            if events is None:
                return None
            events.append(target)
        else:  # a key of the package or range; `  - ` opens a range
            if lead == "  - ":
                if ranges is None:
                    return None
                inner = {}
                ranges.append(inner)
            target, events = inner, None
            if rest is None and key == "events" and ranges is not None:
                opened = events = []
        if target is None or key in target:
            return None  # no mapping open at this column, or a key given twice
        if rest is None:
            if opened is None:
                return None  # another collection, or null
            target[key] = opened
            continue
        try:
            target[key] = _scalar_value(rest)
        except (_Declined, ValueError):
            return None
    if not found or any(map(_left_empty, found)):
        return None
    return found, pos


def _left_empty(item: dict[str, Any]) -> bool:
    """Whether a collection opened in an item got no line: null to PyYAML, not empty."""
    ranges = item.get("ranges")
    if item.get("package") == {} or ranges == []:
        return True
    return isinstance(ranges, list) and any(r.get("events") == [] for r in ranges)


def _is_plain(key: str) -> bool:
    try:
        return _plain(key) == key
    except _Declined:
        return False


def _scalar_value(rest: str) -> Any:
    """A value matched by _VALUE: quoted without escapes or inner quotes, empty flow, or plain."""
    if rest[0] in "'\"":
        return rest[1:-1]
    if rest in ("{}", "[]"):
        return {} if rest == "{}" else []
    return _PLAIN.get(rest) or _value(rest)


# Values of top-level keys that loads as PyYAML loads them, whatever their scalars say, of the
# shapes the PyPA database writes: `references`, a list of mappings of `type` and `url` (each
# once), the url maybe begun on the next line. A scalar here starts with a letter, a digit or
# `/` and holds no space (so no comment, no `: `, no indicator, no alias or tag), or is quoted
# without escapes or inner quotes; nothing nests, nothing repeats.
_CHECKED_ONLY = object()  # what a checked value is in the mapping until `load` drops it
_WORD = r"""(?:[A-Za-z0-9/][^\s]*(?<!:)|"[^"\\\n]*"|'[^'\n]*')"""
_URL = rf"(?: {_WORD}\n| \n    {_WORD}\n)"
_CHECKED = {
    "references": re.compile(
        rf"(?:- (?:type: {_WORD}\n  url:{_URL}|url:{_URL}  type: {_WORD}\n))+"
    ),
}


def _checked_end(text: str, pos: int, key: str) -> int | None:
    """Where the value of `key` starting at `pos` ends, when it is of the shape `_CHECKED`
    holds for `key` and the next line starts the next top-level key (or the text ends)."""
    shape = _CHECKED.get(key)
    found = shape.match(text, pos) if shape is not None else None
    if found is None:
        return None
    end = found.end()
    return end if end == len(text) or text[end] not in " -\n" else None
