"""OSV records: parsing them into compact per-package entries, matching versions, and the
advisory model the scan's sources and the gate share.

Matching follows OSV for PyPI: a version is affected when it is in the explicit `versions` list
OR inside an ECOSYSTEM range (events evaluated in PEP 440 order). The PyPA database has records
whose list and ranges disagree (pre-releases below `introduced`, overlapping events), so the
union is what the data means. Entries are plain JSON so the offline index can store them; an
entry's `versions` is one string of lines (`listed` gives the list).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterator, Mapping
from typing import Any, cast

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import Version

from verify.instant import LATEST
from verify.text import shown

Entry = dict[str, Any]  # one record as it concerns one package; see `entries`
_EVENT_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}
SUMMARY_MAX = 160
_FIRST = Version("0.dev0")  # "introduced: 0" means from the very first version


class RecordError(ValueError):
    """An OSV record that does not follow the schema (the message says where)."""


@dataclasses.dataclass(frozen=True)
class SeverityVector:
    """An OSV `severity` entry: `kind` is CVSS_V2, CVSS_V3 or CVSS_V4."""

    kind: str
    vector: str


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """Data of an advisory that cannot be read as written, and how it was judged instead: always
    on the safe side (the version counts as affected), never dropped in silence."""

    id: str  # the record
    package: str
    field: str  # where in the record, e.g. affected[0].ranges[0].events[1].fixed
    excerpt: str  # a short escaped excerpt of the value
    judged: str

    def describe(self) -> str:
        return f"{self.id} ({self.package}): {self.field} {self.excerpt}: {self.judged}"


@dataclasses.dataclass(frozen=True)
class Advisory:
    """One OSV record as it concerns one package."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    published: datetime.datetime | None
    modified: datetime.datetime | None
    severity: tuple[SeverityVector, ...] = ()
    database_severity: str | None = None  # database_specific.severity (GHSA: LOW..CRITICAL)
    fix_versions: tuple[str, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()  # data judged on the safe side


def normalize(name: str) -> str:
    """PEP 503 normalized name, as packages are keyed in the entries."""
    return str(canonicalize_name(name))


# A timestamp already written as `timestamp` writes it (most quoted ones): UTC, seconds, and a
# fraction of six digits or none (a zero fraction is not written); a year below LATEST's.
_UTC_TEXT = re.compile(
    r"[0-8][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?!0{6})[0-9]{6})?Z"
)


def timestamp(value: object, field: str) -> str | None:
    """An RFC 3339 timestamp as ISO text in UTC. YAML gives unquoted ones as datetimes and
    quoted ones as strings: both end up the same."""
    if value is None:
        return None
    if isinstance(value, str) and _UTC_TEXT.fullmatch(value):
        try:
            datetime.datetime.fromisoformat(value[:-1])  # a real day and time of day
            return value
        except ValueError:
            pass  # the general way below names the problem
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as e:
            raise RecordError(f"{field}: not an RFC 3339 timestamp") from e  # never quoted
    else:
        raise RecordError(f"{field}: expected a timestamp, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    try:
        moment = moment.astimezone(datetime.timezone.utc)
    except OverflowError as e:  # 0001-01-01T00:00:00+01:00 is before the calendar starts
        raise RecordError(f"{field}: {_OUTSIDE}") from e
    if moment >= LATEST:  # a due date is it plus a window of up to 1000 years
        raise RecordError(f"{field}: {_OUTSIDE}")
    return moment.isoformat().replace("+00:00", "Z")


_OUTSIDE = f"outside the calendar years 1 to {LATEST.year - 1} (UTC)"


def parse_time(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


_CANONICAL: dict[str, str] = {}  # memo: the PyPA database lists 580,000 versions, 60,000 distinct
# A short version already in canonical form but for trailing zeros of its release (1.2.0,
# 1.0rc1): most of those listed. Numbers of up to 18 digits, none with a leading zero, as
# Version writes them; the canonical form is then the text with those zeros cut (tested
# against `canonicalize_version`). Each part is told by its first character: no backtracking.
_N = r"(?:0|[1-9][0-9]{0,17})"
_SIMPLE = re.compile(rf"({_N}(?:\.{_N})*)((?:(?:a|b|rc){_N})?(?:\.post{_N})?(?:\.dev{_N})?)")


def canonical_version(text: str) -> str:
    """PEP 440 canonical form (1.9.0 and 1.9 are one version), so `versions` lists can be matched
    by string; unparsable versions stay as written."""
    found = _CANONICAL.get(text)
    if found is None:
        simple = _SIMPLE.fullmatch(text) if len(text) <= 64 else None
        if simple is not None:
            release = simple[1]
            while release.endswith(".0"):
                release = release[:-2]
            found = release + simple[2]
        else:
            try:
                found = str(canonicalize_version(text))
            except ValueError:  # a number past Python's 4,300 digits: no version equals it
                found = text
        if len(_CANONICAL) < 1_000_000:
            _CANONICAL[text] = found
    return found


def _canonical_versions(value: object, field: str) -> list[str]:
    """`canonical_version` of each item of a `versions` list (hundreds per record: one pass
    over the memo, the function called only where it misses)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: expected a list")
    known = _CANONICAL.get
    try:
        found = list(map(known, value))  # no call of ours per item where all are known
        if None not in found:
            return cast("list[str]", found)
        return [known(v) or canonical_version(str(v)) for v in value]
    except TypeError:  # an item that is a list or a mapping: no key of the memo
        return [canonical_version(str(v)) for v in value]


def _strings(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: expected a list")
    return [str(v) for v in value]


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, (dict, Mapping)):  # dict first: the ABC's check is slow
        raise RecordError(f"{field}: expected a mapping, got {type(value).__name__}")
    return value


def _severity(value: object, field: str) -> list[list[str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: expected a list")
    items = [_mapping(item, f"{field}[{i}]") for i, item in enumerate(value)]
    return [[str(m.get("type", "")), str(m.get("score", ""))] for m in items]


_EXCERPT = 32
UNREAD = frozenset({"references"})  # top-level keys that `entries` and `_stamp` never read
_ALL = [["introduced", "0"]]  # a range that covers every version
_OPEN = "judged affected at every version: "


def _excerpt(value: object) -> str:
    text = shown(value if isinstance(value, str) else repr(value))
    return "'" + (text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…") + "'"


def _bound(value: object) -> str | None:
    """An event's version as text, or None when it is not a PEP 440 version ("0" is)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None  # a YAML float (1.10 read as 1.1), a date, a list: not what was meant
    text = str(value)
    return text if text == "0" or _version(text) is not None else None


def _events(rng: Mapping[str, Any], field: str, bad: list[list[str]]) -> list[list[str]]:
    """A range's events as [kind, version] pairs, read on the safe side: an unreadable `fixed`,
    `last_affected` or `limit` is left out (the version may not be fixed: it stays affected);
    an unreadable `introduced` counts as `0`, or, beside other `introduced` events, makes the
    range cover every version (where its gap lies cannot be told); a range of no events, of an
    unknown event, or without `introduced` covers every version. Each case is noted in `bad`."""
    events = rng.get("events")
    if not isinstance(events, list) or not events:
        bad.append([f"{field}.events", _excerpt(events), _OPEN + "the range has no events"])
        return _ALL
    pairs: list[list[str]] = []
    opened = sum(1 for e in events if isinstance(e, (dict, Mapping)) and "introduced" in e)
    for j, event in enumerate(events):
        kind = (
            next((k for k in event if k in _EVENT_ORDER), None)
            if isinstance(event, (dict, Mapping))
            else None
        )
        if kind is None or len(event) != 1:
            bad.append([f"{field}.events[{j}]", _excerpt(event), _OPEN + "an unknown event"])
            return _ALL
        text = _bound(event[kind])
        where = f"{field}.events[{j}].{kind}"
        if text is not None:
            pairs.append([kind, text])
        elif kind != "introduced":
            bad.append([where, _excerpt(event[kind]), "left out: the version may not be fixed"])
        elif opened == 1:
            bad.append([where, _excerpt(event[kind]), "read as 0: affected from the first version"])
            pairs.append(["introduced", "0"])
        else:
            bad.append([where, _excerpt(event[kind]), _OPEN + "one of several introduced events"])
            return _ALL
    if opened == 0:
        bad.append([f"{field}.events", "(no introduced)", _OPEN + "the range never opens"])
        return _ALL
    return pairs


def _ranges(
    affected: Mapping[str, Any], field: str, bad: list[list[str]]
) -> tuple[list[list[list[str]]], list[str]]:
    """The ranges the matching walks, and every `fixed` version as written (readable or not: a
    fix the record names exists, so the SLO clock runs)."""
    found: list[list[list[str]]] = []
    fixes: list[str] = []
    ranges = affected.get("ranges") or []
    if not isinstance(ranges, list):
        raise RecordError(f"{field}.ranges: expected a list")
    for i, item in enumerate(ranges):
        rng = _mapping(item, f"{field}.ranges[{i}]")
        kind = rng.get("type")
        if kind == "GIT":
            continue  # commits, not versions: the record's `versions` list stands for them
        if kind not in ("ECOSYSTEM", "SEMVER"):
            bad.append(
                [f"{field}.ranges[{i}].type", _excerpt(kind), _OPEN + "an unknown range type"]
            )
            found.append(_ALL)
            continue
        events = rng.get("events")
        for event in events if isinstance(events, list) else []:
            if isinstance(event, (dict, Mapping)) and isinstance(event.get("fixed"), (str, int)):
                fixes.append(str(event["fixed"]))
        found.append(_events(rng, f"{field}.ranges[{i}]", bad))
    return found, fixes


def entries(record: object) -> Iterator[tuple[str, Entry]]:
    """(normalized package, entry) for each PyPI package the record affects; nothing for a
    withdrawn record. RecordError when the record is malformed."""
    data = _mapping(record, "record")
    ident = data.get("id")
    if not isinstance(ident, str) or not ident.strip():
        raise RecordError("id: missing")
    if data.get("withdrawn"):
        return
    affected = data.get("affected")
    if not isinstance(affected, list):
        raise RecordError(f"{ident}: affected: expected a list")
    common: Entry = {
        "id": ident,
        "aliases": _strings(data.get("aliases"), f"{ident}: aliases"),
        "summary": _summary(data),
        "published": timestamp(data.get("published"), f"{ident}: published"),
        "modified": timestamp(data.get("modified"), f"{ident}: modified"),
        "severity": _severity(data.get("severity"), f"{ident}: severity"),
        "db_severity": _db_severity(data.get("database_specific")),
    }
    merged: dict[str, Entry] = {}
    for i, item in enumerate(affected):
        field = f"{ident}: affected[{i}]"
        aff = _mapping(item, field)
        package = _mapping(aff.get("package"), f"{field}.package")
        if package.get("ecosystem") != "PyPI" or not package.get("name"):
            continue
        entry = merged.setdefault(
            normalize(str(package["name"])),
            {**common, "versions": [], "ranges": [], "fixes": [], "unreadable": []},
        )
        entry["versions"] += _canonical_versions(aff.get("versions"), field)
        ranges, fixes = _ranges(aff, f"affected[{i}]", entry["unreadable"])
        entry["ranges"] += ranges
        entry["fixes"] += fixes
        if not common["severity"]:
            entry["severity"] = _severity(aff.get("severity"), f"{field}.severity")
    for entry in merged.values():
        entry["versions"] = _lines(entry["versions"])
    yield from merged.items()


def _lines(versions: list[str]) -> str:
    """A versions list as the entry keeps it: one string, each version on a line of its own
    (`\\n1.0\\n1.1\\n`), so that the index stores and decodes one string, not hundreds, and
    membership is one search. A listed value holding a line break is no version (PEP 440 has
    no whitespace inside one, and canonical forms none at all): it matches nothing either way,
    and is left out so that it cannot split into lines that would."""
    kept, joined = versions, "\n".join(versions)
    if joined.count("\n") != len(versions) - 1:  # some value holds a line break (rare)
        kept = [v for v in versions if "\n" not in v]
        joined = "\n".join(kept)
    return f"\n{joined}\n" if kept else ""


def listed(entry: Entry) -> list[str]:
    """The canonical versions an entry lists."""
    return entry["versions"].split("\n")[1:-1] if entry["versions"] else []


def _summary(data: Mapping[str, Any]) -> str:
    """`summary`, else the first line of `details`, kept short: it is a table cell and a title."""
    text = str(data.get("summary") or data.get("details") or "").strip().split("\n")[0]
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _db_severity(value: object) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("severity"), str):
        return str(value["severity"])
    return None


_PARSED: dict[str, Version | None] = {}  # memo: every scanned version walks its package's events


def _version(text: str) -> Version | None:
    """`text` as a PEP 440 version; None when it is not one, or holds a number too long for
    Python to read (4,300 digits): both are unreadable, judged as `_events` says."""
    if text in _PARSED:
        return _PARSED[text]
    try:
        found: Version | None = Version(text)
    except ValueError:  # InvalidVersion, or the integer-string limit
        found = None
    if len(_PARSED) < 100_000 and len(text) < 200:
        _PARSED[text] = found
    return found


def _in_range(events: list[list[str]], version: Version) -> bool:
    """OSV's algorithm: walk the events in version order; introduced opens, fixed and
    last_affected close (limit only bounds, which the walk already does)."""
    keyed = []
    for kind, text in events:
        at = _FIRST if kind == "introduced" and text == "0" else _version(text)
        if at is None:
            continue  # not in entries built by `_events`, which reads every bound or notes it
        keyed.append((at, _EVENT_ORDER[kind], kind))
    affected = False
    for at, _, kind in sorted(keyed):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def affects(entry: Entry, version: Version, canonical: str | None = None) -> bool:
    """Whether `version` is listed or in a range; `canonical`: its canonical form, when the
    caller has it (one version is matched against every entry of its package)."""
    line = f"\n{canonicalize_version(version) if canonical is None else canonical}\n"
    if line in entry["versions"]:
        return True
    return any(_in_range(events, version) for events in entry["ranges"])


def fix_versions(entry: Entry) -> tuple[str, ...]:
    return tuple(sorted(set(entry["fixes"]), key=lambda t: (_version(t) or Version("0"), t)))


def unreadable(package: str, entry: Entry) -> tuple[Unreadable, ...]:
    return tuple(Unreadable(entry["id"], package, *item) for item in entry["unreadable"])


def advisory(package: str, entry: Entry) -> Advisory:
    return Advisory(
        id=entry["id"],
        aliases=tuple(entry["aliases"]),
        summary=entry["summary"],
        published=parse_time(entry["published"]),
        modified=parse_time(entry["modified"]),
        severity=tuple(SeverityVector(kind, vector) for kind, vector in entry["severity"]),
        database_severity=entry["db_severity"],
        fix_versions=fix_versions(entry),
        unreadable=unreadable(package, entry),
    )


_ID_RANK = {"PYSEC": 0, "GHSA": 1, "CVE": 2}


def _rank(ident: str) -> tuple[int, str]:
    return (_ID_RANK.get(ident.split("-", 1)[0], 3), ident)


def merge_aliases(found: list[Advisory]) -> list[Advisory]:
    """One advisory per vulnerability: records for the same package that share an id or alias,
    directly or through other records (a PYSEC and a GHSA record of one CVE), become one, named
    by its best-ranked record, with the earliest `published` (PYSEC records can be created years
    after the disclosure). Linear: each name points at the first record that bore it, and
    records are joined as a union-find forest (thousands of records can share aliases)."""
    ordered = sorted(found, key=lambda a: _rank(a.id))
    parent = list(range(len(ordered)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, adv in enumerate(ordered):
        for name in (adv.id, *adv.aliases):
            a, b = root(i), root(owner.setdefault(name, i))
            parent[max(a, b)] = min(a, b)  # the better-ranked record stays the root
    groups: dict[int, list[Advisory]] = {}
    for i, adv in enumerate(ordered):
        groups.setdefault(root(i), []).append(adv)  # a group starts at its root, in rank order
    return [_merge(g) for g in groups.values()]


def _merge(group: list[Advisory]) -> Advisory:
    if len(group) == 1:
        return group[0]
    first = group[0]
    names = {n for a in group for n in (a.id, *a.aliases)} - {first.id}
    published = [a.published for a in group if a.published is not None]
    modified = [a.modified for a in group if a.modified is not None]
    fixes = {f for a in group for f in a.fix_versions}
    return Advisory(
        id=first.id,
        aliases=tuple(sorted(names)),
        summary=next((a.summary for a in group if a.summary), ""),
        published=min(published) if published else None,
        modified=max(modified) if modified else None,
        severity=tuple(dict.fromkeys(s for a in group for s in a.severity)),
        database_severity=next((a.database_severity for a in group if a.database_severity), None),
        fix_versions=tuple(sorted(fixes, key=lambda t: (_version(t) or Version("0"), t))),
        unreadable=tuple(dict.fromkeys(u for a in group for u in a.unreadable)),
    )
