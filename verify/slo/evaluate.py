"""SLO evaluation: a pure function of (findings, policy, now), so the scan and the deploy gate
reach the same verdict from the same inputs."""

from __future__ import annotations

import dataclasses
import datetime
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from verify.slo.policy import Level, Policy, SloPolicyError, Waiver
from verify.text import excerpt

Status = Literal["ok", "due-soon", "overdue", "waived", "no-fix"]
STATUSES: tuple[Status, ...] = ("overdue", "due-soon", "no-fix", "waived", "ok")
_DAY = datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class SloFinding:
    """What the SLO rules need to know about one finding (the gate reads it from the scan)."""

    package: str  # PEP 503 normalized
    version: str
    id: str
    aliases: tuple[str, ...]
    severity: Level | Literal["unknown"]
    published: datetime.datetime | None
    first_seen: datetime.datetime | None
    fix_versions: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SloResult:
    finding: SloFinding
    status: Status
    counts_as: Level  # the severity the window was chosen by (unknown mapped by the policy)
    clock_start: datetime.datetime
    due: datetime.datetime | None  # None: clock paused (no fix, when the policy says so)
    days_left: int | None  # whole days until due, negative when overdue
    waiver: Waiver | None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    results: tuple[SloResult, ...]
    expired_waivers: tuple[Waiver, ...]  # past their expiry: reported, never applied
    unused_waivers: tuple[Waiver, ...]  # valid, but matched nothing

    @property
    def passed(self) -> bool:
        return not any(r.status == "overdue" for r in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: SLO times must be timezone-aware")
    return moment.astimezone(datetime.timezone.utc)


def waiver_matches(waiver: Waiver, finding: SloFinding) -> bool:
    if waiver.package is not None and _normal(waiver.package) != finding.package:
        return False
    wanted = waiver.id.upper()
    return any(wanted == i.upper() for i in (finding.id, *finding.aliases))


class WaiverIndex:
    """Waivers by what they match (id, package), so each finding looks up its own instead of
    trying every waiver: the gate judges the findings of many scans with the waivers of all of
    them, and every finding against every waiver grew with the square of the scans. `loose`
    also files each waiver under its id and package without white space, controls and
    invisible characters (NFKC): to name a malformed waiver on the finding it was meant for,
    never to apply one."""

    def __init__(self, waivers: Iterable[Waiver], loose: bool = False) -> None:
        self._forms = (_exact, _visible) if loose else (_exact,)
        self._by_key: dict[tuple[str, str | None], list[tuple[int, Waiver]]] = {}
        for position, waiver in enumerate(waivers):
            for form in self._forms:
                package = None if waiver.package is None else _normal(form(waiver.package))
                key = (form(waiver.id).upper(), package)
                self._by_key.setdefault(key, []).append((position, waiver))

    def _keys(self, finding: SloFinding) -> set[tuple[str, str | None]]:
        """Where the waivers of `finding` are filed: its package is PEP 503 already (taken as
        it is, as `waiver_matches` does), or none named."""
        return {
            (form(name).upper(), package)
            for form in self._forms
            for name in (finding.id, *finding.aliases)
            for package in (
                None,
                finding.package if form is _exact else _normal(form(finding.package)),
            )
        }

    def matching(self, finding: SloFinding) -> list[Waiver]:
        """The waivers that match `finding` (`loose`: or would, but for characters that do not
        show), in the order given, each once."""
        found: dict[int, Waiver] = {}
        for key in self._keys(finding):
            found.update(self._by_key.get(key, ()))
        loose = len(self._forms) > 1
        return [w for _, w in sorted(found.items()) if loose or waiver_matches(w, finding)]

    def first(self, finding: SloFinding) -> Waiver | None:
        """The first waiver (in the order given) that matches `finding`."""
        firsts = [entries[0] for key in self._keys(finding) if (entries := self._by_key.get(key))]
        firsts.sort(key=lambda entry: entry[0])
        return next((w for _, w in firsts if waiver_matches(w, finding)), None)


def _exact(text: str) -> str:
    return text


def _visible(text: str) -> str:
    """`text` in NFKC with only its printable ASCII left: what a person reading it would take
    it to say, without white space, controls, invisible, combining or filler characters."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if "!" <= c <= "~")


_SHOWN = 32  # characters of a malformed waiver's field
_NAMES = {"id": "advisory id", "package": "package name (PEP 508)"}


def malformed(waiver: Waiver) -> str | None:
    """Why the waiver's id or package is not a name (None: both are). White space, a control,
    bidi or other invisible character, or text not in NFC, makes a waiver that looks like the
    finding's and silently matches nothing: it is refused and named, never cleaned up (what
    was signed is what counts)."""
    for field, text in (("id", waiver.id), ("package", waiver.package)):
        if text is None:
            continue
        bad = next((c for c in text if unicodedata.category(c)[0] in "CZ"), None)
        what = f"U+{ord(bad):04X}, a white-space, control or invisible character" if bad else None
        if what is None and not unicodedata.is_normalized("NFC", text):
            what = "text not in Unicode NFC form"
        odd = next((c for c in text if not ("!" <= c <= "~")), None)
        if what is None and odd is not None:  # combining marks, fillers, look-alike letters
            what = f"U+{ord(odd):04X}, which no {_NAMES[field]} holds (printable ASCII only)"
        if what is not None:
            cut = excerpt(text, _SHOWN)
            return f"is malformed: its {field} '{cut}' holds {what} (refused, not cleaned up)"
    return None


def _normal(name: str) -> str:
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def _expired(waiver: Waiver, now: datetime.datetime) -> bool:
    return now.date() > waiver.expires


WaiverKey = tuple[str, str | None]


def waiver_key(waiver: Waiver) -> WaiverKey:
    """What makes two scans' waivers the same waiver: its id and package. Not its expiry: a
    waiver pushed back scan after scan is still the one first recorded."""
    return waiver.id.upper(), (_normal(waiver.package) if waiver.package else None)


def waiver_refusal(
    waiver: Waiver, policy: Policy, now: datetime.datetime, recorded: datetime.date | None = None
) -> str | None:
    """Why `waiver` may not apply under `policy` at `now` (None: it may). Its span runs from
    `granted`, else from `recorded` (the first scan that carried it), else from today."""
    today = _utc(now).date()
    broken = malformed(waiver)
    if broken is not None:
        return broken
    if waiver.granted is not None and waiver.granted > today:
        return (
            f"was granted {waiver.granted.isoformat()}, after the judging instant "
            f"{today.isoformat()}: it does not exist yet"
        )
    approvers = policy.waiver_approvers
    if approvers is not None and waiver.approver not in approvers:
        who = f"is approved by {waiver.approver!r}" if waiver.approver else "names no approver"
        return f"{who}; the policy's waiver_approvers are {', '.join(approvers) or 'none'}"
    start, since = today, "today"
    if waiver.granted is not None:
        start, since = waiver.granted, "it was granted"
    elif recorded is not None:
        start, since = recorded, f"the first scan that recorded it ({recorded.isoformat()})"
    span = (waiver.expires - start).days
    if span > policy.max_waiver_span:
        return (
            f"expires {waiver.expires.isoformat()}, {span} days after {since}; the policy "
            f"allows at most {policy.max_waiver_span} days (max_waiver_span)"
        )
    return None


def check_waiver_spans(
    policy: Policy,
    now: datetime.datetime,
    recorded: Mapping[WaiverKey, datetime.date] | None = None,
) -> None:
    """Every waiver must be allowed by the policy: granted by now, by a listed approver, and
    reaching no further than `max_waiver_span` days (long waivers are how risks become
    permanent). `recorded`: when each waiver without `granted` was first recorded."""
    for waiver in policy.waivers:
        why = waiver_refusal(waiver, policy, now, (recorded or {}).get(waiver_key(waiver)))
        if why is not None:
            raise SloPolicyError(f"{waiver.origin}: waiver for {waiver.id} {why}")


def _clock_start(finding: SloFinding, policy: Policy, now: datetime.datetime) -> datetime.datetime:
    if policy.clock == "published" and finding.published is not None:
        return _utc(finding.published)
    return _utc(finding.first_seen) if finding.first_seen is not None else now


def _judge(finding: SloFinding, policy: Policy, now: datetime.datetime) -> SloResult:
    counts_as: Level = (
        policy.unknown_severity if finding.severity == "unknown" else finding.severity
    )
    start = _clock_start(finding, policy, now)
    if policy.no_fix_pauses_clock and not finding.fix_versions:
        return SloResult(finding, "no-fix", counts_as, start, None, None, None)
    due = start + policy.windows[counts_as] * _DAY
    days_left = math.floor((due - now) / _DAY)
    status: Status = "ok"
    if now > due:
        status = "overdue"
    elif due - now <= policy.due_soon * _DAY:
        status = "due-soon"
    return SloResult(finding, status, counts_as, start, due, days_left, None)


def evaluate(
    findings: Sequence[SloFinding],
    policy: Policy,
    now: datetime.datetime,
    recorded: Mapping[WaiverKey, datetime.date] | None = None,
) -> Evaluation:
    """Judge every finding against the policy at `now` (timezone-aware). Waivers apply through
    their expiry day; expired ones that would have matched are reported, not applied; one the
    policy does not allow (`check_waiver_spans`) is an error."""
    now = _utc(now)
    check_waiver_spans(policy, now, recorded)
    live = [w for w in policy.waivers if not _expired(w, now)]
    dead = [w for w in policy.waivers if _expired(w, now)]
    results: list[SloResult] = []
    used: set[int] = set()
    index = WaiverIndex(live)
    for finding in findings:
        result = _judge(finding, policy, now)
        waiver = index.first(finding)
        if waiver is not None:
            used.add(id(waiver))
            result = dataclasses.replace(result, status="waived", waiver=waiver)
        results.append(result)
    return Evaluation(
        results=tuple(results),
        expired_waivers=tuple(dead),
        unused_waivers=tuple(w for w in live if id(w) not in used),
    )
