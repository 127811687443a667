"""RFC 3987 IRI-reference and RFC 3339 date-time syntax checks for schema validation.

jsonschema checks `iri-reference` with rfc3987-syntax, which compiles 38 lark grammars when it
is imported (about 2 s on these machines, before a single document is checked). These checks
follow the RFCs' grammars with compiled regular expressions instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import re

_UCS = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
    "\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd\U00040000-\U0004fffd"
    "\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd\U00080000-\U0008fffd"
    "\U00090000-\U0009fffd\U000a0000-\U000afffd\U000b0000-\U000bfffd\U000c0000-\U000cfffd"
    "\U000d0000-\U000dfffd\U000e1000-\U000efffd"
)
_PRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_PCT = r"%[0-9A-Fa-f]{2}"
_SUB_DELIMS = r"!$&'()*+,;="


def _chars(extra: str, *, ucs: bool = True, private: bool = False) -> str:
    allowed = "A-Za-z0-9\\-._~" + re.escape(_SUB_DELIMS) + extra
    if ucs:
        allowed += _UCS
    if private:
        allowed += _PRIVATE
    return f"(?:[{allowed}]|{_PCT})*"


def _compile(ucs: bool) -> dict[str, re.Pattern[str]]:
    return {
        "userinfo": re.compile(_chars(":", ucs=ucs)),
        "reg_name": re.compile(_chars("", ucs=ucs)),
        "path": re.compile(_chars(":@/", ucs=ucs)),
        "query": re.compile(_chars(":@/?", ucs=ucs, private=ucs)),
        "fragment": re.compile(_chars(":@/?", ucs=ucs)),
    }


_IRI = _compile(ucs=True)
_URI = _compile(ucs=False)
_SPLIT = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):)?(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?",
    re.DOTALL,
)
_AUTHORITY = re.compile(r"(?:(?P<userinfo>[^@]*)@)?(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>\d*))?")
_IPV_FUTURE = re.compile(r"v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+")


def _host_ok(host: str, grammar: dict[str, re.Pattern[str]]) -> bool:
    if host.startswith("["):
        literal = host[1:-1]
        if _IPV_FUTURE.fullmatch(literal):
            return True
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        return True
    return bool(grammar["reg_name"].fullmatch(host))


def _reference_ok(text: str, grammar: dict[str, re.Pattern[str]], *, absolute: bool) -> bool:
    parts = _SPLIT.fullmatch(text)
    if parts is None:
        return False
    scheme, authority, path = parts["scheme"], parts["authority"], parts["path"]
    if absolute and scheme is None:
        return False
    if authority is not None:
        found = _AUTHORITY.fullmatch(authority)
        if found is None or not _host_ok(found["host"], grammar):
            return False
        if found["userinfo"] is not None and not grammar["userinfo"].fullmatch(found["userinfo"]):
            return False
        if path and not path.startswith("/"):
            return False
    elif scheme is None and ":" in path.split("/", 1)[0]:
        return False  # a relative path's first segment may not contain ':' (ipath-noscheme)
    if not grammar["path"].fullmatch(path):
        return False
    query, fragment = parts["query"], parts["fragment"]
    if query is not None and not grammar["query"].fullmatch(query):
        return False
    return fragment is None or bool(grammar["fragment"].fullmatch(fragment))


def is_iri_reference(text: str) -> bool:
    """RFC 3987 `IRI-reference`: an IRI or a relative reference."""
    return _reference_ok(text, _IRI, absolute=False)


def is_uri(text: str) -> bool:
    """RFC 3986 `URI`: absolute (a scheme), ASCII only."""
    return _reference_ok(text, _URI, absolute=True)


_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))"
)


def is_date_time(text: str) -> bool:
    """RFC 3339 `date-time`, with real calendar and clock ranges (leap second 60 allowed)."""
    found = _DATE_TIME.fullmatch(text)
    if found is None:
        return False
    year, month, day, hour, minute, second = (int(found[i]) for i in range(1, 7))
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    return found[9] is None or (int(found[9]) <= 23 and int(found[10]) <= 59)
