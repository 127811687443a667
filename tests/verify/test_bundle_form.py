"""The bundle's base64 spelling: the fast reading refuses exactly what the rule's regex does."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from verify import bundle_form

_RULE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")  # the rule as the module docstring states it


def _expected(text: str) -> str | None:
    """The reason the rule gives for `text`, None when it is base64 of a possible length."""
    item = text.replace("\r", "").replace("\n", "")
    if not _RULE.fullmatch(item):
        return "not base64"
    if len(item.rstrip("=")) % 4 == 1 or ("=" in item and len(item) % 4):
        return "impossible length"
    return None


@given(st.text(alphabet=st.sampled_from("Aa0+/_-=\n\r é.~\x00\u0660=")))
@example("QUJD")
@example("QQ==")
@example("QQ===")
@example("Q=Q=")
@example("QUJ\u0660")  # an Arabic-Indic digit: a digit to str.isdigit, not to base64
def test_base64_refused_exactly_as_the_rule(text: str) -> None:
    expected = _expected(text)
    if expected is None:
        bundle_form._base64(("rawBytes",), text)
        return
    with pytest.raises(bundle_form.Malformed, match=expected):
        bundle_form._base64(("rawBytes",), text)


def test_base64_refuses_what_is_not_a_string() -> None:
    with pytest.raises(bundle_form.Malformed, match="rawBytes: not base64"):
        bundle_form._base64(("rawBytes",), ["QUJD", 3])
