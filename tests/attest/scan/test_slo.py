"""The SLO policy, waivers and the pure evaluation in verify.slo."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from verify.slo import (
    Policy,
    SloFinding,
    SloPolicyError,
    Waiver,
    evaluate,
    parse_policy,
    parse_waivers,
    waiver_key,
    waiver_refusal,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 7, 15, tzinfo=UTC)


def finding(**changes: object) -> SloFinding:
    base = SloFinding(
        package="toyweb",
        version="3.2",
        id="PYSEC-2025-3",
        aliases=("CVE-2025-0003", "GHSA-xxxx-yyyy-zzzz"),
        severity="high",
        published=NOW - datetime.timedelta(days=10),
        first_seen=None,
        fix_versions=("3.4.1",),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def status(f: SloFinding, policy: Policy | None = None, now: datetime.datetime = NOW) -> str:
    return evaluate([f], policy or Policy(), now).results[0].status


def days_ago(n: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=n)


@pytest.mark.parametrize(
    ("severity", "window"), [("critical", 7), ("high", 30), ("medium", 90), ("low", 180)]
)
def test_default_windows_per_severity(severity: str, window: int) -> None:
    assert status(finding(severity=severity, published=days_ago(window - 10))) == "ok"
    assert status(finding(severity=severity, published=days_ago(window - 3))) == "due-soon"
    assert status(finding(severity=severity, published=days_ago(window + 0.5))) == "overdue"


def test_due_date_and_days_left() -> None:
    result = evaluate([finding(published=days_ago(35))], Policy(), NOW).results[0]
    assert result.due == days_ago(5)
    assert result.days_left == -5
    assert result.counts_as == "high"
    assert not evaluate([finding(published=days_ago(35))], Policy(), NOW).passed


def test_unknown_severity_counts_as_high_by_default_and_as_the_policy_says() -> None:
    f = finding(severity="unknown", published=days_ago(40))
    assert status(f) == "overdue"  # high: 30 days
    low = parse_policy({"unknown_severity": "low"}, "p.yaml")
    result = evaluate([f], low, NOW).results[0]
    assert (result.status, result.counts_as) == ("ok", "low")


def test_custom_windows_and_due_soon_threshold() -> None:
    policy = parse_policy({"windows": {"high": "60d"}, "due_soon": 20}, "p.yaml")
    assert policy.windows["critical"] == 7  # the others keep their defaults
    assert status(finding(published=days_ago(45)), policy) == "due-soon"
    assert status(finding(published=days_ago(30)), policy) == "ok"


def test_no_fix_does_not_pause_the_clock_by_default() -> None:
    f = finding(fix_versions=(), published=days_ago(400))
    assert status(f) == "overdue"
    paused = parse_policy({"no_fix_pauses_clock": True}, "p.yaml")
    result = evaluate([f], paused, NOW).results[0]
    assert (result.status, result.due, result.days_left) == ("no-fix", None, None)
    assert status(finding(published=days_ago(400)), paused) == "overdue"  # a fix exists


def test_first_seen_clock_starts_at_the_ledger_time() -> None:
    f = finding(published=days_ago(400), first_seen=days_ago(3))
    assert status(f) == "overdue"  # published clock
    first_seen = parse_policy({"clock": "first-seen"}, "p.yaml")
    result = evaluate([f], first_seen, NOW).results[0]
    assert result.clock_start == days_ago(3)
    assert result.status == "ok"


def test_without_a_published_time_the_clock_falls_back_to_first_seen_then_now() -> None:
    assert (
        evaluate([finding(published=None, first_seen=days_ago(50))], Policy(), NOW)
        .results[0]
        .status
        == "overdue"
    )
    assert evaluate([finding(published=None)], Policy(), NOW).results[0].clock_start == NOW


def waiver(**changes: object) -> Waiver:
    base = Waiver(
        id="PYSEC-2025-3",
        reason="not reachable",
        expires=datetime.date(2026, 8, 1),
        approver="sec@example.org",
        origin="waivers.yaml",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("ident", ["PYSEC-2025-3", "CVE-2025-0003", "ghsa-xxxx-yyyy-zzzz"])
def test_a_waiver_matches_the_id_or_any_alias(ident: str) -> None:
    policy = Policy(waivers=(waiver(id=ident),))
    result = evaluate([finding(published=days_ago(100))], policy, NOW)
    assert result.results[0].status == "waived"
    assert result.results[0].waiver is not None
    assert result.passed
    assert result.unused_waivers == ()


def test_a_waiver_for_another_package_does_not_apply() -> None:
    policy = Policy(waivers=(waiver(package="Other_Pkg"),))
    result = evaluate([finding(published=days_ago(100))], policy, NOW)
    assert result.results[0].status == "overdue"
    assert result.unused_waivers == policy.waivers
    matching = Policy(waivers=(waiver(package="ToyWeb"),))
    assert evaluate([finding(published=days_ago(100))], matching, NOW).results[0].status == "waived"


def test_a_waiver_applies_through_its_expiry_day_and_is_reported_after() -> None:
    policy = Policy(waivers=(waiver(expires=datetime.date(2026, 7, 15)),))
    late = finding(published=days_ago(100))
    assert status(late, policy, NOW.replace(hour=23)) == "waived"
    result = evaluate([late], policy, NOW + datetime.timedelta(days=1))
    assert result.results[0].status == "overdue"
    assert result.expired_waivers == policy.waivers


def test_a_waiver_reaching_past_the_maximum_span_is_a_configuration_error() -> None:
    policy = Policy(waivers=(waiver(expires=datetime.date(2026, 12, 31)),))
    with pytest.raises(
        SloPolicyError,
        match=r"waivers.yaml: waiver for PYSEC-2025-3 expires 2026-12-31, 169 days after today; the policy allows at most 90 days \(max_waiver_span\)",
    ):
        evaluate([finding()], policy, NOW)
    granted = Policy(
        waivers=(waiver(expires=datetime.date(2026, 8, 1), granted=datetime.date(2026, 1, 1)),)
    )
    with pytest.raises(SloPolicyError, match="212 days after it was granted"):
        evaluate([finding()], granted, NOW)
    wide = dataclasses.replace(policy, max_waiver_span=200)
    assert evaluate([finding(published=days_ago(100))], wide, NOW).results[0].status == "waived"


def test_a_waiver_span_runs_from_granted_else_from_its_first_record_else_today() -> None:
    far = waiver(expires=datetime.date(2026, 10, 1))  # 78 days after NOW
    assert waiver_refusal(far, Policy(), NOW) is None
    first = datetime.date(2026, 6, 1)  # 122 days before it expires
    assert waiver_refusal(far, Policy(), NOW, first) == (
        "expires 2026-10-01, 122 days after the first scan that recorded it (2026-06-01); the "
        "policy allows at most 90 days (max_waiver_span)"
    )
    with pytest.raises(SloPolicyError, match="the first scan that recorded it"):
        evaluate([finding()], Policy(waivers=(far,)), NOW, {waiver_key(far): first})
    granted = dataclasses.replace(far, granted=datetime.date(2026, 7, 10))
    assert waiver_refusal(granted, Policy(), NOW, first) is None  # granted wins


def test_a_waiver_granted_after_now_does_not_exist_yet() -> None:
    later = waiver(granted=datetime.date(2026, 7, 16))
    assert waiver_refusal(later, Policy(), NOW) == (
        "was granted 2026-07-16, after the judging instant 2026-07-15: it does not exist yet"
    )
    assert waiver_refusal(later, Policy(), NOW + datetime.timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("approvers", "approver", "refused"),
    [
        (None, None, False),
        (("sec@example.org",), "sec@example.org", False),
        (("sec@example.org",), "dev@example.org", True),
        (("sec@example.org",), None, True),
        ((), "sec@example.org", True),  # an empty list: nobody may waive
    ],
)
def test_only_listed_approvers_may_waive(
    approvers: tuple[str, ...] | None, approver: str | None, refused: bool
) -> None:
    policy = Policy(waiver_approvers=approvers)
    why = waiver_refusal(waiver(approver=approver), policy, NOW)
    assert (why is not None) == refused
    if refused:
        assert why is not None and "waiver_approvers are" in why


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate([finding()], Policy(), NOW.replace(tzinfo=None))


@given(
    age=st.floats(min_value=0, max_value=400, allow_nan=False),
    severity=st.sampled_from(["critical", "high", "medium", "low", "unknown"]),
)
def test_overdue_exactly_when_now_is_past_due(age: float, severity: str) -> None:
    result = evaluate([finding(severity=severity, published=days_ago(age))], Policy(), NOW).results[
        0
    ]
    assert result.due is not None
    assert (result.status == "overdue") == (result.due < NOW)
    assert result.days_left is not None
    assert (result.days_left < 0) == (result.due < NOW)


# -- parsing ---------------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = parse_policy({}, "pyproject.toml")
    assert dict(policy.windows) == {"critical": 7, "high": 30, "medium": 90, "low": 180}
    assert (policy.unknown_severity, policy.clock, policy.no_fix_pauses_clock) == (
        "high",
        "published",
        False,
    )
    assert (policy.max_db_age, policy.due_soon, policy.max_waiver_span) == (7, 7, 90)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"windows": {"severe": 3}}, "windows: unknown key 'severe' (unknown keys are errors)"),
        ({"clok": "published"}, "(top level): unknown key 'clok' (unknown keys are errors)"),
        ({"clock": "yesterday"}, "clock: must be 'published' or 'first-seen'"),
        (
            {"windows": {"high": "30 days"}},
            "windows/high: must be an integer of at least 0 or a string matching '^[0-9]+d$'",
        ),
        ({"windows": {"high": -1}}, "windows/high: must be an integer of at least 0 or a string"),
        ({"unknown_severity": "unknown"}, "unknown_severity: must be 'critical' or 'high' or"),
        (["a", "list"], "(top level): must be a mapping"),
    ],
)
def test_bad_policies_name_the_file_and_the_problem(data: object, message: str) -> None:
    with pytest.raises(SloPolicyError) as caught:
        parse_policy(data, "policy.yaml")
    assert str(caught.value).startswith("policy.yaml: invalid SLO policy: ")
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"id": "X-1", "expires": "2026-08-01"}, "waivers/0: 'reason' is a required property"),
        ({"id": "X-1", "reason": "ok"}, "waivers/0: 'expires' is a required property"),
        (
            {"id": "X-1", "reason": "  ", "expires": "2026-08-01"},
            "waivers/0/reason: must not be empty",
        ),
        (
            {"id": "X-1", "reason": "ok", "expires": "next week"},
            "waivers/0/expires: must match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'",
        ),
        (
            {"id": "X-1", "reason": "ok", "expires": "2026-02-30"},
            "waivers/0/expires: '2026-02-30' is not a valid date",
        ),
        (
            {"id": "X-1", "reason": "ok", "expires": "2026-08-01", "by": "me"},
            "waivers/0: unknown key 'by' (unknown keys are errors)",
        ),
    ],
)
def test_a_waiver_without_reason_or_expiry_is_a_configuration_error(
    item: dict[str, str], message: str
) -> None:
    with pytest.raises(SloPolicyError, match=r"waivers\.yaml: ") as caught:
        parse_waivers({"waivers": [item]}, "waivers.yaml")
    assert message in str(caught.value)


def test_yaml_dates_are_read_as_dates() -> None:
    text = "waivers:\n- id: CVE-2025-0003\n  reason: fine\n  expires: 2026-08-01\n  granted: 2026-07-01\n"
    (w,) = parse_waivers(yaml.safe_load(text), "w.yaml")
    assert (w.expires, w.granted, w.origin) == (
        datetime.date(2026, 8, 1),
        datetime.date(2026, 7, 1),
        "w.yaml",
    )
    with pytest.raises(SloPolicyError, match="'waivers' is a required property"):
        parse_waivers({}, "w.yaml")
