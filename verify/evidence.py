"""Evidence for one artifact: the signature bundles and attestations found beside it (or in a
directory), each verified offline against the trust root before anything in it is believed.

Verifying a bundle here means all of it: the chain, SCT, log entry and inclusion, signature,
the signer against the policy's identity rules (a signature nobody judged is never evidence),
and its time. An item's time is its earliest verified time (the log's integrated time, or an
RFC 3161 timestamp); evidence from after the judging instant does not exist for the gate.

Evidence is scoped: a bundle counts for the artifacts its subjects (or, for a signature, its
file name) name. One that concerns an artifact but cannot be verified, read or believed is kept
as a `Problem` of that artifact only: the gate denies on it rather than ignoring it. A bundle
that names no judged artifact is listed, never fatal."""

from __future__ import annotations

import base64
import bisect
import dataclasses
import datetime
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot

from verify import bundle_form
from verify.certificate import Signer, signer
from verify.digests import ArtifactError, Digests, digest_file
from verify.errors import without_input
from verify.files import (
    MIB,
    NotRegular,
    TooLarge,
    named_pseudo_root,
    read_limited,
)
from verify.formats import bundles, evidence_files
from verify.formats.evidence_files import Item
from verify.formats.predicates import (
    PYPI_PUBLISH_V1,
    VSA_V1,
    InvalidAttestation,
    UnknownPredicate,
)
from verify.formats.statement import PAYLOAD_TYPE, Statement, claimed_digests
from verify.identity import IdentityPolicy, NotAllowed, allowed, closest
from verify.policy import Policy
from verify.sigstore_adapter import RootMismatch, TimedVerifier, dsse_payload, hashed_digest
from verify.text import excerpt
from verify.trust import timed_verifier

MAX_BUNDLE = 64 * MIB  # a DSSE bundle carrying a 10 MiB SBOM inline is ~14 MiB


@dataclasses.dataclass(frozen=True)
class Signed:
    """A bundle that verified: who signed it and its verified time."""

    path: Path
    signer: Signer
    time: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Attestation(Signed):
    statement: Statement
    where: str = ""  # its place in a file of several (`line 3`), else ""


@dataclasses.dataclass(frozen=True)
class Problem:
    path: Path
    reason: str
    where: str = ""  # the place in a file of several (`line 3`) it concerns, else ""


@dataclasses.dataclass(frozen=True)
class _Ignored(Problem):
    """An attestation the policy ignores (`unknown_predicates: ignore`): listed, never used."""


@dataclasses.dataclass(frozen=True)
class Evidence:
    artifact: Path
    sha256: str
    signatures: tuple[Signed, ...]
    attestations: tuple[Attestation, ...]
    problems: tuple[Problem, ...]
    uncounted: tuple[Problem, ...] = ()  # co-signatures that did not verify or are not allowed
    unread: tuple[Problem, ...] = ()  # co-signatures by name that could not be read at all
    inputs: tuple[tuple[str, str], ...] = ()  # (name, sha256 of its bytes) of every bundle used

    def of_type(self, predicate_type: str) -> list[Attestation]:
        return [a for a in self.attestations if a.statement.predicate_type == predicate_type]


def _raw_claims(raw: bytes) -> frozenset[tuple[str, str]]:
    """The digests a bundle (or PEP 740 attestation) that the models refused claims to cover,
    dug out of its JSON without trusting anything: only to scope its refusal."""
    try:
        bundle_form.bounded(raw)
        data: Any = json.loads(raw)
        payload = (
            data["dsseEnvelope"]["payload"]
            if "dsseEnvelope" in data
            else data["envelope"]["statement"]
        )
        text = str(payload).translate(str.maketrans("-_", "+/"))  # either alphabet
        return claimed_digests(base64.b64decode(text + "=="))
    except Exception:  # nothing readable: it claims nothing by content
        return frozenset()


def _pep740_bundle(raw: bytes) -> bytes:
    """A PEP 740 attestation (pypi-attestations' `<dist>.publish.attestation`) as the Sigstore
    bundle v0.3 it is a re-spelling of, for the same verification as every other bundle."""
    data = bundle_form.json_value(raw)
    if not isinstance(data, dict) or not evidence_files.is_version_1(data):
        raise bundle_form.Malformed("not a PEP 740 attestation (version 1)")
    try:
        material, envelope = data["verification_material"], data["envelope"]
        entries = material["transparency_entries"]
        if not isinstance(entries, list) or len(entries) != 1:
            raise bundle_form.Malformed("a PEP 740 attestation with other than one log entry")
        bundle = {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": material["certificate"]},
                "tlogEntries": entries,
            },
            "dsseEnvelope": {
                "payload": envelope["statement"],
                "payloadType": PAYLOAD_TYPE,
                "signatures": [{"sig": envelope["signature"]}],
            },
        }
    except (KeyError, TypeError) as e:
        raise bundle_form.Malformed(f"not a PEP 740 attestation: no {e}") from e
    return json.dumps(bundle).encode()


@dataclasses.dataclass(frozen=True)
class _Later:
    """A bundle file that can only be a message signature (or be refused): read to learn so,
    then read again, parsed and verified when an artifact it may be the signature of is judged,
    and dropped after. Kept parsed until the run ended, 10,000 of them held 200 MiB."""

    is_link: bool


_LATER = {False: _Later(False), True: _Later(True)}
_LATER_MAX = 64 << 10  # bytes: a signature bundle is 8 KiB


def _signature_only(path: Path, item: Item) -> bool:
    """Whether the bundle `item` of the file `path` (one `<name>.sigstore.json`) cannot be an
    attestation, by its bytes: with no `dsse` and no \\u escape, no key of its JSON spells
    `dsseEnvelope` (or `dsse_envelope`), so parsed it is a message signature or refused; with no
    `statement` either, a refusal claims no digest (`_raw_claims` finds no payload): its file
    name alone says which artifacts it concerns, as when it was parsed at once. A bundle whose
    certificates' base64 happens to spell one of them is parsed at once, as all were, and so is
    a large one: a signature is a few KiB, and links to a large one must not cost a read each."""
    return (
        len(item.raw) <= _LATER_MAX
        and not item.pep740
        and not item.where
        and path.name.endswith(bundles.SUFFIX)
        and evidence_files.gh_digest(path.name) is None
        and not any(part in item.raw for part in (b"dsse", b"statement", b"\\u"))
    )


# What one bundle file came to: a signature bundle, a believed attestation, an ignored one
# (a note), (the digests it claims, why it was refused), or a signature bundle read later.
_Outcome = Bundle | Attestation | Problem | tuple[frozenset[tuple[str, str]], Problem] | _Later


@dataclasses.dataclass(frozen=True)
class _Claim:
    """What a bundle concerns: the artifact names its file name can belong to, and the digests
    its statement names."""

    names: frozenset[str] = frozenset()
    digests: frozenset[tuple[str, str]] = frozenset()

    def concerns(self, name: str, digests: Digests) -> bool:
        return name in self.names or any(d in self.digests for d in digests.items())


def _read_path(path: Path, real_directory: Path, is_link: bool) -> Path:
    """Where the file `path` (a name in `real_directory`, its directory resolved) is read."""
    return Path(os.path.realpath(path)) if is_link else real_directory / path.name


def _named(file_name: str, names: frozenset[str]) -> _Claim:
    """What a refused bundle whose content names nothing concerns: the digest a gh file is
    named for, else the artifacts its file name can belong to."""
    digest = evidence_files.gh_digest(file_name)
    return _Claim(digests=frozenset({digest})) if digest else _Claim(names=names)


def _at(where: str, reason: str) -> str:
    return f"{where}: {reason}" if where else reason


def _located(outcome: _Outcome, where: str) -> _Outcome:
    """`outcome` knowing where in its file the bundle is, a refusal's reason saying it."""
    if not where or isinstance(outcome, (Bundle, _Later)):
        return outcome
    if isinstance(outcome, Attestation):
        return dataclasses.replace(outcome, where=where)
    if isinstance(outcome, Problem):
        return dataclasses.replace(outcome, reason=f"{where}: {outcome.reason}", where=where)
    claimed, problem = outcome
    return claimed, dataclasses.replace(problem, reason=f"{where}: {problem.reason}", where=where)


@dataclasses.dataclass
class _Index:
    """One directory's bundles, read once: signature bundles by the artifact name their file is
    named for, verified attestations, and the bundles that were refused, each with what it
    concerns. `used` holds the file names some judged artifact took as evidence or problem."""

    directory: Path = Path()
    # signature bundles as (file name, what it came to), in file order (sorted by name): an
    # artifact's own and co-signatures (`a.whl.sigstore.json`, `a.whl.x.sigstore.json`) are
    # among the few whose name starts with `a.whl.` (a map from every artifact name a file may
    # belong to held 0.6 KiB a bundle)
    signatures: list[tuple[str, Bundle | _Later]] = dataclasses.field(default_factory=list)
    attestations: list[Attestation] = dataclasses.field(default_factory=list)
    by_digest: dict[tuple[str, str], list[Attestation]] = dataclasses.field(default_factory=dict)
    refused: list[tuple[_Claim, Problem]] = dataclasses.field(default_factory=list)
    ignored: list[Problem] = dataclasses.field(default_factory=list)
    used: set[str] = dataclasses.field(default_factory=set)
    # which of `signatures` some judged artifact took, by position (a set of their names held
    # 55 bytes a bundle); set up once the directory is read
    taken: bytearray = dataclasses.field(default_factory=bytearray)
    # what each file read came to, by its resolved path: a file reached through many symlinks
    # is read, parsed and verified once (70 links to one 60 MiB bundle cost 70 times over)
    seen: dict[str, list[_Outcome]] = dataclasses.field(default_factory=dict)
    real: Path = Path()  # the directory, every symlink resolved
    links: bool = True  # whether any of its files is a symlink

    def add(self, attestation: Attestation) -> None:
        self.attestations.append(attestation)
        for digest in attestation.statement.digests:
            self.by_digest.setdefault(digest, []).append(attestation)

    def algorithms(self) -> set[str]:
        digests = {*self.by_digest, *(d for claim, _ in self.refused for d in claim.digests)}
        return {algorithm for algorithm, _ in digests}

    def signatures_of(self, artifact: str) -> list[tuple[Path, Bundle | _Later]]:
        """The signature bundles named for `artifact`, in file order."""
        return [
            (self.directory / self.signatures[i][0], self.signatures[i][1])
            for i in self._named_for(artifact)
        ]

    def take(self, artifact: str) -> None:
        """Mark the signature bundles named for `artifact` used."""
        for i in self._named_for(artifact):
            self.taken[i] = 1

    def _named_for(self, artifact: str) -> list[int]:
        """Where in `signatures` the bundles named for `artifact` are: of the names starting
        with `<artifact>.` (the range up to `<artifact>/`: "/" follows "."), those named for it
        (`x.sigstore.json` starts with `x.sigstore.` but is not `x.sigstore`'s)."""
        start = bisect.bisect_left(self.signatures, (artifact + ".",))
        end = bisect.bisect_left(self.signatures, (artifact + "/",))
        return [
            i for i in range(start, end) if artifact in bundles.name_prefixes(self.signatures[i][0])
        ]

    def covering(self, digests: Digests) -> list[Attestation]:
        """The attestations whose subjects name one of the artifact's digests, each once."""
        found: dict[int, Attestation] = {}
        for digest in digests.items():
            for attestation in self.by_digest.get(digest, ()):
                found.setdefault(id(attestation), attestation)
        return list(found.values())


class Collector:
    """Finds and verifies bundles under one policy at one judging instant. Each directory is
    read and its attestations verified once, for all the artifacts; each artifact then costs
    its digests and its signature checks."""

    def __init__(
        self,
        root: TrustedRoot,
        policy: Policy,
        now: datetime.datetime,
        directory: Path | None = None,
        verifier: TimedVerifier | None = None,
        held: Mapping[str, bytes] | None = None,
        parse: Callable[[bytes], Bundle] = bundle_form.parse,
    ) -> None:
        self._verifier = verifier or timed_verifier(root)  # the webhook's caches its results
        self._held = held  # the bundles by file name, in memory, as if `directory` held them
        self._parse = parse  # the webhook's keeps what it parsed, by the exact bytes
        self._policy = policy
        self._now = now
        self._directory = directory
        self._indexes: dict[Path, _Index] = {}
        self._read: dict[Path, str] = {}  # the sha256 of each bundle file's bytes, as read
        self._read_as: dict[Path, str] = {}  # the same, by the path a bundle was found at
        self._outside_pseudo: dict[Path, bool] = {}  # directories walked, see `_walked`
        self._signers = IdentityPolicy(policy.identities)
        publish, vsa = policy.require.publish, policy.require.vsa
        # who may sign an attestation: the identities, and for a publish attestation also the
        # publishing workflow that `require.publish` names (for a VSA, `require.vsa`'s signer)
        self._attesters = IdentityPolicy(
            (
                *policy.identities,
                *((publish,) if publish is not None else ()),
                *((vsa.signer,) if vsa is not None else ()),
            )
        )

    # -- reading ---------------------------------------------------------------------------

    def _items(self, path: Path, real_directory: Path, is_link: bool) -> list[Item] | Problem:
        """The bundles in the file at `path` (a name in `real_directory`, its directory with
        every symlink resolved): one, or a gh or PyPI file's several; or why it is refused. A
        symlink is resolved (realpath: a loop is no exception) and must stay in the directory;
        what was not a symlink when listed is opened without following one."""
        read = _read_path(path, real_directory, is_link)
        if is_link and not read.is_relative_to(real_directory):
            return Problem(path, "refused bundle: a symlink that leads out of its directory")
        try:
            if self._held is not None:
                raw = self._held[path.name]
            elif evidence_files.gh_digest(path.name) is not None:
                items, self._read[read] = evidence_files.jsonl_items(read, path, is_link)
                return items
            else:
                walked = self._walked(real_directory)
                raw = read_limited(
                    read, MAX_BUNDLE, "a bundle", follow_symlinks=is_link, walked=walked
                )
            self._read[read] = hashlib.sha256(raw).hexdigest()  # what a VSA's inputs name
        except (TooLarge, NotRegular) as e:
            return Problem(path, f"refused bundle: {str(e).removeprefix(f'{read}: ')}")
        except OSError as e:  # a symlink loop, a file that vanished or that we may not read
            return Problem(path, f"refused bundle: cannot read it: {e.strerror or e}")
        if path.name.endswith(evidence_files.PROVENANCE_SUFFIX):
            return evidence_files.provenance_items(raw, path)
        return [Item("", raw, pep740=path.name.endswith(bundles.PEP740_SUFFIX))]

    def _walked(self, real_directory: Path) -> bool:
        """Whether the directory (resolved) passes through no pseudo file system (walked once)."""
        if real_directory not in self._outside_pseudo:
            self._outside_pseudo[real_directory] = named_pseudo_root(real_directory) is None
        return self._outside_pseudo[real_directory]

    def _load(self, path: Path, item: Item) -> Bundle | tuple[frozenset[tuple[str, str]], Problem]:
        """The bundle of `item`, or (the digests it claims, read without trusting it; why it
        is refused)."""
        try:
            return self._parse(_pep740_bundle(item.raw) if item.pep740 else item.raw)
        except bundle_form.Malformed as e:
            return _raw_claims(item.raw), Problem(path, f"malformed bundle: {e}")
        except Exception as e:  # a bundle the models refuse: deny, naming it
            reason = f"unparsable bundle: {type(e).__name__}: {without_input(e)}"
            return _raw_claims(item.raw), Problem(path, reason)

    def _when(self, path: Path) -> datetime.datetime | Problem:
        """The earliest verified time of the bundle just verified, or why it does not count."""
        times = self._verifier.last_times
        if not times:
            return Problem(path, "refused bundle: no verified time (log or timestamp authority)")
        when = min(times)
        if when > self._now:
            return Problem(
                path,
                f"refused bundle: signed {when.isoformat()}, after the judging instant "
                f"{self._now.isoformat()}: it does not exist for the gate",
            )
        return when

    def _attestation(
        self, path: Path, bundle: Bundle
    ) -> Attestation | tuple[frozenset[tuple[str, str]], Problem] | _Ignored:
        """The believed attestation; (the digests it claims, why it was refused); or, for an
        unknown predicate type the policy ignores, the note saying so. What a refused one
        claims is read from its payload only then: a believed one's is parsed once."""
        outcome = self._believe(path, bundle)
        if isinstance(outcome, Problem) and not isinstance(outcome, _Ignored):
            payload = dsse_payload(bundle)
            assert payload is not None
            return claimed_digests(payload), outcome
        return outcome

    def _believe(self, path: Path, bundle: Bundle) -> Attestation | Problem:
        """The attestation, verified and judged, or why it is refused (or ignored)."""
        try:
            payload_type, payload = self._verifier.verify_dsse(bundle, self._attesters)
        except NotAllowed as e:
            return Problem(path, f"attestation refused: {e}")
        except RootMismatch as e:
            return Problem(path, f"attestation does not verify: {e}")
        except Exception as e:
            return Problem(path, f"attestation does not verify: {without_input(e)}")
        when = self._when(path)
        if isinstance(when, Problem):
            return when
        if payload_type != PAYLOAD_TYPE:
            return Problem(path, f"unknown DSSE payload type {excerpt(payload_type)}")
        try:
            statement = Statement.from_json(payload)
        except UnknownPredicate as e:
            if self._policy.unknown_predicates == "ignore":
                return _Ignored(path, f"ignored (unknown_predicates: ignore): {e}")
            return Problem(path, f"invalid attestation: {e}")
        except InvalidAttestation as e:
            return Problem(path, f"invalid attestation: {e}")
        who = signer(bundle.signing_certificate)
        rules = self._policy.identities
        if statement.predicate_type == PYPI_PUBLISH_V1 and self._policy.require.publish:
            rules = (*rules, self._policy.require.publish)
        if statement.predicate_type == VSA_V1 and self._policy.require.vsa:
            rules = (*rules, self._policy.require.vsa.signer)
        if not allowed(who, rules):  # the publishing workflow signs publish attestations only
            reason = f"signed by {who.identity!r} (issuer {who.issuer!r}), who the policy "
            reason += f"does not allow for this predicate: {'; '.join(closest(rules, who))}"
            return Problem(path, f"attestation refused: {reason}")
        return Attestation(path, who, when, statement)

    def _outcome(self, path: Path, item: Item) -> _Outcome:
        """A signature bundle (verified per artifact later), or what an attestation came to.
        A gh attestation file holds attestations only: a signature there names no artifact."""
        loaded = self._load(path, item)
        if isinstance(loaded, Bundle) and dsse_payload(loaded) is not None:
            return self._attestation(path, loaded)
        if isinstance(loaded, Bundle) and evidence_files.gh_digest(path.name) is not None:
            return frozenset(), Problem(path, "not an attestation (a DSSE envelope)")
        return loaded

    def _outcomes(self, path: Path, real_directory: Path, is_link: bool) -> list[_Outcome]:
        """What each bundle of the file came to, its place in the file named in a refusal."""
        items = self._items(path, real_directory, is_link)
        if isinstance(items, Problem):
            return [(frozenset(), items)]
        if len(items) == 1 and _signature_only(path, items[0]):
            self._read.pop(_read_path(path, real_directory, is_link))  # its bytes may change
            return [_LATER[is_link]]
        return [_located(self._outcome(path, item), item.where) for item in items]

    def _reload(self, index: _Index, path: Path, later: _Later) -> tuple[_Outcome, str | None]:
        """What the signature bundle file `path` comes to, read now; and the sha256 of the bytes
        read (None when they could not be). One that is now no message signature alone changed
        since it was first read: refused (it was not looked for among the attestations)."""
        items = self._items(path, index.real, later.is_link)
        if isinstance(items, Problem):
            return (frozenset(), items), None
        sha256 = self._read.pop(_read_path(path, index.real, later.is_link))
        if len(items) != 1 or not _signature_only(path, items[0]):
            return (frozenset(), Problem(path, "refused bundle: it changed while judged")), sha256
        return self._outcome(path, items[0]), sha256

    def _add(self, index: _Index, path: Path, real_directory: Path, is_link: bool) -> None:
        names = frozenset(bundles.name_prefixes(path.name))
        real = os.path.realpath(path) if is_link else str(real_directory / path.name)
        outcomes = index.seen.get(real)
        if outcomes is None:
            outcomes = self._outcomes(path, real_directory, is_link)
            if index.links:  # with no symlink among them, no two names are one file
                index.seen[real] = outcomes
        for outcome in outcomes:
            if isinstance(outcome, (Bundle, _Later)):  # read later through this very path
                found = _LATER[is_link] if isinstance(outcome, _Later) else outcome
                index.signatures.append((path.name, found))
            elif isinstance(outcome, Attestation):
                index.add(dataclasses.replace(outcome, path=path))
            elif isinstance(outcome, Problem):
                index.ignored.append(dataclasses.replace(outcome, path=path))
            else:  # refused: it concerns the subjects it claims; with none readable, what its
                # file name names (`collect` denies only on the artifact's own bundle)
                claimed, problem = outcome
                claim = _Claim(digests=claimed) if claimed else _named(path.name, names)
                index.refused.append((claim, dataclasses.replace(problem, path=path)))

    def _index(self, directory: Path) -> _Index:
        if directory not in self._indexes:
            if self._held is not None:
                found = sorted((name, False) for name in self._held)
            elif not directory.is_dir():
                raise ArtifactError(f"{directory}: attestation directory does not exist")
            else:
                with os.scandir(directory) as listing:  # its file types come with the names
                    found = sorted((e.name, e.is_symlink()) for e in listing)
            real = Path(os.path.realpath(directory))
            links = any(is_link for _, is_link in found)
            index = _Index(directory=directory, real=real, links=links)
            for name, is_link in found:
                if bundles.is_bundle(name) or evidence_files.is_evidence_file(name):
                    self._add(index, directory / name, real, is_link)
            index.taken = bytearray(len(index.signatures))
            self._indexes[directory] = index
        return self._indexes[directory]

    def algorithms(self, artifacts: Sequence[Path]) -> set[str]:
        """Which digests the artifacts need: sha256, and any other that a bundle names."""
        found = {"sha256"}
        for directory in {self._directory or artifact.parent for artifact in artifacts}:
            if directory.is_dir():  # else `collect` says so, after the artifact is read
                found |= self._index(directory).algorithms()
        return found

    # -- judging one artifact --------------------------------------------------------------

    def _signature(self, path: Path, bundle: Bundle, hashed: Hashed) -> Signed | Problem:
        try:
            self._verifier.verify_artifact(hashed, bundle, self._signers)
        except NotAllowed as e:
            return Problem(path, f"signature refused: {e}")
        except RootMismatch as e:
            return Problem(path, f"signature does not verify for this artifact: {e}")
        except Exception as e:
            return Problem(path, f"signature does not verify for this artifact: {without_input(e)}")
        when = self._when(path)
        if isinstance(when, Problem):
            return when
        return Signed(path, signer(bundle.signing_certificate), when)

    def _signatures(
        self, index: _Index, artifact: Path, digests: Digests
    ) -> tuple[list[Signed | Problem], list[tuple[_Claim, Problem]], dict[Path, str]]:
        """The signature bundles named for `artifact`, each verified or why not; those read
        only now that were refused; and the sha256 of the bytes of each read now."""
        hashed = hashed_digest(digests["sha256"])
        checked: list[Signed | Problem] = []
        refused: list[tuple[_Claim, Problem]] = []
        read: dict[Path, str] = {}
        for path, bundle in index.signatures_of(artifact.name):
            outcome: _Outcome = bundle
            if isinstance(bundle, _Later):
                outcome, sha256 = self._reload(index, path, bundle)
                if sha256 is not None:
                    read[path] = sha256
            if isinstance(outcome, Bundle):
                checked.append(self._signature(path, outcome, hashed))
            elif isinstance(outcome, tuple):  # what its file name names, as at once
                refused.append((_named(path.name, frozenset({artifact.name})), outcome[1]))
        return checked, refused, read

    def collect(self, artifact: Path, digests: Digests | None = None) -> Evidence:
        """The evidence for `artifact`, whose digests are `digests` when already computed."""
        directory = self._directory or artifact.parent
        index = self._index(directory)
        digests = digests or digest_file(artifact, index.algorithms())
        checked, late, read = self._signatures(index, artifact, digests)
        # `<artifact>.sigstore.json` must verify; a co-signature `<artifact>.<x>.sigstore.json`
        # that does not (it may be another artifact's: `a` beside `a.whl`) just does not count;
        # one that cannot be read does not either, and is named for the artifact.
        own = bundles.signature_name(artifact.name)
        refused = [(c, p) for c, p in index.refused if c.concerns(artifact.name, digests)]
        refused = sorted([*refused, *late], key=lambda r: r[1].path.name)  # in the file order
        problems = [
            p
            for c, p in refused
            if c.digests or bundles.artifact_stem(p.path.name) == artifact.name
        ]
        unread = [p for c, p in refused if not c.digests and p not in problems]
        attestations = index.covering(digests)
        signatures = [c for c in checked if isinstance(c, Signed)]
        index.used |= {p.path.name for _, p in refused} | {a.path.name for a in attestations}
        index.take(artifact.name)
        return Evidence(
            artifact,
            digests["sha256"],
            tuple(signatures),
            tuple(attestations),
            (*problems, *(c for c in checked if isinstance(c, Problem) and c.path.name == own)),
            tuple(c for c in checked if isinstance(c, Problem) and c.path.name != own),
            tuple(unread),
            tuple(
                (s.path.name, read.get(s.path) or self._sha256(s.path))
                for s in (*signatures, *attestations)
            ),
        )

    def _sha256(self, path: Path) -> str:
        """The sha256 of the bytes read for the bundle file `path` (resolved once per path)."""
        found = self._read_as.get(path)
        if found is None:
            found = self._read_as[path] = self._read[Path(os.path.realpath(path))]
        return found

    def _unused(self, index: _Index, path: Path, bundle: Bundle | _Later) -> Problem:
        """Why the signature bundle `path` (or one read only now that was refused) was unused."""
        outcome = self._reload(index, path, bundle)[0] if isinstance(bundle, _Later) else bundle
        if isinstance(outcome, tuple):
            return Problem(path, f"concerns no artifact judged here ({outcome[1].reason})")
        return Problem(path, "a signature of no artifact judged here")

    def unjudged(self) -> list[Problem]:
        """Bundles read that concern no artifact judged (each with why), and attestations of
        unknown type the policy ignores: listed for people, never a reason to deny."""
        found: list[Problem] = []
        for index in self._indexes.values():
            found += index.ignored
            found += [
                Problem(a.path, _at(a.where, "concerns no artifact judged here"), a.where)
                for a in index.attestations
                if a.path.name not in index.used
            ]
            found += [
                Problem(p.path, f"concerns no artifact judged here ({p.reason})", p.where)
                for _, p in index.refused
                if p.path.name not in index.used
            ]
            read: dict[str, Problem] = {}  # by file read: links to one cost one read
            for (name, bundle), taken in zip(index.signatures, index.taken, strict=True):
                if not taken and name not in index.used:
                    path = index.directory / name
                    is_link = isinstance(bundle, _Later) and bundle.is_link
                    real = str(_read_path(path, index.real, is_link))
                    if real not in read:
                        read[real] = self._unused(index, path, bundle)
                    found.append(dataclasses.replace(read[real], path=path))
        return sorted(found, key=lambda p: str(p.path))
