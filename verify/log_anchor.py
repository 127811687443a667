"""Anchors of the decision log beyond its host: an anchor is an in-toto statement, signed
keylessly and recorded in the transparency log (`attest log anchor`), saying that the log's
first `records` records chain to `head`. Its bundle is kept beside the log, as
`<log>.anchors/<records>.sigstore.json`.

`check` (`attest verify-log --anchored`, offline) verifies every anchor bundle against the
trust root and a signer the user names, then the log against every anchor: the log must be
intact and its record `records` must hash to `head`. Cutting the log below an anchor,
rewriting a record before one, or an anchor that does not verify (forged, another signer,
another root, a count that is not its name) is a refusal naming it; no anchor at all is a
refusal too (an empty set never allows)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from verify import bundle_form, decision_log
from verify.errors import PolicyRefusal, UsageError, without_input
from verify.evidence import MAX_BUNDLE, timed_verifier
from verify.files import read_limited
from verify.formats.predicates import LOG_HEAD_V1, InvalidAttestation
from verify.formats.statement import PAYLOAD_TYPE, Statement, Subject
from verify.identity import IdentityPolicy
from verify.policy import Extensions, IdentityRule
from verify.sigstore_adapter import TimedVerifier
from verify.text import excerpt
from verify.trust import load_trust

_NAME = re.compile(r"([1-9][0-9]{0,17})\.sigstore\.json")


def directory(log: Path) -> Path:
    return log.with_name(log.name + ".anchors")


def bundle_path(log: Path, records: int) -> Path:
    return directory(log) / f"{records}.sigstore.json"


def statement(log: Path, records: int, head: str) -> Statement:
    """The anchor's statement: the log by name, its head as the subject's sha256."""
    return Statement((Subject(log.name, head),), LOG_HEAD_V1, {"records": records, "head": head})


@dataclasses.dataclass(frozen=True)
class Anchor:
    records: int
    head: str
    path: Path


def _anchor(path: Path, records: int, verifier: TimedVerifier, who: IdentityPolicy) -> Anchor:
    """The anchor in `path` once its bundle verifies as `who`; PolicyRefusal saying why not."""
    try:
        bundle = bundle_form.parse(read_limited(path, MAX_BUNDLE, "an anchor bundle"))
        payload_type, payload = verifier.verify_dsse(bundle, who)
    except OSError as e:
        raise PolicyRefusal(f"{path.name}: cannot read it: {e.strerror or e}") from e
    except Exception as e:  # sigstore's refusals, the identity's, a malformed bundle
        raise PolicyRefusal(f"{path.name}: does not verify: {without_input(e, 300)}") from e
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
    return Anchor(records, head, path)


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
    problems: list[str]  # every anchor that does not verify or that the log no longer holds


def check(log: Path, identity: str, issuer: str, trusted_root: Path | None) -> Checked:
    """The log's report and its anchors, each verified against the root as `identity` from
    `issuer` (exact), and what the log no longer holds; PolicyRefusal when it has none."""
    trust = load_trust("production", trusted_root)
    verifier = timed_verifier(trust.root)
    who = IdentityPolicy([IdentityRule(issuer, identity, None, Extensions(), identity)])
    anchors, why = [], []
    for path, records in _bundles(log):
        try:
            anchors.append(_anchor(path, records, verifier, who))
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
    return Checked(report, anchors, why)
