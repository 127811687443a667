"""What a refusal may quote of its input: a short escaped excerpt at most. Library messages lose
the literals they interpolate; pydantic's locations never name an unknown key."""

from __future__ import annotations

import datetime

import pydantic
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from verify.errors import unquoted, without_input
from verify.sigstore_adapter import TimeRange
from verify.text import EXCERPT, excerpt
from verify.trust import log_valid_at

SECRET = "ghp_SEKRETSEKRET0123456789"


def test_an_excerpt_is_short_escaped_and_marked_when_cut() -> None:
    assert excerpt("short") == "short"
    assert excerpt("x" * 40) == "x" * EXCERPT + "…"
    assert excerpt("a\nb\x1b[2J") == "a\\nb\\x1b[2J"


@given(st.text(min_size=1))
# "…" is quoted as '…', the very mark a literal is replaced by: "repr(value) not in said" was
# true of the mark, not of a leak. The siblings look like the mark or its quotes.
@example(value="…")
@example(value="'…'")
@example(value="…', got '…")
@example(value="…" * (EXCERPT + 1))
@example(value="'")
@example(value="\\'")
def test_a_quoted_literal_never_survives(value: str) -> None:
    """Every quoted literal becomes the same mark, so the message is one text whatever the
    value: nothing of it survives (stronger than looking for its repr, which the mark can be)."""
    said = unquoted(f"refused: expected {value!r}, got {value.encode()!r}")
    assert said == "refused: expected '…', got '…'"


# No quotes: a quoted part is left out whole (the test above), which can leave short runs.
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=["Z", "C"], blacklist_characters="'\""),
        min_size=33,
    )
)
def test_a_long_run_is_cut_to_an_excerpt(value: str) -> None:
    said = unquoted(f"Value exceeds uint64 domain: {value}")
    assert value not in said and said.endswith("…")


def test_apostrophes_of_words_are_kept() -> None:
    assert unquoted("the log's key isn't known") == "the log's key isn't known"


class _Entry(pydantic.BaseModel):
    """A model like sigstore-models': unknown keys forbidden, a validator naming the value."""

    model_config = pydantic.ConfigDict(extra="forbid")
    integrated_time: int = 0

    @pydantic.field_validator("integrated_time")
    @classmethod
    def _uint64(cls, value: int) -> int:
        if value >= 2**64:
            raise ValueError(f"Value exceeds uint64 domain: {value}")
        return value


def _refusal(document: dict[str, object]) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Entry.model_validate(document)
    return without_input(caught.value)


def test_an_unknown_key_is_never_named() -> None:
    said = _refusal({f"{SECRET}KEY": 1})
    assert said == "document: a key the format does not have"


def test_a_validator_message_loses_the_value() -> None:
    said = _refusal({"integrated_time": 99999999999999999999})
    assert said == "integrated_time: Value error, Value exceeds uint64 domain"


def test_a_log_key_is_valid_inside_its_closed_range() -> None:
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    periods = {b"k": [TimeRange(start=start, end=end)], b"open": [None]}
    assert log_valid_at(periods, b"k", start) and log_valid_at(periods, b"k", end)
    assert not log_valid_at(periods, b"k", end + datetime.timedelta(seconds=1))
    assert not log_valid_at(periods, b"k", start - datetime.timedelta(seconds=1))
    assert log_valid_at(periods, b"open", end) and not log_valid_at(periods, b"other", end)
