"""Evidence for one artifact: the signature bundles and attestations found beside it (or in a
directory), each verified offline against the trust root before anything in it is believed.

Verification here is cryptographic only (chain, SCT, log entry and inclusion, signature); who
signed is judged by the checks, against the policy, so each refusal can be explained. A bundle
that concerns the artifact but cannot be verified or read is kept as a `Problem`: the gate
denies on it rather than ignoring it."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from sigstore.hashes import Hashed
from sigstore.models import Bundle
from sigstore.verify import Verifier
from sigstore_models.common.v1 import HashAlgorithm

from verify import bundle_form
from verify.attestations import InvalidAttestation, Statement
from verify.attestations.statement import PAYLOAD_TYPE
from verify.certificate import Signer, signer
from verify.errors import ExitCode, VerifyError, without_input
from verify.files import MIB, NotRegular, TooLarge, open_regular, read_limited

SUFFIX = ".sigstore.json"

MAX_BUNDLE = 64 * MIB  # a DSSE bundle carrying a 10 MiB SBOM inline is ~14 MiB
_CHUNK = 1 << 20


class ArtifactError(VerifyError):
    """An artifact named on the command line cannot be read: fix the command line."""

    exit_code = ExitCode.USAGE


class _CryptoOnly:
    """A sigstore verification policy that accepts every certificate: identity is judged by
    the gate's own anchored checks afterwards, with an explanation (never used alone)."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


CRYPTO_ONLY = _CryptoOnly()


@dataclasses.dataclass(frozen=True)
class Signed:
    """A bundle that verified: who signed it and when the log integrated it."""

    path: Path
    signer: Signer
    integrated: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Attestation(Signed):
    statement: Statement


@dataclasses.dataclass(frozen=True)
class Problem:
    path: Path
    reason: str


@dataclasses.dataclass(frozen=True)
class Evidence:
    artifact: Path
    sha256: str
    signatures: tuple[Signed, ...]
    attestations: tuple[Attestation, ...]
    problems: tuple[Problem, ...]

    def of_type(self, predicate_type: str) -> list[Attestation]:
        return [a for a in self.attestations if a.statement.predicate_type == predicate_type]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open_regular(path) as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: no such artifact") from e
    except NotRegular as e:
        raise ArtifactError(str(e)) from e
    return digest.hexdigest()


def hashed_digest(sha256: str) -> Hashed:
    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256))


def _integrated(bundle: Bundle) -> datetime.datetime | None:
    seconds = bundle.log_entry._inner.integrated_time
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc) if seconds else None


def _unverified_subjects(bundle: Bundle) -> set[str]:
    """The sha256 digests an attestation CLAIMS to cover, read without trusting it: only to
    decide which artifact a broken attestation concerns."""
    try:
        envelope = bundle._inner.dsse_envelope
        assert envelope is not None
        statement: Any = json.loads(base64.b64decode(envelope.payload))
        return {s["digest"]["sha256"] for s in statement["subject"]}
    except Exception:  # anything unreadable concerns no artifact in particular
        return set()


def _name_prefixes(file_name: str) -> list[str]:
    """The artifact names a signature bundle's file name can belong to: `<artifact>` in
    `<artifact>.sigstore.json` and `<artifact>.<anything>.sigstore.json`."""
    stem = file_name.removesuffix(SUFFIX)
    return [stem[:i] for i, c in enumerate(stem) if c == "."] + [stem]


@dataclasses.dataclass
class _Index:
    """One directory's bundles, read once: signature bundles by the artifact names they may
    belong to, verified attestations by subject digest, and the bundles that failed."""

    signatures: dict[str, list[tuple[Path, Bundle]]] = dataclasses.field(default_factory=dict)
    attestations: dict[str, list[Attestation]] = dataclasses.field(default_factory=dict)
    failed: list[tuple[frozenset[str], Problem]] = dataclasses.field(default_factory=list)

    def problems_for(self, digest: str) -> list[Problem]:
        """Failures that concern this digest; one that claims no subject concerns them all."""
        return [p for claimed, p in self.failed if not claimed or digest in claimed]


class Collector:
    """Finds and verifies bundles. Each directory is read and its attestations verified once,
    for all the artifacts; each artifact then costs its hash and its signature checks."""

    def __init__(self, verifier: Verifier, directory: Path | None) -> None:
        self._verifier = verifier
        self._directory = directory
        self._lock = threading.Lock()
        self._indexes: dict[Path, _Index] = {}

    def _load(self, path: Path, real_directory: Path, is_link: bool) -> Bundle | Problem:
        """The bundle at `path` (a name in `real_directory`, its directory with every symlink
        resolved). A symlink is resolved (realpath: a loop is no exception) and must stay in
        the directory; what was not a symlink when listed is opened without following one."""
        read = Path(os.path.realpath(path)) if is_link else real_directory / path.name
        if is_link and not read.is_relative_to(real_directory):
            return Problem(path, "refused bundle: a symlink that leads out of its directory")
        try:
            raw = read_limited(read, MAX_BUNDLE, "a bundle", follow_symlinks=is_link)
            return bundle_form.parse(raw)
        except bundle_form.Malformed as e:
            return Problem(path, f"malformed bundle: {e}")
        except (TooLarge, NotRegular) as e:
            return Problem(path, f"refused bundle: {str(e).removeprefix(f'{read}: ')}")
        except OSError as e:  # a symlink loop, a file that vanished or that we may not read
            return Problem(path, f"refused bundle: cannot read it: {e.strerror or e}")
        except Exception as e:  # a bundle the models refuse: deny, naming it
            return Problem(path, f"unparsable bundle: {type(e).__name__}: {without_input(e)}")

    def _attestation(self, path: Path, bundle: Bundle) -> Attestation | tuple[frozenset[str], str]:
        """The verified attestation, or (the digests it claims, why it was refused)."""
        try:
            payload_type, payload = self._verifier.verify_dsse(bundle, CRYPTO_ONLY)
        except Exception as e:
            claimed = frozenset(_unverified_subjects(bundle))
            return claimed, f"attestation does not verify: {without_input(e)}"
        if payload_type != PAYLOAD_TYPE:
            return frozenset(), f"unknown DSSE payload type {payload_type!r}"
        try:
            statement = Statement.from_json(payload)
        except InvalidAttestation as e:
            return frozenset(_unverified_subjects(bundle)), f"invalid attestation: {e}"
        return Attestation(path, signer(bundle.signing_certificate), _integrated(bundle), statement)

    def _add(self, index: _Index, path: Path, real_directory: Path, is_link: bool) -> None:
        loaded = self._load(path, real_directory, is_link)
        if isinstance(loaded, Problem):
            index.failed.append((frozenset(), loaded))
        elif loaded._inner.dsse_envelope is None:
            for name in _name_prefixes(path.name):
                index.signatures.setdefault(name, []).append((path, loaded))
        else:
            outcome = self._attestation(path, loaded)
            if isinstance(outcome, Attestation):
                for subject in {s.sha256 for s in outcome.statement.subjects}:
                    index.attestations.setdefault(subject, []).append(outcome)
            else:
                index.failed.append((outcome[0], Problem(path, outcome[1])))

    def _index(self, directory: Path) -> _Index:
        with self._lock:  # held while the first artifact of a directory reads it
            if directory not in self._indexes:
                index = _Index()
                real = Path(os.path.realpath(directory))
                with os.scandir(directory) as listing:  # its file types come with the names
                    found = sorted((e.name, e.is_symlink()) for e in listing)
                for name, is_link in found:
                    if name.endswith(SUFFIX):
                        self._add(index, directory / name, real, is_link)
                self._indexes[directory] = index
            return self._indexes[directory]

    def _signature(self, path: Path, bundle: Bundle, hashed: Hashed) -> Signed | Problem:
        try:
            self._verifier.verify_artifact(hashed, bundle, CRYPTO_ONLY)
        except Exception as e:
            return Problem(path, f"signature does not verify for this artifact: {without_input(e)}")
        return Signed(path, signer(bundle.signing_certificate), _integrated(bundle))

    def collect(self, artifact: Path, digest: str | None = None) -> Evidence:
        """The evidence for `artifact`, whose sha256 is `digest` when already computed."""
        digest = digest or sha256_file(artifact)
        directory = self._directory or artifact.parent
        if not directory.is_dir():
            raise ArtifactError(f"{directory}: attestation directory does not exist")
        index = self._index(directory)
        hashed = hashed_digest(digest)
        checked = [
            self._signature(p, b, hashed) for p, b in index.signatures.get(artifact.name, [])
        ]
        # `<artifact>.sigstore.json` must verify; a co-signature `<artifact>.<x>.sigstore.json`
        # that does not (it may be another artifact's: `a` beside `a.whl`) just does not count.
        own = artifact.name + SUFFIX
        return Evidence(
            artifact,
            digest,
            tuple(c for c in checked if isinstance(c, Signed)),
            tuple(index.attestations.get(digest, [])),
            (
                *index.problems_for(digest),
                *(c for c in checked if isinstance(c, Problem) and c.path.name == own),
            ),
        )
