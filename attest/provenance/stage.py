"""The provenance stages as library functions: build the statement, validate it as the gate
would read it, sign it (DSSE, keyless), verify it, and write the bundle atomically."""

from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sigstore.models import Bundle

from attest.output import write_atomic
from attest.provenance import artifacts, predicates, running
from attest.provenance.source import GitHubRun, LocalCheckout, where_built
from attest.provenance.subjects import attestation_name, subjects
from attest.sign import images
from attest.sign.session import (
    Instance,
    SigningSession,
    Where,
    announce,
    credential,
    open_session,
    start,
    where,
)
from attest.sign.stage import require_bundle_dir
from verify import logs
from verify.errors import OperationalError, UsageError
from verify.formats.bundles import attestation_path
from verify.formats.link import Link
from verify.formats.predicates import KINDS
from verify.formats.slo_status import SloStatus
from verify.formats.statement import Statement, Subject
from verify.formats.vulns import Vulns
from verify.sigstore_adapter import log_index
from verify.text import shown

_log = logs.get(__name__)


@dataclasses.dataclass(frozen=True)
class Signing:
    """Where and as whom to sign: the same options as `attest sign`."""

    trust_config: Path | None = None
    instance: Instance | None = None
    identity_token: str | None = None
    bundle_dir: Path | None = None
    yes: bool = False  # sign against Sigstore production without asking

    def session(self, place: Where | None = None) -> SigningSession:
        """The run's session; at `place` when it was said (and confirmed) already."""
        if place is None:
            return start(self.trust_config, self.instance, self.identity_token, yes=self.yes)
        return open_session(place, credential(place, self.identity_token))

    def announced(self) -> Where:
        """Where the run will sign, said (and confirmed before production) now."""
        place = where(self.trust_config, self.instance)
        announce(place, self.yes)
        return place

    def directory(self, beside: Path) -> Path:
        return require_bundle_dir(self.bundle_dir or beside.parent)

    def place(
        self, artifacts: tuple[Path, ...], name: str | None
    ) -> tuple[tuple[Subject, ...], Callable[[str], Path], list[images.Target]]:
        """The statements' subjects, where the bundle of each kind goes, and the images to
        store it with: files (`<name>.<kind>.sigstore.json` beside them, or in --bundle-dir), or
        images (by manifest digest, named `HOST/REPO` or the layout's directory name; pushed
        as referrers, a layout's written beside it or in --bundle-dir)."""
        targets = [images.target(a) for a in images.images_among(artifacts)]
        if not targets:
            found, stem = subjects(artifacts), attestation_name(artifacts, name)
            directory = self.directory(artifacts[0])
            return found, lambda kind: attestation_path(directory, stem, kind), []
        found = tuple(Subject(t.subject, t.manifest.digest[7:]) for t in targets)
        stem = name or (targets[0].subject.rsplit("/", 1)[-1] if len(targets) == 1 else "images")
        directory = self.bundle_dir or targets[0].directory.parent
        if self.bundle_dir is not None or not targets[0].registry:
            require_bundle_dir(directory)
        return found, lambda kind: attestation_path(directory, stem, kind), targets


@dataclasses.dataclass(frozen=True)
class Written:
    kind: str
    path: Path
    statement: Statement
    log_index: int
    pushed: tuple[str, ...] = ()  # for images in a registry: `HOST/REPO@sha256:… <- referrer`
    bundle: Bundle | None = dataclasses.field(default=None, repr=False, compare=False)


def _statement(subjects_: tuple[Subject, ...], kind: str, predicate: dict[str, Any]) -> Statement:
    try:
        return Statement(subjects_, KINDS[kind], predicate)
    except Exception as e:  # the models refused what attest built: a bug, not user input
        raise OperationalError(f"attest built an invalid {kind} statement: {e}") from e


def write(
    session: SigningSession,
    statement: Statement,
    kind: str,
    path: Path,
    check: Callable[[], None] = lambda: None,
    targets: Sequence[images.Target] = (),
) -> Written:
    """`statement` signed in `session`, its bundle written at `path` if `check` (after signing)
    raises nothing; with image `targets`, stored with each (a registry's as a referrer)."""
    payload = statement.to_json()
    Statement.from_json(payload)  # read back exactly as the gate will
    bundle = session.sign_statement(payload, path.name)
    check()
    raw = bundle.to_json().encode()
    if not targets:
        write_atomic(path, raw)
    stored = [(t, t.store(raw, path.name, path.parent)) for t in targets]
    pushed = tuple(f"{t.name} <- {where}" for t, where in stored if t.registry is not None)
    return Written(kind, path, statement, log_index(bundle), pushed, bundle)


@logs.timed(_log, "provenance")
def provenance(
    artifacts: tuple[Path, ...],
    signing: Signing,
    *,
    name: str | None = None,
    sbom: Path | None = None,
    allow_dirty: bool = False,
    source_dir: Path = Path(),
    environ: Mapping[str, str],
    command: Sequence[str],
    now: datetime.datetime,
    built: GitHubRun | LocalCheckout | None = None,
    session: SigningSession | None = None,
) -> Written:
    """SLSA v1 provenance over all the artifacts, from GitHub Actions or a local checkout
    (`built`, when the caller checked it already), signed in `session` or a session of its own."""
    found, path_of, targets = signing.place(artifacts, name)
    dependencies = predicates.sbom_dependencies(sbom) if sbom else []
    built = built or where_built(environ, source_dir, allow_dirty)
    session = session or signing.session()
    statement = provenance_statement(found, built, session.identity, dependencies, command, now)
    return write(session, statement, "provenance", path_of("provenance"), targets=targets)


def provenance_statement(
    found: tuple[Subject, ...],
    built: GitHubRun | LocalCheckout,
    identity: str,
    dependencies: list[dict[str, Any]],
    command: Sequence[str],
    now: datetime.datetime,
) -> Statement:
    """The SLSA v1 provenance statement over the subjects, unsigned: `identity` is the
    signer's (a GitHub workflow's is the builder)."""
    if isinstance(built, GitHubRun):
        builder = identity if identity.startswith(f"{built.server}/") else None
        predicate = predicates.github_provenance(built, builder, dependencies)
    else:
        invocation = f"urn:uuid:{uuid.uuid4()}"
        predicate = predicates.local_provenance(built, list(command), invocation, now, dependencies)
    return _statement(found, "provenance", predicate.to_dict())


@logs.timed(_log, "attestations")
def attest(
    kinds: Sequence[str],
    artifacts: tuple[Path, ...],
    signing: Signing,
    *,
    name: str | None = None,
    sbom: Path | None = None,
    scan: Path | None = None,
    max_inline_sbom: int = predicates.MAX_INLINE_SBOM,
    session: SigningSession | None = None,
) -> list[Written]:
    """Statements over the artifacts for the SBOM, the vulnerability scan, the SLO status,
    signed in `session` or a session of its own."""
    found, path_of, targets = signing.place(artifacts, name)
    built = statements(
        kinds, artifacts, sbom=sbom, scan=scan, max_inline_sbom=max_inline_sbom, hashed=found
    )
    session = session or signing.session()
    return [write(session, s, kind, path_of(kind), targets=targets) for kind, s in built]


def statements(
    kinds: Sequence[str],
    artifacts: tuple[Path, ...],
    *,
    sbom: Path | None = None,
    scan: Path | None = None,
    max_inline_sbom: int = predicates.MAX_INLINE_SBOM,
    hashed: tuple[Subject, ...] | None = None,
) -> list[tuple[str, Statement]]:
    """The unsigned statements of each kind (sbom, vulns, slo) over the artifacts (`hashed`:
    their subjects as the caller already hashed them)."""
    if not kinds:
        raise UsageError("name at least one --predicate (sbom, vulns, slo)")
    found = hashed or subjects(artifacts)
    built: list[tuple[str, Statement]] = []
    report = None
    for kind in dict.fromkeys(kinds):
        if kind == "sbom":
            if sbom is None:
                raise UsageError("--predicate sbom needs --sbom FILE")
            predicate = predicates.sbom_predicate(sbom, max_inline_sbom)
        else:
            if scan is None:
                raise UsageError(
                    f"--predicate {kind} needs --scan FILE (attest scan --format json)"
                )
            report = report or predicates.read_scan_report(scan)
            predicate = (Vulns if kind == "vulns" else SloStatus).of(report).to_json()
        built.append((kind, _statement(found, kind, predicate)))
    return built


def _source_files(base: Path) -> list[str]:
    """The source tree: git's tracked files when `base` is a checkout, else everything."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z"], cwd=base, capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError:
        return ["."]
    if done.returncode != 0:
        return ["."]
    return [name for name in os.fsdecode(done.stdout).split("\0") if name]


@logs.timed(_log, "build")
def build(
    command: Sequence[str],
    products: tuple[Path, ...],
    signing: Signing,
    *,
    step: str = "build",
    materials: tuple[Path, ...] = (),
    base: Path = Path(),
    timeout: datetime.timedelta = running.TIMEOUT,
    log: Path | None = None,
    echo: running.Echo | None = None,
) -> Written:
    """Run the build command (its output to `echo` as it comes and to the log), record it as an
    in-toto link (materials before, products after: only files the run created or changed) and
    write the signed link statement whose subjects are the products, if none changed while it
    was signed."""
    if not command:
        raise UsageError("give the build command after --: attest build -- python -m build")
    if not products:
        raise UsageError("name the build's products with --product PATH")
    listed = [str(m) for m in materials] or [
        name for name in _source_files(base) if not artifacts.excluded(name)
    ]
    recorded = artifacts.materials(base, listed)
    place = signing.announced()  # asked before the build runs, not after it
    before = artifacts.snapshot(base, products)
    with running.log_file(log) as opened:
        if echo is not None:
            echo(f"attest: running the build; its output is saved in {shown(opened[0])}")
        returned = running.run(
            command, cwd=base, log=opened, timeout=timeout, echo=echo, prefix=f"[{shown(step)}] "
        )
    if returned != 0:
        raise OperationalError(
            f"the build command {running.ended(returned)}; no link was written; its output is in "
            f"{shown(opened[0])}"
        )
    found = artifacts.products(base, products, before, opened[0])
    predicate = Link(
        name=step,
        command=tuple(command),
        materials=recorded,
        byproducts={"return-value": returned},  # the output stays in the log: it may hold secrets
    )
    first = base / products[0]
    target = attestation_path(
        signing.directory(first / "_" if first.is_dir() else first), step, "build"
    )
    subjects_ = tuple(Subject(name, product.sha256) for name, product in found.items())
    statement = _statement(subjects_, "build", predicate.to_dict())
    return write(
        signing.session(place), statement, "build", target, lambda: artifacts.unchanged(found)
    )
