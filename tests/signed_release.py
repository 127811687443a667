"""Support for the gate tests (no tests here): a signed release made with the real stages
against the local instance: the artifacts' signatures (`attest sign`), SLSA provenance from a simulated GitHub Actions run
(`attest provenance`), and SBOM, SLO status and build-link statements signed the same way
(their content built here, so that each test controls what the gate will judge)."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from sigstore.dsse import Statement as DsseStatement

from attest.instance import oidc
from attest.output import write_atomic
from attest.provenance import stage as provenance_stage
from attest.sign import stage as sign_stage
from attest.sign.session import SigningSession, start
from tests.conftest import LocalInstance
from verify.formats.predicates import KINDS

REPOSITORY = "acme/web"
REF = "refs/tags/v1.4.0"
WORKFLOW = f"https://github.com/{REPOSITORY}/.github/workflows/release.yml@{REF}"
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": REPOSITORY,
    "GITHUB_REPOSITORY_ID": "123456",
    "GITHUB_REPOSITORY_OWNER_ID": "7890",
    "GITHUB_REF": REF,
    "GITHUB_SHA": "c27d339ee6075c1f744c5d4b200f7901aad2c369",
    "GITHUB_WORKFLOW_REF": f"{REPOSITORY}/.github/workflows/release.yml@{REF}",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "1536140711",
    "GITHUB_RUN_ATTEMPT": "2",
    "RUNNER_ENVIRONMENT": "github-hosted",
}
WHEEL = "acme_web-1.4.0-py3-none-any.whl"
SDIST = "acme_web-1.4.0.tar.gz"
DAY = datetime.timedelta(days=1)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def github_token(local: LocalInstance, repository: str = REPOSITORY, **kwargs: Any) -> str:
    claims = oidc.github_claims(repository, **{"ref": REF, **kwargs})
    state = local.state
    return oidc.mint(state.keys["issuer"], state.issuer_url, claims.pop("sub"), claims)


def session(local: LocalInstance, token: str) -> SigningSession:
    return start(local.trust_config, None, token)


def sign_files(local: LocalInstance, token: str, *files: Path) -> None:
    sign_stage.sign(
        sign_stage.SignRequest(tuple(files), trust_config=local.trust_config, identity_token=token)
    )


def write_statement(
    signer: SigningSession,
    path: Path,
    subjects: list[Path],
    predicate_type: str,
    predicate: dict[str, Any],
) -> Path:
    """Sign a statement as given (unknown predicate types too: the gate must refuse them)."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": p.name, "digest": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()}}
            for p in subjects
        ],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    write_atomic(path, signer.sign_statement(payload, path.name).to_json().encode())
    return path


def sign_payload(signer: SigningSession, path: Path, payload: bytes) -> Path:
    """Sign `payload` as an in-toto statement AS IS, past sigstore's own reading of it (which
    refuses a 5,000-digit number): a hostile signer's tools need not read it at all."""
    statement = DsseStatement.__new__(DsseStatement)
    statement._contents = payload
    write_atomic(path, signer.signer.sign_dsse(statement).to_json().encode())
    return path


def finding(
    vuln_id: str, severity: str, published: datetime.datetime, waiver: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "package": "requests",
        "version": "2.31.0",
        "id": vuln_id,
        "aliases": [],
        "severity": severity,
        "countsAs": severity,
        "clockStart": stamp(published),
        "published": stamp(published),
        "fixVersions": ["2.32.0"],
        "due": None,
        "status": "waived" if waiver else "ok",
        "waiver": waiver,
    }


def slo_predicate(scanned: datetime.datetime, findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "scanner": {"name": "attest", "version": "0.1.0", "source": "offline"},
        "scannedAt": stamp(scanned),
        "policy": {
            "windows": {"critical": 7, "high": 30, "medium": 90, "low": 180},
            "unknown_severity": "high",
            "clock": "published",
            "due_soon": 7,
            "no_fix_pauses_clock": False,
        },
        "policySha256": "0" * 64,
        "database": None,
        "findings": findings,
    }


SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "components": [
        {"name": "requests", "version": "2.31.0", "licenses": [{"license": {"id": "Apache-2.0"}}]},
        {"name": "Left_Pad", "version": "1.0", "licenses": [{"expression": "MIT OR GPL-3.0-only"}]},
    ],
}


@dataclasses.dataclass(frozen=True)
class Release:
    """A directory holding a signed release: the artifacts and every bundle beside them."""

    dist: Path
    # The judging instant the tests count from: at or after every signature of the release
    # (so all of it exists for the gate), and seconds at most after the dates in its content.
    now: datetime.datetime

    @property
    def wheel(self) -> Path:
        return self.dist / WHEEL

    @property
    def sdist(self) -> Path:
        return self.dist / SDIST

    def copy(self, target: Path) -> Release:
        shutil.copytree(self.dist, target)
        return Release(target, self.now)


def make_release(local: LocalInstance, dist: Path) -> Release:
    dist.mkdir(parents=True)
    wheel, sdist = dist / WHEEL, dist / SDIST
    wheel.write_bytes(b"the wheel\n")
    sdist.write_bytes(b"the sdist\n")
    token = github_token(local)
    dated = utc_now()  # what the content says: the provenance, the scan and its findings
    sign_files(local, token, wheel, sdist)
    provenance_stage.provenance(
        (wheel, sdist),
        provenance_stage.Signing(trust_config=local.trust_config, identity_token=token),
        environ=GITHUB_ENV,
        command=["attest", "provenance"],
        now=dated,
    )
    signer = session(local, token)
    both = [wheel, sdist]
    write_statement(signer, dist / "acme_web-1.4.0.sbom.sigstore.json", both, KINDS["sbom"], SBOM)
    findings = [
        finding("PYSEC-1", "high", dated - 20 * DAY),  # due in 10 days
        finding(
            "PYSEC-2",
            "critical",
            dated - 30 * DAY,  # overdue, but waived for 5 more days
            {
                "id": "PYSEC-2",
                "reason": "not reachable",
                "expires": (dated + 5 * DAY).date().isoformat(),
            },
        ),
    ]
    write_statement(
        signer, dist / "acme_web-1.4.0.slo.sigstore.json", both, KINDS["slo"],
        slo_predicate(dated - DAY, findings),
    )  # fmt: skip
    link = {"name": "build", "command": ["python", "-m", "build"], "materials": []}
    write_statement(signer, dist / "build.build.sigstore.json", both, KINDS["build"], link)
    # Taken after the last signature: the log dates an entry to its whole second on this clock,
    # so none is later. `dated` is before signing: a signature that ran into the next
    # second (a loaded machine) was "signed after the judging instant".
    return Release(dist, utc_now())


def identity_rule(local: LocalInstance, **extra: Any) -> dict[str, Any]:
    return {
        "issuer": local.issuer,
        "github": {
            "repository": REPOSITORY,
            "workflow": ".github/workflows/release.yml",
            "ref_pattern": r"refs/tags/v[0-9.]+",
        },
        "extensions": {
            "source_repository": f"https://github.com/{REPOSITORY}",
            "runner_environment": ["github-hosted"],
            "trigger": ["push", "release"],
        },
        **extra,
    }


def strict_policy(local: LocalInstance) -> dict[str, Any]:
    """Everything required, against the local instance's root (named explicitly)."""
    return {
        "version": 1,
        "trust": {"trusted_root": str(local.trusted_root), "allow_development_root": True},
        "identities": [identity_rule(local)],
        "require": {
            "signature": True,
            "provenance": {
                "builder_id_pattern": rf"https://github\.com/{REPOSITORY}/\.github/workflows/.+",
                "source_repository": f"https://github.com/{REPOSITORY}",
                "ref_pattern": r"refs/tags/v[0-9.]+",
                "build_type": "https://actions.github.io/buildtypes/workflow/v1",
            },
            "sbom": {"denied_packages": ["evil-pkg"], "denied_licenses": ["AGPL-3.0-only"]},
            "vulnerabilities": {"slo": True, "max_scan_age": "7d"},
            "build_link": {"step": "build"},
            "max_attestation_age": "30d",
        },
    }


def write_policy(path: Path, policy: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path
