"""`attest vsa` and `attest log anchor` as library functions: build the statement from the
gate's own output (verify/formats/vsa.py, verify/log_anchor.py), sign it in one session (one
certificate for all), and write each bundle atomically, only once everything is signed."""

from __future__ import annotations

import json
from pathlib import Path

from attest.output import write_atomic
from attest.provenance.stage import Signing
from attest.sbom.interface import read_text
from verify import decision_log, log_anchor
from verify.errors import InputError, PolicyRefusal, UsageError
from verify.formats.bundles import attestation_path
from verify.formats.statement import Statement
from verify.formats.vsa import NotADecision, summaries


def _statements(decision: Path, verifier_id: str) -> list[Statement]:
    try:
        found = summaries(json.loads(read_text(decision)), verifier_id)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(decision, "not JSON: not a decision of `attest verify --json`") from e
    except NotADecision as e:
        raise InputError(decision, str(e)) from e
    if not found:
        raise InputError(
            decision, "no allowed artifact: a denied artifact never gets a VSA, so none was made"
        )
    return found


def _target(directory: Path, name: str) -> Path:
    """`<artifact>.vsa.sigstore.json` in `directory`: the artifact's name from the decision is
    input, so one that is not a plain file name is refused, never followed."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise UsageError(f"the decision names an artifact {name!r} that is not a file name")
    return attestation_path(directory, name, "vsa")


def vsa(decision: Path, signing: Signing, verifier_id: str | None) -> list[Path]:
    """A signed VSA for every allowed artifact of the decision (`--bundle-dir`, else beside
    the decision file); `verifier_id`: the VSA's verifier.id, else the signer's identity."""
    directory = signing.directory(decision)
    _statements(decision, verifier_id or "-")  # refused before anyone signs
    session = signing.session()
    found = _statements(decision, verifier_id or session.identity)
    signed = []
    for statement in found:
        target = _target(directory, statement.subjects[0].name)
        payload = statement.to_json()
        Statement.from_json(payload)  # read back exactly as the gate will
        signed.append((target, session.sign_statement(payload, target.name).to_json()))
    for target, bundle in signed:
        write_atomic(target, bundle.encode())
    return [target for target, _ in signed]


def anchor(log: Path, signing: Signing) -> tuple[Path, decision_log.Report]:
    """The log's head, signed and kept as `<log>.anchors/<records>.sigstore.json`: only an
    intact log with records is anchored, and an anchor is never replaced."""
    report = decision_log.check(log)
    if not report.intact:
        raise PolicyRefusal(f"{log}: the decision log is not intact (`attest verify-log {log}`)")
    if report.records == 0:
        raise UsageError(f"{log}: the decision log has no record: nothing to anchor")
    target = log_anchor.bundle_path(log, report.records)
    if target.exists():
        raise UsageError(f"{target}: the log is already anchored at {report.records} records")
    payload = log_anchor.statement(log, report.records, report.head).to_json()
    bundle = signing.session().sign_statement(payload, target.name)
    target.parent.mkdir(exist_ok=True)
    write_atomic(target, bundle.to_json().encode())
    return target, report
