"""The one JSON reader of the exchange formats read from outside (statements and their
predicates, SBOMs, scan reports, the first-seen ledger): one reading every reader agrees on, or
`NotJson` saying why. A key repeated in one object is refused at any depth: Python keeps the last
one, another reader may keep the first, so the same signed bytes would be two documents (a second
`"findings": []` hid a scan's findings). The YAML inputs refuse repeated keys the same way."""

from __future__ import annotations

import json
import sys
from typing import Any

from verify.text import quoted


class NotJson(ValueError):
    """Not JSON, or JSON that is read two ways; the message is the reason, quoting at most an
    excerpt of the input."""


class TooDeep(NotJson):
    """Arrays or objects nested deeper than the interpreter's stack."""


class RepeatedKey(NotJson):
    """A key given twice in one object."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object, refusing a repeated key: `json.loads`'s `object_pairs_hook` for a reader
    that keeps json's own errors otherwise (Sigstore bundles, verify/bundle_form.py)."""
    found = dict(pairs)
    if len(found) < len(pairs):  # rare: only then is the repeated key looked for
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKey(f"the key {quoted(key)} appears twice in one object")
            seen.add(key)
    return found


def loads(data: str | bytes) -> Any:
    """The JSON value in `data` (bytes in UTF-8, -16 or -32, as `json.loads` reads them)."""
    try:
        return json.loads(data, object_pairs_hook=unique_keys)
    except NotJson:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as e:  # their messages quote no input
        raise NotJson(str(e)) from e
    except RecursionError as e:  # the decoder recurses once per nested array or object
        raise TooDeep("nested too deeply") from e
    except ValueError as e:  # int() past Python's digit limit; its text names a setting to change
        limit = f"{sys.get_int_max_str_digits():,}"
        raise NotJson(f"a number too long to read (more than {limit} digits)") from e
