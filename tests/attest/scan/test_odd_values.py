"""Values Python itself cannot read, in advisory data and in the scanned components: a version
holding a number of more than 4,300 digits (Python's integer-string limit, which packaging's
`Version` hits as a plain ValueError, not InvalidVersion), and a date that leaves the calendar
when converted to UTC (`0001-01-01T00:00:00+01:00`). Both used to end the scan with "internal
error" (exit 3). Now an unreadable bound is judged on the safe side and listed, as `4.1.0-NA` is;
a date outside the calendar is a bad record (exit 2, naming it); an unreadable component version
is bad input (exit 2, naming the file). And the cost of alias merging grows linearly."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from tests.attest.scan.helpers import record, sbom, write_json_dir
from verify.osv import database
from verify.osv import records as osv

NOW = "2026-07-05T00:00:00Z"
HUGE = "9" * 5000
LONG = "1." + "9" * 5000
LEFT_OUT = "left out: the version may not be fixed"
FROM_FIRST = "read as 0: affected from the first version"
ENV = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": ""}


def _entry(data: dict[str, Any]) -> osv.Entry:
    ((_, found),) = list(osv.entries(data))
    return found


@pytest.mark.parametrize("value", [HUGE, LONG])
@pytest.mark.parametrize(
    ("events", "field", "judged"),
    [
        ([{"introduced": "0"}, {"fixed": "V"}], "events[1].fixed", LEFT_OUT),
        ([{"introduced": "0"}, {"last_affected": "V"}], "events[1].last_affected", LEFT_OUT),
        ([{"introduced": "V"}, {"fixed": "3.0"}], "events[0].introduced", FROM_FIRST),
        ([{"introduced": "0"}, {"fixed": "1.0"}, {"limit": "V"}], "events[2].limit", LEFT_OUT),
    ],
)
def test_a_bound_with_an_overlong_number_is_unreadable_and_judged_on_the_safe_side(
    value: str, events: list[dict[str, str]], field: str, judged: str
) -> None:
    filled = [{k: value if v == "V" else v for k, v in e.items()} for e in events]
    found = _entry(record("X-1", "pkg", events=filled))
    ((where, excerpt, how),) = found["unreadable"]
    assert (where, how) == (f"affected[0].ranges[0].{field}", judged)
    assert excerpt.startswith("'" + value[:8]) and len(excerpt) <= 40
    if "limit" not in field:
        assert osv.affects(found, Version("2.31.0"))  # the bound could not close the range
    if "fixed" in field:
        assert osv.fix_versions(found) == (value,)  # a fix is named: the SLO clock runs


def test_an_overlong_number_in_the_versions_list_matches_nothing() -> None:
    found = _entry(record("X-1", "pkg", versions=[HUGE, "1.0"]))
    assert osv.affects(found, Version("1.0")) and not osv.affects(found, Version("2.0"))


@pytest.mark.parametrize("field", ["published", "modified"])
@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+01:00",  # before the calendar in UTC: OverflowError
        "9999-12-31T23:59:59-01:00",  # after it in UTC: OverflowError
        "9999-12-31T23:59:59Z",  # in it, but a due date 30 days later is not
        "9000-01-01T00:00:00Z",
    ],
)
def test_a_record_date_outside_the_calendar_is_a_record_error(field: str, moment: str) -> None:
    with pytest.raises(osv.RecordError) as caught:
        list(osv.entries(record("X-1", "pkg", events=[{"introduced": "0"}], **{field: moment})))
    assert str(caught.value) == f"X-1: {field}: outside the calendar years 1 to 8999 (UTC)"


def test_the_earliest_dates_of_the_calendar_are_still_read() -> None:
    data = record("X-1", "pkg", events=[{"introduced": "0"}], published="0001-01-01T00:00:00Z")
    assert _entry(data)["published"] == "0001-01-01T00:00:00Z"


# -- through the command --------------------------------------------------------------------------


def _scan(
    invoke: Callable[..., Result], tmp_path: Path, records: list[dict[str, Any]], *target: str
) -> Result:
    db = write_json_dir(tmp_path / "db", records)
    return invoke(
        "scan", *target, "--db", str(db), "--cache-dir", str(tmp_path / "c"), "--now", NOW,
        "--allow-stale-db", env=ENV,
    )  # fmt: skip


def test_the_scan_marks_and_lists_a_fix_with_an_overlong_number(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    data = record("PYSEC-1", "requests", events=[{"introduced": "0"}, {"fixed": LONG}])
    bom = sbom(tmp_path / "bom.json", {"requests": "2.31.0"})
    result = _scan(invoke, tmp_path, [data], "--sbom", str(bom))
    assert result.exit_code == 1, result.stderr  # affected, overdue: judged, never exit 3
    report = json.loads(result.stdout)
    assert [(f["id"], f["judged_on_safe_side"]) for f in report["findings"]] == [("PYSEC-1", True)]
    ((listed),) = report["unreadable_advisories"]
    assert (listed["field"], listed["judged"]) == (
        "affected[0].ranges[0].events[1].fixed",
        LEFT_OUT,
    )
    assert len(listed["excerpt"]) <= 40


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_the_scan_refuses_a_record_dated_outside_the_calendar_naming_it(
    invoke: Callable[..., Result], tmp_path: Path, moment: str
) -> None:
    data = record("PYSEC-1", "requests", events=[{"introduced": "0"}], published=moment)
    bom = sbom(tmp_path / "bom.json", {"requests": "2.31.0"})
    result = _scan(invoke, tmp_path, [data], "--sbom", str(bom))
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        f"attest: error: {tmp_path / 'db'}: PYSEC-1.json: bad OSV record: PYSEC-1: published: "
        "outside the calendar years 1 to 8999 (UTC)\n"
    )


@pytest.mark.parametrize("kind", ["requirements", "sbom"])
def test_a_component_version_with_an_overlong_number_is_bad_input_naming_the_file(
    invoke: Callable[..., Result], tmp_path: Path, kind: str
) -> None:
    if kind == "requirements":
        target = tmp_path / "requirements.txt"
        target.write_text(f"requests=={LONG}\n")
    else:
        target = sbom(tmp_path / "bom.json", {"requests": LONG})
    data = record("PYSEC-1", "requests", events=[{"introduced": "0"}, {"fixed": "2.32"}])
    result = _scan(invoke, tmp_path, [data], f"--{kind}", str(target))
    assert result.exit_code == 2, result.stderr
    if kind == "requirements":  # refused as it is read: over CycloneDX's length for a version
        assert result.stderr.startswith(f"attest: error: {target}: line 1: version '1.999")
        assert result.stderr.endswith(
            "… is over 1024 characters (CycloneDX's limit for a version)\n"
        )
    else:
        assert result.stderr.startswith(f"attest: error: {target}: 'requests' version '1.999")
        assert result.stderr.endswith(
            "… holds a number of more than 4,300 digits: it cannot be compared with advisories\n"
        )
    assert len(result.stderr) < 300  # a short excerpt, never the whole value


def test_a_ledger_time_outside_the_calendar_is_bad_input(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.json"
    ledger.write_text(
        json.dumps(
            {
                "format": "attest-first-seen/1",
                "first_seen": {"requests PYSEC-1": "0001-01-01T00:00:00+01:00"},
            }
        )
    )
    data = record("PYSEC-1", "requests", events=[{"introduced": "0"}, {"fixed": "2.32"}])
    bom = sbom(tmp_path / "bom.json", {"requests": "2.31.0"})
    result = _scan(invoke, tmp_path, [data], "--sbom", str(bom), "--ledger", str(ledger))
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        f"attest: error: {ledger}: requests PYSEC-1: timestamp '0001-01-01T00:00:00+01:00' is "
        "outside the calendar\n"
    )


# -- a property: whatever the versions and dates, a verdict or one line of refusal ---------------

DIGITS = st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n)
VERSIONS = (
    DIGITS
    | DIGITS.map(lambda d: "1." + d)
    | DIGITS.map(lambda d: d + ".0rc1")
    | st.text(max_size=12)
    | st.sampled_from(["0", "2.31.0", "2.32", "4.1.0-NA", "1!2.0.post1.dev3+local", "v1"])
)
OFFSETS = st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59", ""])
DATES = (
    st.builds(
        lambda d, z: d.isoformat() + z,
        st.datetimes(allow_imaginary=False),
        OFFSETS,
    )
    | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-01-01"])
    | st.text(max_size=12)
)
EVENT_KINDS = st.sampled_from(["introduced", "fixed", "last_affected", "limit"])


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(st.tuples(EVENT_KINDS, VERSIONS), max_size=4),
    listed=st.lists(VERSIONS, max_size=3),
    published=DATES,
    modified=DATES,
    version=VERSIONS,
)
def test_any_version_or_date_gives_a_verdict_or_one_line_of_refusal(
    invoke: Callable[..., Result],
    tmp_path_factory: pytest.TempPathFactory,
    events: list[tuple[str, str]],
    listed: list[str],
    published: str,
    modified: str,
    version: str,
) -> None:
    tmp_path = tmp_path_factory.mktemp("odd")
    data = record(
        "PYSEC-1", "requests", events=[{k: v} for k, v in events], versions=listed,
        published=published, modified=modified,
    )  # fmt: skip
    bom = sbom(tmp_path / "bom.json", {"requests": version})
    result = _scan(invoke, tmp_path, [data], "--sbom", str(bom), "--allow-skips")
    assert result.exit_code in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("attest: error:")]
    assert len(errors) == (result.exit_code != 0)
    assert all(len(line) < 400 for line in result.stderr.splitlines())  # never a whole value


# -- cost: linear in the number of records (counted, not timed) ----------------------------------


@contextmanager
def _counting() -> Iterator[list[int]]:
    """The Python lines run inside the block (a loop's every turn counts, comprehensions too):
    a measure of work that does not depend on the machine's load."""
    steps = [0]

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        steps[0] += 1
        return trace

    sys.settrace(trace)
    try:
        yield steps
    finally:
        sys.settrace(None)


def _steps_to_match(tmp_path: Path, count: int, aliases: int) -> int:
    records = [
        record(
            f"GHSA-{i}", "requests", events=[{"introduced": "0"}, {"fixed": "2.32"}],
            aliases=[f"CVE-2026-{j}" for j in range(aliases)],
        )
        for i in range(count)
    ]  # fmt: skip
    db = database.load(write_json_dir(tmp_path / f"db-{count}-{aliases}", records))
    with _counting() as steps:
        found = database.matches(db.index, "requests", "2.31.0")
    assert len(found) == (1 if aliases else count)  # sharing an alias: one finding
    return steps[0]


@pytest.mark.parametrize("aliases", [0, 20])
def test_matching_and_merging_many_records_of_one_package_is_linear(
    tmp_path: Path, aliases: int
) -> None:
    """1,000 records sharing aliases took 3 s, 4,000 took 21 s: each record was compared with
    every group found so far. Now doubling the records at most doubles the work (plus slack
    for the sort's log factor)."""
    small, large = (_steps_to_match(tmp_path, n, aliases) for n in (150, 300))
    assert large <= 2.3 * small, (small, large)


def test_merging_joins_records_linked_only_through_a_third() -> None:
    """A GHSA record naming both CVEs links two PYSEC records: one vulnerability, one finding
    (the pairwise scan kept them apart when the link came last)."""
    first, second, link = (
        osv.Advisory(i, a, "s", None, None)
        for i, a in (
            ("PYSEC-1", ("CVE-1",)),
            ("PYSEC-2", ("CVE-2",)),
            ("GHSA-x", ("CVE-1", "CVE-2")),
        )
    )
    (merged,) = osv.merge_aliases([second, link, first])
    assert merged.id == "PYSEC-1"
    assert merged.aliases == ("CVE-1", "CVE-2", "GHSA-x", "PYSEC-2")


def test_a_marker_comparing_with_an_overlong_version_is_bad_input(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    target = tmp_path / "requirements.txt"
    target.write_text(f'django<2 ; python_version < "{LONG}"\n')
    result = invoke("sbom", "--requirements", str(target), env=ENV)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(
        f"attest: error: {target}: line 1: the marker holds a version Python cannot read in "
    )
    assert len(result.stderr) < 300


def test_an_slo_failure_names_ten_overdue_findings_and_counts_the_rest(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    """Before: 449 overdue findings made one error line of 60,000 characters."""
    records = [
        record(f"PYSEC-{i}", f"pkg{i:02}", events=[{"introduced": "0"}, {"fixed": "2.0"}])
        for i in range(25)
    ]
    bom = sbom(tmp_path / "bom.json", {f"pkg{i:02}": "1.0" for i in range(25)})
    result = _scan(invoke, tmp_path, records, "--sbom", str(bom))
    assert result.exit_code == 1, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("attest: error:")]
    assert line.startswith("attest: error: 25 findings overdue under the SLO policy: pkg00 1.0")
    assert line.count("days late)") == 10
    assert line.endswith(", and 15 more (see the report)")


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


_STAMP = st.builds(
    "{}-{}-{}T{}:{}:{}{}{}".format,
    st.one_of(_digits(4), st.sampled_from(["8999", "9000", "0000", "0001"])),
    st.one_of(_digits(2), st.sampled_from(["01", "12", "13", "00"])),
    st.one_of(_digits(2), st.sampled_from(["01", "28", "29", "31", "32"])),
    st.one_of(_digits(2), st.sampled_from(["00", "23", "24"])),
    _digits(2),
    _digits(2),
    st.sampled_from(["", ".000000", ".5", ".123", ".123456", ".000001", ".1234567"]),
    st.sampled_from(["Z", "+00:00", "+01:00", "", "z"]),
)


def _read(text: str) -> str:
    try:
        return str(osv.timestamp(text, "modified"))
    except osv.RecordError as e:
        return f"RecordError: {e}"


@settings(max_examples=1000, deadline=None)
@given(_STAMP)
def test_a_timestamp_written_as_it_is_kept_is_read_as_the_general_way_reads_it(text: str) -> None:
    """A quoted timestamp already in the form `timestamp` writes is kept as written without a
    round trip through datetime: the same text, or the same refusal, as the general way (which
    a trailing space takes)."""
    assert _read(text) == _read(text + " "), text
