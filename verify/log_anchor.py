"""Anchors of the decision log beyond its host: an anchor is an in-toto statement, signed
keylessly and recorded in the transparency log (`attest log anchor`), saying that the log's
first `records` records chain to `head`. Its bundle is kept beside the log, as
`<log>.anchors/<records>.sigstore.json`.

`check` (`attest verify-log --anchored`, offline) verifies every anchor bundle against the
trust root and a signer the user names, then the log against every anchor: the log must be
intact and its record `records` must hash to `head`. Cutting the log below an anchor,
rewriting a record before one, or an anchor that does not verify (forged, another signer,
another root, a count that is not its name, another log's name) is a refusal naming it; no
anchor at all is a refusal too (an empty set never allows).

The limit: whoever can cut the log can delete the anchors beside it, down to the last one kept,
or put another log and its anchors in its place. Only what the checker knows from elsewhere
shows that: `min_records` (how many the log held when last anchored) and `max_age` (anchoring
runs periodically, so the newest anchor is recent), or anchors kept off the host."""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path

from verify import bundle_form, decision_log
from verify.errors import PolicyRefusal, UsageError, without_input
from verify.evidence import MAX_BUNDLE
from verify.files import read_limited
from verify.formats.predicates import LOG_HEAD_V1, InvalidAttestation
from verify.formats.statement import PAYLOAD_TYPE, Statement, Subject
from verify.identity import IdentityPolicy, NotAllowed
from verify.policy import Extensions, IdentityRule, human
from verify.sigstore_adapter import TimedVerifier
from verify.text import excerpt, quoted
from verify.trust import load_trust, timed_verifier

_NAME = re.compile(r"([1-9][0-9]{0,17})\.sigstore\.json")


def directory(log: Path) -> Path:
    return log.with_name(log.name + ".anchors")


def bundle_path(log: Path, records: int) -> Path:
    return directory(log) / f"{records}.sigstore.json"


def statement(log: Path, records: int, head: str) -> Statement:
    """The anchor's statement: the log by name, its head as the subject's sha256."""
    return Statement((Subject(log.name, head),), LOG_HEAD_V1, {"records": records, "head": head})


@dataclasses.dataclass(frozen=True)
class Expected:
    """What `verify-log --anchored` holds the anchors to: the signer (exact), the root, the log
    name they must sign, and what the checker knows from elsewhere (see the module's docstring)."""

    identity: str
    issuer: str
    now: datetime.datetime
    trusted_root: Path | None = None
    log_name: str | None = None  # default: the log file's own name
    min_records: int | None = None
    max_age: datetime.timedelta | None = None


@dataclasses.dataclass(frozen=True)
class Anchor:
    records: int
    head: str
    path: Path
    time: datetime.datetime  # its earliest verified time (log or timestamp)


def _verified(path: Path, verifier: TimedVerifier, expected: Expected) -> tuple[str, bytes]:
    """The DSSE payload of the bundle in `path` once it verifies as the expected signer."""
    who = IdentityPolicy(
        [IdentityRule(expected.issuer, expected.identity, None, Extensions(), expected.identity)]
    )
    try:
        bundle = bundle_form.parse(read_limited(path, MAX_BUNDLE, "an anchor bundle"))
        return verifier.verify_dsse(bundle, who)
    except OSError as e:
        raise PolicyRefusal(f"{path.name}: cannot read it: {e.strerror or e}") from e
    except NotAllowed as e:
        raise PolicyRefusal(
            f"{path.name}: signed by {quoted(e.signer.identity, 200)} (issuer "
            f"{quoted(e.signer.issuer, 200)}), not by the signer expected: "
            f"--certificate-identity {expected.identity!r} --certificate-oidc-issuer "
            f"{expected.issuer!r}"
        ) from e
    except Exception as e:  # sigstore's refusals, a malformed bundle
        raise PolicyRefusal(f"{path.name}: does not verify: {without_input(e, 300)}") from e


def _anchor(
    path: Path, records: int, verifier: TimedVerifier, expected: Expected, name: str
) -> Anchor:
    """The anchor in `path` once its bundle verifies as expected and signs the log `name`;
    PolicyRefusal saying why not."""
    payload_type, payload = _verified(path, verifier, expected)
    when = min(verifier.last_times, default=None)
    if when is None or when > expected.now:
        said = "no verified time" if when is None else f"signed {when.isoformat()}, after --now"
        raise PolicyRefusal(f"{path.name}: {said}")
    if payload_type != PAYLOAD_TYPE:
        raise PolicyRefusal(f"{path.name}: unknown DSSE payload type {excerpt(payload_type)}")
    try:
        signed = Statement.from_json(payload)
    except InvalidAttestation as e:
        raise PolicyRefusal(f"{path.name}: {e}") from e
    if signed.predicate_type != LOG_HEAD_V1:
        raise PolicyRefusal(
            f"{path.name}: not a decision log head ({excerpt(signed.predicate_type)})"
        )
    head, count = signed.predicate["head"], signed.predicate["records"]
    if count != records or [s.sha256 for s in signed.subjects] != [head]:
        raise PolicyRefusal(
            f"{path.name}: signs {count} records (subject and head disagree, or the file was "
            "renamed): a forged anchor"
        )
    if signed.subjects[0].name != name:
        raise PolicyRefusal(
            f"{path.name}: signs the log named {quoted(signed.subjects[0].name, 100)}, not "
            f"{name!r}: another log's anchor (state the name signed with --log-name)"
        )
    return Anchor(records, head, path, when)


def _bundles(log: Path) -> list[tuple[Path, int]]:
    where = directory(log)
    try:
        names = sorted(entry.name for entry in where.iterdir())
    except FileNotFoundError:
        names = []
    except OSError as e:
        raise UsageError(f"{where}: cannot list the anchors: {e.strerror}") from e
    found = []
    for name in names:
        match = _NAME.fullmatch(name)
        if match is None:
            raise PolicyRefusal(
                f"{where}: {excerpt(name)} is not an anchor (<records>.sigstore.json)"
            )
        found.append((where / name, int(match[1])))
    if not found:
        raise PolicyRefusal(
            f"{log}: no anchors in {where}: --anchored needs at least one (`attest log anchor "
            f"{log}`); an empty set never allows"
        )
    return sorted(found, key=lambda item: item[1])


@dataclasses.dataclass(frozen=True)
class Checked:
    report: decision_log.Report  # the chain, checked once
    anchors: list[Anchor]  # the anchors that verified
    problems: list[str]  # every anchor that does not verify or the log no longer holds; what
    # the anchors fall short of (`Expected.min_records`, `max_age`)


def check(log: Path, expected: Expected) -> Checked:
    """The log's report and its anchors, each verified against the root as the expected signer,
    and what the log no longer holds or the checker knows it should; PolicyRefusal when it has
    no anchor."""
    verifier = timed_verifier(load_trust("production", expected.trusted_root).root)
    name = log.name if expected.log_name is None else expected.log_name
    anchors, why = [], []
    for path, records in _bundles(log):
        try:
            anchors.append(_anchor(path, records, verifier, expected, name))
        except PolicyRefusal as e:
            why.append(str(e))
    report = decision_log.check(log, at_lines=frozenset(a.records for a in anchors))
    for anchor in anchors:
        held = report.heads.get(anchor.records)
        if held is None:
            why.append(
                f"{anchor.path.name}: the log holds {report.records} records, fewer than the "
                f"{anchor.records} anchored: records were cut"
            )
        elif held != anchor.head:
            why.append(
                f"{anchor.path.name}: record {anchor.records} hashes to {held}, the anchor signed "
                f"{anchor.head}: the log was rewritten"
            )
    return Checked(report, anchors, [f"anchor {w}" for w in why] + _known(anchors, expected))


def _known(anchors: list[Anchor], expected: Expected) -> list[str]:
    """What the verified anchors fall short of, by what the checker knows from elsewhere: the
    newest anchor deleted (and the log cut back to the last one kept) shows only so."""
    if not anchors:
        return []
    most = max(a.records for a in anchors)
    latest = max(a.time for a in anchors)
    why = []
    if expected.min_records is not None and most < expected.min_records:
        why.append(
            f"the anchors sign at most {most} records, fewer than --min-records "
            f"{expected.min_records}: anchors were deleted, or the log replaced"
        )
    if expected.max_age is not None and expected.now - latest > expected.max_age:
        why.append(
            f"the newest anchor was signed {latest.isoformat()}, over {human(expected.max_age)} "
            f"before {expected.now.isoformat()} (--max-anchor-age): newer anchors were deleted, "
            "or anchoring stopped"
        )
    return why
