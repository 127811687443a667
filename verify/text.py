"""Text on its way to a person: names of files, bundles and signers are input, and a name with a
newline in it (`x\\nattest: ALLOW y.whl`) would print a line the gate never said. `shown` is the
one escaping used wherever such text is rendered for people; machine output (JSON, the decision
log) keeps the exact text, since JSON escapes by itself."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls and DEL (newline, carriage return, ESC, NEL ...), the Unicode line and
# paragraph separators, the bidirectional controls (which reorder what a terminal shows) and
# lone surrogates (a file name's undecodable bytes, which no stream can encode).
_UNSHOWABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Beyond ASCII, what a person cannot see or tell from a space: format characters (zero width,
# soft hyphen, word joiner, byte-order mark, tags), private use, unassigned code points, and
# every space but ' ' (no-break, ogham, ideographic). Judged by category, so the table above
# stays small; ASCII text never gets here.
_NON_ASCII = re.compile("[^\x00-\x7f]")
_INVISIBLE = frozenset({"Cf", "Co", "Cn", "Cs", "Zs", "Zl", "Zp", "Cc"})


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_invisible(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) not in _INVISIBLE:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(text: object) -> str:
    """`text` as a single line that cannot move the cursor or fake another line: every control,
    separator, bidi or other invisible character is written as a Python-style escape (`\\n`,
    `\\x1b`, `\\u2028`, `\\u200b`). Backslashes are kept as they are (regular expressions in
    policies stay readable), so the escape is for reading, not a reversible encoding."""
    text = _UNSHOWABLE.sub(_escape, str(text))
    return _NON_ASCII.sub(_escape_invisible, text) if not text.isascii() else text


# What could end a table cell or open a code span, emphasis, a link, HTML, an entity or math.
_MARKDOWN = re.compile(r"([\\`*_~\[\]<>|&$])")


def markdown_text(text: object) -> str:
    """`text` as inline Markdown (a table cell, a sentence of a step summary) that renders as
    itself: `shown` first (so no newline ends the row), then a backslash before each character
    that could change the structure (`\\ ` * _ ~ [ ] < > | & $`). actions/lib.sh `attest_md`
    applies the same rule in bash."""
    return _MARKDOWN.sub(r"\\\1", shown(text))


EXCERPT = 32  # the policy's limit for a key name: what an excerpt of input may show


def quoted(text: object, limit: int = EXCERPT) -> str:
    """At most `limit` characters of input in Python's quotes (`repr`, which escapes what would
    break the line), with an ellipsis when there were more; `shown` escapes the rest when it is
    printed. The quoted form of `excerpt`."""
    text = str(text)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def excerpt(text: object, limit: int = EXCERPT) -> str:
    """At most `limit` characters of input, escaped by `shown`, with an ellipsis when there
    were more: the most of a file, a bundle or a root any message may quote."""
    text = str(text)
    return shown(text[:limit]) + ("…" if len(text) > limit else "")


def examples(*commands: str) -> str:
    """A command's help epilog: `Examples:`, then each command line as written (click's `\\b`
    keeps the paragraph from being rewrapped; tests/attest/test_cli_feel.py runs each one's
    command path)."""
    return "\b\nExamples:\n" + "\n".join(f"  {command}" for command in commands)
