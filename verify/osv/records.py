"""OSV records: parsing them into compact per-package entries, matching versions, and the
advisory model the scan's sources and the gate share.

Matching follows OSV for PyPI: a version is affected when it is in the explicit `versions` list
OR inside an ECOSYSTEM range (events evaluated in PEP 440 order). The PyPA database has records
whose list and ranges disagree (pre-releases below `introduced`, overlapping events), so the
union is what the data means. Entries are plain JSON so the offline index can store them.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

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


def normalize(name: str) -> str:
    """PEP 503 normalized name, as packages are keyed in the entries."""
    return str(canonicalize_name(name))


def timestamp(value: object, field: str) -> str | None:
    """An RFC 3339 timestamp as ISO text in UTC. YAML gives unquoted ones as datetimes and
    quoted ones as strings: both end up the same."""
    if value is None:
        return None
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
    return moment.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


_CANONICAL: dict[str, str] = {}  # memo: the PyPA database lists 580,000 versions, 60,000 distinct


def canonical_version(text: str) -> str:
    """PEP 440 canonical form (1.9.0 and 1.9 are one version), so `versions` lists can be matched
    by string; unparsable versions stay as written."""
    found = _CANONICAL.get(text)
    if found is None:
        found = str(canonicalize_version(text))
        if len(_CANONICAL) < 1_000_000:
            _CANONICAL[text] = found
    return found


def _strings(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: expected a list")
    return [str(v) for v in value]


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordError(f"{field}: expected a mapping, got {type(value).__name__}")
    return value


def _severity(value: object, field: str) -> list[list[str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{field}: expected a list")
    items = [_mapping(item, f"{field}[{i}]") for i, item in enumerate(value)]
    return [[str(m.get("type", "")), str(m.get("score", ""))] for m in items]


def _ranges(affected: Mapping[str, Any], field: str) -> list[list[list[str]]]:
    found: list[list[list[str]]] = []
    ranges = affected.get("ranges") or []
    if not isinstance(ranges, list):
        raise RecordError(f"{field}.ranges: expected a list")
    for i, item in enumerate(ranges):
        rng = _mapping(item, f"{field}.ranges[{i}]")
        if rng.get("type") != "ECOSYSTEM":
            continue  # GIT and SEMVER ranges do not speak PEP 440
        events = rng.get("events")
        if not isinstance(events, list) or not events:
            raise RecordError(f"{field}.ranges[{i}].events: expected a non-empty list")
        pairs = []
        for j, event in enumerate(events):
            ev = _mapping(event, f"{field}.ranges[{i}].events[{j}]")
            kind = next((k for k in ev if k in _EVENT_ORDER), None)
            if kind is None:
                raise RecordError(f"{field}.ranges[{i}].events[{j}]: unknown event {dict(ev)}")
            pairs.append([kind, str(ev[kind])])
        found.append(pairs)
    return found


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
            normalize(str(package["name"])), {**common, "versions": [], "ranges": []}
        )
        entry["versions"] += map(canonical_version, _strings(aff.get("versions"), field))
        entry["ranges"] += _ranges(aff, field)
        if not common["severity"]:
            entry["severity"] = _severity(aff.get("severity"), f"{field}.severity")
    yield from merged.items()


def _summary(data: Mapping[str, Any]) -> str:
    """`summary`, else the first line of `details`, kept short: it is a table cell and a title."""
    text = str(data.get("summary") or data.get("details") or "").strip().split("\n")[0]
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _db_severity(value: object) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("severity"), str):
        return str(value["severity"])
    return None


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_range(events: list[list[str]], version: Version) -> bool:
    """OSV's algorithm: walk the events in version order; introduced opens, fixed and
    last_affected close (limit only bounds, which the walk already does)."""
    keyed = []
    for kind, text in events:
        at = _FIRST if kind == "introduced" and text == "0" else _version(text)
        if at is None:
            continue  # an unparsable bound cannot be compared; the versions list still counts
        keyed.append((at, _EVENT_ORDER[kind], kind))
    affected = False
    for at, _, kind in sorted(keyed):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def affects(entry: Entry, version: Version) -> bool:
    if canonicalize_version(version) in entry["versions"]:
        return True
    return any(_in_range(events, version) for events in entry["ranges"])


def fix_versions(entry: Entry) -> tuple[str, ...]:
    fixed = {text for events in entry["ranges"] for kind, text in events if kind == "fixed"}
    return tuple(sorted(fixed, key=lambda t: (_version(t) or Version("0"), t)))


def advisory(entry: Entry) -> Advisory:
    return Advisory(
        id=entry["id"],
        aliases=tuple(entry["aliases"]),
        summary=entry["summary"],
        published=parse_time(entry["published"]),
        modified=parse_time(entry["modified"]),
        severity=tuple(SeverityVector(kind, vector) for kind, vector in entry["severity"]),
        database_severity=entry["db_severity"],
        fix_versions=fix_versions(entry),
    )


_ID_RANK = {"PYSEC": 0, "GHSA": 1, "CVE": 2}


def _rank(ident: str) -> tuple[int, str]:
    return (_ID_RANK.get(ident.split("-", 1)[0], 3), ident)


def merge_aliases(found: list[Advisory]) -> list[Advisory]:
    """One advisory per vulnerability: records for the same package that share an id or alias
    (a PYSEC and a GHSA record of one CVE) become one, with the earliest `published` (PYSEC
    records can be created years after the disclosure)."""
    groups: list[list[Advisory]] = []
    for adv in sorted(found, key=lambda a: _rank(a.id)):
        names = {adv.id, *adv.aliases}
        home = next((g for g in groups if names & {n for a in g for n in (a.id, *a.aliases)}), None)
        if home is None:
            groups.append([adv])
        else:
            home.append(adv)
    return [_merge(g) for g in groups]


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
    )
