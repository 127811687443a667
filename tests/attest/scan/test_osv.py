"""OSV records: parsing, version matching (ranges and lists, PEP 440), alias merging; and
severity scoring."""

from __future__ import annotations

import datetime

import pytest
from packaging.version import Version

from tests.attest.scan.helpers import record
from verify.osv import records as osv
from verify.osv.records import Advisory, SeverityVector
from verify.osv.severity import score_vector, severity_of

UTC = datetime.timezone.utc


def entry(data: dict[str, object]) -> osv.Entry:
    ((_, found),) = list(osv.entries(data))
    return found


def affected(data: dict[str, object], version: str) -> bool:
    return osv.affects(entry(data), Version(version))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.9", False),
        ("1.0", True),
        ("1.4.2", True),
        ("1.5rc1", True),
        ("1.5", False),
        ("2.0", False),
    ],
)
def test_introduced_fixed_range(version: str, expected: bool) -> None:
    data = record("X-1", "pkg", events=[{"introduced": "1.0"}, {"fixed": "1.5"}])
    assert affected(data, version) is expected


@pytest.mark.parametrize(("version", "expected"), [("0.1", True), ("2.1", True), ("2.1.1", False)])
def test_last_affected_and_introduced_zero(version: str, expected: bool) -> None:
    data = record("X-1", "pkg", events=[{"introduced": "0"}, {"last_affected": "2.1"}])
    assert affected(data, version) is expected


def test_events_are_evaluated_in_version_order_and_ranges_can_reopen() -> None:
    events = [{"fixed": "1.2"}, {"introduced": "2.0"}, {"introduced": "1.0"}, {"fixed": "2.3"}]
    data = record("X-1", "pkg", events=events)
    assert [affected(data, v) for v in ("0.5", "1.1", "1.5", "2.2", "2.3")] == [
        False, True, False, True, False,
    ]  # fmt: skip


def test_versions_list_and_ranges_are_united() -> None:
    """The PyPA data lists pre-releases below `introduced`: the list still counts."""
    data = record(
        "X-1", "pkg", events=[{"introduced": "2.0"}, {"fixed": "2.2"}], versions=["2.0rc1", "1.9.0"]
    )
    assert affected(data, "2.0rc1")
    assert affected(data, "1.9")  # PEP 440 normal form: 1.9.0 == 1.9
    assert affected(data, "2.1")
    assert not affected(data, "1.8")


def test_versions_list_alone() -> None:
    assert affected(record("X-1", "pkg", versions=["1.0"]), "1.0")
    assert not affected(record("X-1", "pkg", versions=["1.0"]), "1.1")


def test_an_unparsable_fix_leaves_the_range_open_and_is_noted() -> None:
    data = record(
        "X-1", "pkg", events=[{"introduced": "0"}, {"fixed": "not a version"}], versions=["1.0"]
    )
    assert affected(data, "3.0")  # introduced 0 with no usable fix
    assert osv.fix_versions(entry(data)) == ("not a version",)  # a fix exists: the clock runs
    assert entry(data)["unreadable"] == [
        [
            "affected[0].ranges[0].events[1].fixed",
            "'not a version'",
            "left out: the version may not be fixed",
        ]
    ]


def test_timestamps_quoted_or_unquoted_are_the_same() -> None:
    unquoted = datetime.datetime(2024, 1, 10, 3, 4, 5, tzinfo=UTC)
    assert osv.timestamp(unquoted, "published") == "2024-01-10T03:04:05Z"
    assert osv.timestamp("2024-01-10T03:04:05Z", "published") == "2024-01-10T03:04:05Z"
    assert osv.timestamp("2024-01-10T05:04:05+02:00", "published") == "2024-01-10T03:04:05Z"
    assert osv.timestamp(datetime.datetime(2024, 1, 10, 3, 4, 5), "p") == "2024-01-10T03:04:05Z"
    with pytest.raises(osv.RecordError, match="published: not an RFC 3339 timestamp") as caught:
        osv.timestamp("yesterday", "published")
    assert "yesterday" not in str(caught.value)  # a record's values are never quoted


def test_records_name_packages_by_pep_503_and_merge_affected_entries() -> None:
    data = record("X-1", "Toy_Pkg", events=[{"introduced": "0"}, {"fixed": "1.0"}])
    data["affected"].append(
        {"package": {"name": "toy.pkg", "ecosystem": "PyPI"}, "versions": ["5.0"]}
    )
    data["affected"].append({"package": {"name": "toy-pkg", "ecosystem": "npm"}, "versions": ["9"]})
    ((name, found),) = list(osv.entries(data))
    assert name == "toy-pkg"
    assert osv.listed(found) == ["5"]  # canonical: 5.0 and 5 are one version
    assert osv.affects(found, Version("0.5")) and osv.affects(found, Version("5.0"))


def test_withdrawn_records_affect_nothing() -> None:
    assert (
        list(osv.entries(record("X-1", "pkg", versions=["1"], withdrawn="2026-01-01T00:00:00Z")))
        == []
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "record: expected a mapping, got list"),
        ({"affected": []}, "id: missing"),
        ({"id": "X-1"}, "X-1: affected: expected a list"),
        ({"id": "X-1", "affected": ["pkg"]}, "X-1: affected[0]: expected a mapping, got str"),
        (
            {"id": "X-1", "published": 5, "affected": []},
            "X-1: published: expected a timestamp, got int",
        ),
    ],
)
def test_malformed_records_say_where(data: object, message: str) -> None:
    with pytest.raises(osv.RecordError) as caught:
        list(osv.entries(data))
    assert str(caught.value) == message


def adv(ident: str, aliases: tuple[str, ...], published: datetime.datetime) -> Advisory:
    return Advisory(ident, aliases, "s", published, published, fix_versions=("2.0",))


def test_records_sharing_an_alias_become_one_with_the_earliest_publication() -> None:
    late = adv("PYSEC-2026-9", ("CVE-2024-1",), datetime.datetime(2026, 7, 7, tzinfo=UTC))
    early = adv("GHSA-abcd-efgh-ijkl", ("CVE-2024-1",), datetime.datetime(2024, 6, 1, tzinfo=UTC))
    other = adv("PYSEC-2026-10", ("CVE-2024-2",), datetime.datetime(2026, 7, 7, tzinfo=UTC))
    merged = osv.merge_aliases([early, late, other])
    assert [m.id for m in merged] == ["PYSEC-2026-10", "PYSEC-2026-9"]
    assert merged[1].aliases == ("CVE-2024-1", "GHSA-abcd-efgh-ijkl")
    assert merged[1].published == datetime.datetime(2024, 6, 1, tzinfo=UTC)


# -- severity ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "vector", "score", "level", "method"),
    [
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "critical", "CVSSv31"),
        ("CVSS_V3", "CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N", 5.3, "medium", "CVSSv3"),
        (
            "CVSS_V4",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            9.3,
            "critical",
            "CVSSv4",
        ),
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "high", "CVSSv2"),
        ("CVSS_V3", "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8, "low", "CVSSv31"),
    ],
)
def test_cvss_vectors_are_scored(
    kind: str, vector: str, score: float, level: str, method: str
) -> None:
    result = score_vector(SeverityVector(kind, vector))
    assert (result.score, result.level, result.method, result.vector) == (
        score,
        level,
        method,
        vector,
    )


def advisory_with(severity: tuple[SeverityVector, ...] = (), label: str | None = None) -> Advisory:
    return Advisory("X-1", (), "s", None, None, severity=severity, database_severity=label)


def test_the_highest_score_wins() -> None:
    vectors = (
        SeverityVector("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"),
        SeverityVector("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"),
    )
    assert severity_of(advisory_with(vectors)).score == 7.5


@pytest.mark.parametrize(
    ("label", "level"),
    [
        ("CRITICAL", "critical"),
        ("MODERATE", "medium"),
        ("low", "low"),
        ("weird", "unknown"),
        (None, "unknown"),
    ],
)
def test_database_label_then_unknown(label: str | None, level: str) -> None:
    result = severity_of(advisory_with(label=label))
    assert (result.level, result.score) == (level, None)


def test_a_malformed_vector_is_noted_and_passed_over() -> None:
    notes: list[str] = []
    bad = (SeverityVector("CVSS_V3", "CVSS:3.1/AV:X"), SeverityVector("UBUNTU", "high"))
    result = severity_of(advisory_with(bad, label="HIGH"), notes)
    assert result.level == "high" and result.method == "database"
    assert notes[0].startswith("X-1: malformed CVSS_V3 vector 'CVSS:3.1/AV:X': ")
    assert notes[1] == "X-1: unknown severity type 'UBUNTU'; ignored"


def test_summary_falls_back_to_the_first_line_of_details_kept_short() -> None:
    data = record("X-1", "pkg", versions=["1"])
    del data["summary"]
    data["details"] = "word " * 100 + "\nsecond line"
    text = entry(data)["summary"]
    assert len(text) <= osv.SUMMARY_MAX and text.endswith("…") and "second" not in text


# --- unreadable range data: kept on the safe side and noted, never dropped or left open quietly


ODD = "judged affected at every version: "


@pytest.mark.parametrize(
    ("events", "affected_at", "clean_at", "field", "judged"),
    [
        # pip-audit and the OSV walk leave such a range open silently (or drop it)
        (
            [{"introduced": "4.0"}, {"last_affected": "4.1.0-NA"}],
            ["4.0", "4.2", "9.0"],
            ["3.9"],
            "events[1].last_affected",
            "left out: the version may not be fixed",
        ),
        (
            [{"introduced": "not-a-version"}, {"fixed": "2.0"}],
            ["0.1", "1.9"],
            ["2.0", "3.0"],
            "events[0].introduced",
            "read as 0: affected from the first version",
        ),
        (
            [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.x"}, {"fixed": "3.0"}],
            ["0.1", "1.7", "2.5", "9.0"],
            [],
            "events[2].introduced",
            ODD + "one of several introduced events",
        ),
        ([], ["0.1", "99"], [], "events", ODD + "the range has no events"),
        ([{"fixed": "2.0"}], ["0.1", "3.0"], [], "events", ODD + "the range never opens"),
        ([{"broken": "1"}], ["0.1"], [], "events[0]", ODD + "an unknown event"),
        (
            [{"introduced": "0"}, {"fixed": 1.1}],  # YAML read `fixed: 1.10` as the float 1.1
            ["1.1", "5.0"],
            [],
            "events[1].fixed",
            "left out: the version may not be fixed",
        ),
    ],
)
def test_unreadable_events_are_judged_affected_and_noted(
    events: list[dict[str, object]],
    affected_at: list[str],
    clean_at: list[str],
    field: str,
    judged: str,
) -> None:
    data = record("X-1", "pkg", events=events)  # type: ignore[arg-type]
    for version in affected_at:
        assert affected(data, version), version
    for version in clean_at:
        assert not affected(data, version), version
    ((where, excerpt, how),) = entry(data)["unreadable"]
    assert (where, how) == (f"affected[0].ranges[0].{field}", judged)
    assert len(excerpt) <= 40


def test_an_unknown_range_type_covers_every_version_and_git_ranges_are_not_versions() -> None:
    data = record("X-1", "pkg", versions=["1.0"])
    data["affected"][0]["ranges"] = [
        {"type": "GIT", "repo": "https://example.org/x", "events": [{"introduced": "abc123"}]},
        {"type": "PEP440ISH", "events": [{"introduced": "1.0"}]},
    ]
    assert affected(data, "7.0")
    ((where, excerpt, how),) = entry(data)["unreadable"]
    assert (where, excerpt) == ("affected[0].ranges[1].type", "'PEP440ISH'")
    assert how == ODD + "an unknown range type"
    git_only = record("X-2", "pkg", versions=["1.0"])
    git_only["affected"][0]["ranges"] = data["affected"][0]["ranges"][:1]
    assert not affected(git_only, "7.0")
    assert entry(git_only)["unreadable"] == []


def test_excerpts_of_unreadable_values_are_short_and_escaped() -> None:
    data = record("X-1", "pkg", events=[{"introduced": "0"}, {"fixed": "1\n\x1b[31m" + "A" * 500}])
    ((_, excerpt, _),) = entry(data)["unreadable"]
    assert "\n" not in excerpt and "\x1b" not in excerpt
    assert excerpt.startswith("'1\\n\\x1b[31mAAA") and len(excerpt) <= 40


def test_merged_advisories_keep_every_unreadable_note() -> None:
    bad = record("PYSEC-1", "pkg", events=[{"introduced": "0"}, {"fixed": "x"}], aliases=["CVE-1"])
    good = record(
        "GHSA-1", "pkg", events=[{"introduced": "0"}, {"fixed": "2.0"}], aliases=["CVE-1"]
    )
    found = [
        osv.advisory("pkg", e)
        for data in (bad, good)
        for _, e in osv.entries(data)
        if osv.affects(e, Version("1.0"))
    ]
    (merged,) = osv.merge_aliases(found)
    assert [(u.id, u.package, u.field) for u in merged.unreadable] == [
        ("PYSEC-1", "pkg", "affected[0].ranges[0].events[1].fixed")
    ]
