"""`attest vsa` and `attest log anchor` as library functions: build the statement from the
gate's own output (verify/formats/vsa.py, verify/log_anchor.py), sign it in one session (one
certificate for all), and write each bundle atomically, only once everything is signed."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from attest.output import write_atomic
from attest.provenance.stage import Signing
from attest.sbom.interface import read_text
from verify import decision_log, log_anchor
from verify.digests import ArtifactError, sha256_file
from verify.errors import InputError, PolicyRefusal, UsageError
from verify.formats.bundles import attestation_path
from verify.formats.statement import Statement
from verify.formats.vsa import NotADecision, claimed_files, summaries


def _statements(decision: Path, verifier_id: str, missing_ok: bool) -> list[Statement]:
    """The VSA statements of the decision file, signed as of now, once the files it vouches
    for hash to what it says (re-hashed here: a hand-edited digest would vouch for another
    file); with `missing_ok` a file that is not here is taken on the decision's word."""
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        run = json.loads(read_text(decision))
        found = summaries(run, verifier_id, now)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(decision, "not JSON: not a decision of `attest verify --json`") from e
    except NotADecision as e:
        raise InputError(decision, str(e)) from e
    if not found:
        raise InputError(
            decision, "no allowed artifact: a denied artifact never gets a VSA, so none was made"
        )
    for what, path, sha in claimed_files(run):
        _same_file(decision, what, Path(path), sha, missing_ok)
    return found


def _same_file(decision: Path, what: str, path: Path, sha: str, missing_ok: bool) -> None:
    if not os.path.lexists(path):
        if missing_ok:
            return
        raise InputError(
            decision,
            f"{what} it judged, {path}, is not here: a VSA vouches for the files this command "
            "re-hashes; run it where `attest verify` ran, or sign on the decision's word alone "
            "with --allow-missing-files",
        )
    try:
        held = sha256_file(path)
    except ArtifactError as e:
        raise InputError(decision, f"{what} it judged cannot be re-hashed: {e}") from e
    if held != sha:
        raise InputError(
            decision,
            f"{what} {path} has sha256 {held}, the decision says {sha}: the file changed since "
            "it was judged, or the decision was edited; nothing was signed",
        )


def _target(directory: Path, name: str) -> Path:
    """`<artifact>.vsa.sigstore.json` in `directory`: the artifact's name from the decision is
    input, so one that is not a plain file name is refused, never followed."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise UsageError(f"the decision names an artifact {name!r} that is not a file name")
    return attestation_path(directory, name, "vsa")


def vsa(
    decision: Path, signing: Signing, verifier_id: str | None, missing_ok: bool = False
) -> list[Path]:
    """A signed VSA for every allowed artifact of the decision (`--bundle-dir`, else beside
    the decision file); `verifier_id`: the VSA's verifier.id, else the signer's identity."""
    directory = signing.directory(decision)
    _statements(decision, verifier_id or "-", missing_ok)  # refused before anyone signs
    session = signing.session()
    found = _statements(decision, verifier_id or session.identity, missing_ok)
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
