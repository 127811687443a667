"""The release pipeline as a library: checks, SBOM, scan, then one signing session for the
artifacts, provenance and attestations, then the gate's own verdict on the result. Stages run
in order; the first failure stops the rest and is reported with the stage's name and the exit
code of its error.

Nothing is signed before everything that can refuse the release without a signature has said
yes: where it signs is said first (and confirmed at a terminal before Sigstore production);
the checks read the git state, the gate's policy, its trust root and the signer the identity
token will get; then the SBOM and the scan against the SLO policy. Only then is the one
certificate requested, and every bundle of the release is signed with it.

Two clocks, each where it belongs. `now` is the scan's clock: the advisories are judged then,
and the scan and the local provenance are dated then. The gate's self-check judges at the
signing time, the latest verified time of the bundles this release just made (the log's
integrated time, or an RFC 3161 timestamp): that is when the evidence came to exist, and the
gate ignores evidence from after its judging instant. With public Sigstore that is the real
time; with `attest instance up --clock` it is the instance's shifted clock."""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle

from attest.output import write_atomic
from attest.provenance import stage as provenance_stage
from attest.provenance.predicates import sbom_dependencies
from attest.provenance.source import GitHubRun, LocalCheckout, tracked, where_built
from attest.provenance.subjects import attestation_name
from attest.release import artifacts as chosen
from attest.release import images as release_images
from attest.release.rehearse import Planned, planned, rehearse, rehearse_images
from attest.sbom.interface import SourceKind, read_text
from attest.sbom.stage import SbomRequest, generate
from attest.scan.interface import SourceOptions
from attest.scan.report import render
from attest.scan.stage import ScanRequest, check_skips, enforce_slo, load_policy
from attest.scan.stage import scan as run_scan
from attest.sign.pep740 import is_distribution
from attest.sign.session import (
    NO_PUBLISH_LOG,
    Credential,
    Instance,
    SigningSession,
    Where,
    announce,
    credential,
    open_session,
    require_publish_log,
    where,
)
from attest.sign.stage import SignRequest, sign
from verify import gate, identity, logs
from verify.checks.trust import trust_failures
from verify.errors import (
    AttestError,
    InputError,
    OperationalError,
    PolicyRefusal,
    UsageError,
    contract_of,
    without_input,
)
from verify.formats.bundles import attestation_path
from verify.formats.statement import Subject
from verify.policy import Policy
from verify.policy import load_policy as load_gate_policy
from verify.sigstore_adapter import (
    ct_log_keys,
    integrated_time,
    log_keys,
    log_keys_at,
    timestamp_chains,
)
from verify.trust import Trust

_log = logs.get(__name__)
STAGES = ("checks", "sbom", "scan", "policy", "sign", "provenance", "attestations", "gate")
_LOCKS: tuple[tuple[str, SourceKind], ...] = (
    ("uv.lock", "lock"),
    ("pylock.toml", "lock"),
    ("poetry.lock", "lock"),
    ("requirements.txt", "requirements"),
)


@dataclasses.dataclass(frozen=True)
class ReleaseRequest:
    artifacts: tuple[Path, ...]
    gate_policy: Path
    project: Path = Path()
    out: Path = Path("build/attest")
    sbom_kind: SourceKind | None = None  # None: the project's lock file, else its environment
    sbom_target: Path | None = None
    db: Path | None = None
    vuln_source: str | None = None
    cache_dir: Path | None = None
    slo_policy: Path | None = None
    waivers: tuple[Path, ...] = ()
    now: datetime.datetime = dataclasses.field(  # the scan's clock, not the gate's: see above
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
    )
    trust_config: Path | None = None
    instance: Instance | None = None
    identity_token: str | None = None
    allow_dirty: bool = False
    yes: bool = False  # sign against Sigstore production without asking
    left_out: tuple[Path, ...] = ()  # files of dist/ the default selection left out
    images: tuple[str, ...] = ()  # oci:// images instead of files (see release/images.py)
    selected: str = ""  # what it kept: `acme-web 1.4.0`


@dataclasses.dataclass
class StageResult:
    stage: str
    status: str = "pending"  # pending, ok, failed, skipped
    seconds: float = 0.0
    detail: str = ""


Progress = Callable[[StageResult], None]


def _source(request: ReleaseRequest) -> tuple[SourceKind, Path]:
    if request.sbom_kind is not None and request.sbom_target is not None:
        return request.sbom_kind, request.sbom_target
    for name, kind in _LOCKS:
        if (request.project / name).is_file():
            return kind, request.project / name
    raise UsageError(
        f"no lock or requirements file in {request.project}: name one with --lock or --requirements"
    )


def signed_at(path: Path) -> datetime.datetime:
    """The latest verified time of the bundle just made at `path` (see `bundle_time`)."""
    text = read_text(path)  # a regular file, with a size limit: it could have been replaced
    try:
        bundle = Bundle.from_json(text)
    except (ValueError, SigstoreError) as e:  # never quoting the file
        raise InputError(path, f"not a Sigstore bundle: {without_input(e)}") from e
    return bundle_time(bundle, path)


def bundle_time(bundle: Bundle, path: Path | str) -> datetime.datetime:
    """The latest verified time a bundle just made carries: its log entry's integrated time
    and its RFC 3161 timestamps (Rekor v2 bundles have only the latter). The sign and
    provenance stages verified each bundle, and so these times, before storing it."""
    data = bundle.verification_material.timestamp_verification_data
    times = [t.tst_info.gen_time for t in data.rfc3161_timestamps] if data else []
    if integrated := integrated_time(bundle):
        times.append(datetime.datetime.fromtimestamp(integrated, datetime.timezone.utc))
    if not times:
        raise OperationalError(f"{path} carries no verified time: the gate could not date it")
    return max(t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc) for t in times)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Pipeline:
    """Runs the stages in order, recording each one's result for the final table."""

    def __init__(
        self, request: ReleaseRequest, progress: Progress, place: Where | None = None
    ) -> None:  # place: from destination(), else found when the run starts
        self.request = request
        self.results = [StageResult(stage) for stage in STAGES]
        self._progress = progress
        self._place = place
        self._session: SigningSession | None = None  # once the certificate is there
        self._made: list[Bundle] = []  # an image release's bundles, pushed (no file to read)

    @contextmanager
    def _stage(self, name: str) -> Iterator[StageResult]:
        result = next(r for r in self.results if r.stage == name)
        result.status = "running"
        self._progress(result)
        started = time.perf_counter()
        try:
            with logs.timed(_log, f"release {name}"), self._interrupts():
                yield result
        except AttestError as e:
            result.status, result.detail = "failed", str(e)
            result.seconds = time.perf_counter() - started
            self._progress(result)
            for later in self.results[self.results.index(result) + 1 :]:
                later.status = "skipped"
            # the release stops here and ends as the stage's error would have (its contract)
            raise contract_of(e)(f"release stopped at {name}: {e}") from e
        result.status = "ok"
        result.seconds = time.perf_counter() - started
        self._progress(result)

    @contextmanager
    def _interrupts(self) -> Iterator[None]:
        """^C once entries are in the log: the error says how many (no upload starts after
        it, and those in flight have ended: see verify/forked.py)."""
        try:
            yield
        except KeyboardInterrupt as e:
            count = self._session.logged.value if self._session else 0
            if not count:
                raise
            entries = "1 entry was" if count == 1 else f"{count} entries were"
            kept = "the referrers pushed" if self.request.images else "the bundles written"
            raise OperationalError(
                f"interrupted: {entries} logged for artifacts whose release is not finished; "
                f"the log keeps them, {kept} are kept, and no other upload started: "
                "run the release again to finish it"
            ) from e

    def run(self) -> None:
        """The stages in order, each a named step; the first failure stops the rest. Nothing
        is signed before the checks, the SBOM and the scan have passed."""
        request = self.request
        place = self._place or destination(request)
        sbom_path, report_path = request.out / "sbom.cdx.json", request.out / "scan.json"
        with self._stage("checks") as result:
            checked = preflight(request, place)
            result.detail = checked.detail
        request.out.mkdir(parents=True, exist_ok=True)
        with self._stage("sbom") as result:
            result.detail = write_sbom(request, checked.sbom_input, sbom_path)
        with self._stage("scan") as result:
            result.detail = scan_sbom(request, sbom_path, report_path)
        with self._stage("policy") as result:  # the gate on what is about to be signed
            _unchanged(checked)
            plan = planned_bundles(request, checked, sbom_path, report_path)
            result.detail = _rehearsal(request, checked, plan)
        with self._stage("sign") as result:
            session = self._session = open_session(place, checked.who)  # the one certificate
            _unchanged(checked)  # while it was requested: before any log entry
            result.detail = self._sign(session, checked)
        with self._stage("provenance") as result:
            result.detail = self._write(session, plan, ("provenance",), checked)
        with self._stage("attestations") as result:
            result.detail = self._write(session, plan, ("sbom", "vulns", "slo"), checked)
        with self._stage("gate") as result:
            _unchanged(checked)  # the gate judges the files (the images' tags) as they are now
            result.detail = self_check(request, checked, plan, self._made)

    def _sign(self, session: SigningSession, checked: Checked) -> str:
        """The artifacts' signatures; says how many and as whom."""
        if checked.images:
            signed_images = release_images.sign(session, checked.images)
            self._made += [s.bundle for s in signed_images]
            return f"{len(signed_images)} image(s) as {session.identity}"
        request = self.request
        # PEP 740 for every wheel and sdist, ready for `twine upload --attestations`; for
        # every artifact when the policy requires a publish attestation; none without a
        # Rekor v1 log (the checks refused that when the policy requires them)
        pep740: bool | Literal["dists"] = checked.policy.require.publish is not None or "dists"
        if session.publisher is None:
            pep740 = False
        digests = tuple(checked.digests[a] for a in request.artifacts)
        signing = SignRequest(artifacts=request.artifacts, pep740=pep740, checked=digests)
        signed = sign(signing, session)
        detail = f"{len(signed.signed)} bundles as {signed.identity}"
        if session.publisher is None:
            detail += f"; no PEP 740 attestations: {NO_PUBLISH_LOG}"
        return detail

    def _write(
        self, session: SigningSession, plan: list[Planned], kinds: tuple[str, ...], checked: Checked
    ) -> str:
        """The planned statements of these kinds, signed in the session and written (an image
        release's: pushed as referrers of each image); says where."""
        targets = list(checked.images.values())
        written = [
            provenance_stage.write(session, p.statement, p.kind, p.path, targets=targets)
            for p in plan
            if p.kind in kinds and p.statement is not None
        ]
        if not targets:
            return ", ".join(w.path.name for w in written)
        self._made += [w.bundle for w in written if w.bundle is not None]
        kinds_pushed = ", ".join(w.kind for w in written)
        return f"{kinds_pushed} pushed as referrers of {', '.join(t.name for t in targets)}"


def destination(request: ReleaseRequest) -> Where:
    """Where the release signs, said, and confirmed by a person at a terminal before Sigstore
    production: first of all, once the artifacts are known to exist (the live display has
    not started yet)."""
    if request.images:
        release_images.check(request.images)
    else:
        chosen.check(request.artifacts)
    place = where(request.trust_config, request.instance)
    announce(place, request.yes)
    return place


@dataclasses.dataclass(frozen=True)
class Checked:
    """What the checks found, for the stages after them."""

    built: GitHubRun | LocalCheckout  # the provenance's source, as it was checked
    policy: Policy
    trust: Trust  # the policy's trust root as read at the checks: the gate step judges by it
    who: Credential
    digests: dict[Path, str]  # each artifact's sha256, read once: what is signed and attested
    sbom_input: tuple[SourceKind, Path]  # what the SBOM describes, chosen (and checked) once
    detail: str
    images: release_images.Targets = dataclasses.field(default_factory=dict)  # resolved once


def _unchanged(checked: Checked) -> None:
    """InputError naming the first artifact whose bytes changed, or image whose tag moved,
    since the checks."""
    if checked.images:
        release_images.unchanged(checked.images)
    else:
        chosen.unchanged(checked.digests)


def preflight(request: ReleaseRequest, place: Where) -> Checked:
    """What can refuse the release before anything is signed: the git state, the gate's
    policy, its trust root (fresh enough, and the one the release signs against), and the
    signer the identity token will get (one the policy allows)."""
    built = where_built(os.environ, request.project, request.allow_dirty)
    sbom_input = _source(request)
    if isinstance(built, LocalCheckout) and not request.allow_dirty:
        _committed_input(request.project, *sbom_input)
    policy = load_gate_policy(request.gate_policy)
    if policy.require.publish is not None and not request.images:
        require_publish_log(place, f"{policy.origin} requires a publish attestation (PEP 740)")
    trust = _check_trust(policy, place, request.now, _writes_pep740(request, policy, place))
    digests = chosen.digests(request.artifacts)
    targets = release_images.resolve(request.images)
    who = credential(place, request.identity_token)
    signer = who.signer
    if not identity.allowed(signer, policy.identities):
        reasons = "; ".join(identity.closest(policy.identities, signer))
        raise PolicyRefusal(
            f"{policy.origin} does not allow the signer the identity token would get, "
            f"{signer.identity!r} (issuer {signer.issuer!r}): {reasons}; nothing was signed"
        )
    if isinstance(built, GitHubRun):
        source = f"run {built.run_id} of {built.repository} at {built.sha[:12]}"
    else:
        source = f"{'tree with changes' if built.dirty else 'clean tree'} at {built.commit[:12]}"
    detail = f"{source}; {who.identity} allowed by {policy.origin}; {place.describe()}"
    if targets:
        detail += f"; {release_images.described(targets)}"
    if request.left_out:
        names = ", ".join(p.name for p in request.left_out)
        detail += f"; left out of dist/ (not {request.selected}): {names}"
    return Checked(built, policy, trust, who, digests, sbom_input, detail, targets)


def _committed_input(project: Path, kind: SourceKind, target: Path) -> None:
    """The SBOM's input file, when it is one in the checkout, is in the commit: a git-ignored
    lock file would be described while the provenance says a clean tree at that commit."""
    inside = target.resolve().is_relative_to(project.resolve())
    if kind in ("lock", "requirements") and inside and not tracked(project, target):
        raise UsageError(
            f"{target}: the SBOM's input is not tracked by git (ignored or untracked), so it is "
            "not in the commit the provenance names: commit it, or pass --allow-dirty"
        )


def _writes_pep740(request: ReleaseRequest, policy: Policy, place: Where) -> bool:
    """Whether the release will log PEP 740 attestations (in the Rekor v1 log, when the
    instance has one): for its wheels and sdists, for every artifact when the policy
    requires them (see Pipeline._sign)."""
    if not place.publish_logs or request.images:
        return False
    return policy.require.publish is not None or any(map(is_distribution, request.artifacts))


def _check_trust(
    policy: Policy, place: Where, now: datetime.datetime, pep740: bool = False
) -> Trust:
    """The policy's trust root (read once, here), accepted at the release's instant `now`, and
    holding the CA, the keys of the logs it writes to (with `pep740`, the Rekor v1 log too), a
    CT log key and (when it timestamps) the certificate chains of the TSAs of the instance the
    release signs with: else the gate would refuse every bundle the release is about to
    publish."""
    trust = gate.trust_for(policy)
    failures = trust_failures(trust, policy.trust, now)
    signing = place.trust.trusted_root
    try:
        signing_cas = set(signing.get_fulcio_certs())
    except SigstoreError:  # a trust config without a CA: nothing to match
        signing_cas = set()
    held = {
        "the CA": signing_cas & set(trust.root.get_fulcio_certs()),
        "a CT log key": set(ct_log_keys(signing)) & set(ct_log_keys(trust.root)),
    }
    missing = [what for what, common in held.items() if not common]
    # Each log the release may write to (several can share the instance's URL: Rekor v1 and v2)
    urls = (*place.log_urls, *(place.publish_logs if pep740 else ()))
    writes = log_keys_at(signing, urls) or {k for k, _ in log_keys(signing)}
    if not writes <= {k for k, _ in log_keys(trust.root)}:
        missing.insert(1, "the key of every transparency log it writes to")
    stamps = timestamp_chains(signing)  # sigstore-python adds a timestamp from each TSA
    if place.tsa_urls and not (stamps and stamps <= timestamp_chains(trust.root)):
        missing.append("every timestamp authority's certificate chain")
    if missing:
        failures.append(
            f"it does not hold {', '.join(missing)} of {place.describe()}, which the release "
            "signs with"
        )
    if failures:
        raise PolicyRefusal(
            f"{policy.origin}: its trust root would refuse the release: {'; '.join(failures)}; "
            "nothing was signed"
        )
    return trust


def write_sbom(request: ReleaseRequest, source: tuple[SourceKind, Path], path: Path) -> str:
    """The SBOM (reproducible) of `source` at `path`; says how many components it holds."""
    kind, target = source
    sbom = generate(SbomRequest(kind, target, project_dir=request.project, reproducible=True))
    write_atomic(path, sbom.document)
    return f"{len(sbom.inventory.packages)} components from {target}"


def scan_sbom(request: ReleaseRequest, sbom: Path, report: Path) -> str:
    """The scan of `sbom`, its JSON report written to `report` before the SLOs are enforced
    (so a failed release keeps the report that says why); says what it found."""
    name = request.vuln_source or ("offline" if request.db else "osv")
    scanned = run_scan(
        ScanRequest(
            kind="sbom",
            target=sbom,
            source=name,
            options=SourceOptions(db=request.db, cache_dir=request.cache_dir),
            policy=load_policy(request.slo_policy, request.waivers, request.project),
            now=request.now,
        )
    )
    check_skips(scanned, allow_skips=False)
    write_atomic(report, render(scanned, "json"))
    enforce_slo(scanned)
    evaluation = scanned.evaluation
    return (
        f"{len(scanned.findings)} findings: {evaluation.count('overdue')} overdue, "
        f"{evaluation.count('waived')} waived"
    )


def planned_bundles(
    request: ReleaseRequest, checked: Checked, sbom: Path, report: Path
) -> list[Planned]:
    """Every bundle the release will sign, with the statements it will sign: the SLSA
    provenance from the source the checks saw (dated at the scan's clock when local), the
    SBOM, the scan and its SLO status; PEP 740 attestations when the policy requires them.
    An image release's attestations are named in --out (names only: they are pushed)."""
    artifacts = request.artifacts
    if checked.images:
        directory, stem = request.out, release_images.stem(checked.images)
        hashed = release_images.subjects(checked.images)
    else:
        directory = provenance_stage.Signing().directory(artifacts[0])
        stem = attestation_name(artifacts, None)
        hashed = tuple(Subject(a.name, checked.digests[a]) for a in artifacts)  # at the checks
    provenance = provenance_stage.provenance_statement(
        hashed,
        checked.built,
        checked.who.identity,
        sbom_dependencies(sbom),
        ["attest", "release"],
        request.now,
    )
    scanned = provenance_stage.statements(
        ["sbom", "vulns", "slo"], artifacts, sbom=sbom, scan=report, hashed=hashed
    )
    made = [("provenance", provenance), *scanned]
    attestations = [Planned(attestation_path(directory, stem, k), k, s) for k, s in made]
    if checked.images:
        return release_images.signatures(checked.images) + attestations
    return planned(artifacts, checked.policy.require.publish is not None, attestations)


def _rehearsal(request: ReleaseRequest, checked: Checked, plan: list[Planned]) -> str:
    """The gate's verdict on the release before it is signed (see rehearse.py)."""
    who, policy, trust = checked.who.signer, checked.policy, checked.trust
    if checked.images:
        pinned = release_images.pinned(checked.images)
        return rehearse_images(pinned, policy, plan, who, request.now, trust)
    return rehearse(request.artifacts, policy, plan, who, request.now, trust)


def self_check(
    request: ReleaseRequest, checked: Checked, plan: list[Planned], made: list[Bundle]
) -> str:
    """The gate's verdict on the release at the signing time of the bundles it made, by the
    trust root read at the checks: PolicyRefusal naming each denied artifact's failed checks,
    else what was allowed. An image release's bundles are those `made` (pushed), judged from
    the registry; a file release's are read back from their files."""
    policy = checked.policy
    if checked.images:
        judged_at = max(bundle_time(b, "a bundle just pushed") for b in made)
        run = release_images.decide(checked.images, policy, judged_at, checked.trust)
        names, what = [str(d.artifact) for d in run.decisions], "image(s)"
    else:
        # PEP 740 attestations are not bundle files
        judged_at = max(signed_at(p.path) for p in plan if p.kind != "publish")
        parent = request.artifacts[0].parent  # the one directory of them all (checked)
        run = gate.decide(request.artifacts, policy, judged_at, parent, trust=checked.trust)
        names, what = [d.artifact.name for d in run.decisions], "artifact(s)"
    when = f"judged at the signing time {_stamp(judged_at)}"
    denied = [(n, d) for n, d in zip(names, run.decisions, strict=True) if not d.allowed]
    if denied:
        reasons = "; ".join(
            f"{name}: " + ", ".join(o.name for o in d.outcomes if not o.passed)
            for name, d in denied
        )
        raise PolicyRefusal(f"the gate denies {reasons} ({when})")
    return f"ALLOW {len(run.decisions)} {what} under {policy.origin}, {when}"
