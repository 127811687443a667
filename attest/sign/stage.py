"""The sign stage as a library function: one certificate per run, a bundle per artifact, each
bundle verified against the expected identity before it is written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
from functools import partial
from pathlib import Path
from typing import Literal

from sigstore.hashes import Hashed

from attest.output import write_atomic
from attest.sign import pep740
from attest.sign.message import require_message
from attest.sign.session import Instance, SigningSession, start
from verify import forked, logs
from verify.digests import sha256_file
from verify.errors import InputError, OperationalError, UsageError
from verify.formats import bundles
from verify.sigstore_adapter import hashed_digest, log_index

_log = logs.get(__name__)

IN_FLIGHT = 4  # artifacts being signed at once, to overlap the round trips to the log


@dataclasses.dataclass(frozen=True)
class SignRequest:
    artifacts: tuple[Path, ...]
    trust_config: Path | None = None
    instance: Instance | None = None
    identity_token: str | None = None
    bundle_dir: Path | None = None
    # also write `<dist>.publish.attestation`: True, for every artifact (each must be a wheel
    # or sdist); "dists", for each wheel and sdist among them (`attest release`)
    pep740: bool | Literal["dists"] = False
    yes: bool = False  # sign against Sigstore production without asking
    checked: tuple[str, ...] = ()  # the artifacts' sha256 as the caller checked them, in order


@dataclasses.dataclass(frozen=True)
class Signed:
    artifact: Path
    bundle: Path
    sha256: str
    log_index: int
    publish_attestation: Path | None = None


@dataclasses.dataclass(frozen=True)
class SignResult:
    identity: str
    issuer: str
    signed: tuple[Signed, ...]


def hash_file(path: Path) -> Hashed:
    """SHA-256 of a file read as a stream (the gate's own function: both sides hash alike);
    a 2 GiB artifact never sits in memory."""
    try:
        digest = sha256_file(path)
    except OSError as e:
        raise OperationalError(f"cannot read {path}: {e.strerror or e}") from e
    return hashed_digest(digest)


def require_file(artifact: Path) -> None:
    """What is signed or attested must be a regular file: a FIFO would block, a device never end."""
    if not artifact.is_file():
        raise InputError(artifact, "is not a regular file" if artifact.exists() else "no such file")


def require_bundle_dir(directory: Path) -> Path:
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "bundle directory does not exist"
        raise InputError(directory, problem)
    return directory


def _check_artifacts(request: SignRequest) -> None:
    if not request.artifacts:
        raise UsageError("name at least one artifact to sign")
    bundles.refuse_evidence(request.artifacts)
    for artifact in request.artifacts:
        require_file(artifact)
        require_message(artifact)
    if request.bundle_dir is not None:
        require_bundle_dir(request.bundle_dir)
    _refuse_shared_bundles(request.artifacts, request.bundle_dir)


def _refuse_shared_bundles(artifacts: tuple[Path, ...], bundle_dir: Path | None) -> None:
    """Two artifacts whose bundles would be the same file (`a/x.whl` and `b/x.whl` with one
    --bundle-dir, or one artifact named twice): the second bundle would replace the first."""
    seen: dict[Path, Path] = {}
    for artifact in artifacts:
        target = bundles.signature_path(artifact, bundle_dir)
        # the directory resolved (two names for one directory are one), the file itself not:
        # a symlink there is replaced, never followed
        target = Path(os.path.realpath(target.parent)) / target.name
        if target in seen:
            raise UsageError(
                f"{seen[target]} and {artifact} would both be signed into {target}: "
                "name each artifact once, and sign same-named files into different --bundle-dir"
            )
        seen[target] = artifact


PROCESSES = min(forked.cores(), IN_FLIGHT)  # one signing process per core (see forked.py)


@logs.timed(_log, "sign")
def sign(request: SignRequest, session: SigningSession | None = None) -> SignResult:
    """Sign every artifact with one certificate: the `session`'s (`attest release` passes the
    one it signs everything with), else one opened for this run. Artifacts are shared among
    forked processes, one per core, with threads in each to keep IN_FLIGHT of them in flight:
    sigstore-python's client is CPU-bound in Python, so threads alone would share one core. A
    bundle is written only once it verifies, and the first failure stops the rest."""
    _check_artifacts(request)
    if request.pep740 is True:
        for artifact in request.artifacts:
            pep740.distribution(artifact, "0" * 64)  # a name PyPI accepts, before any signing
    if session is None:
        session = start(
            request.trust_config,
            request.instance,
            request.identity_token,
            yes=request.yes,
            pep740=request.pep740 is True,
        )
    count = len(request.artifacts)
    processes = min(PROCESSES, count)
    threads = -(-IN_FLIGHT // processes)  # rounded up
    _log.info("sign: %d artifact(s) as %s, %d process(es)", count, session.identity, processes)
    signed = forked.run(partial(_sign_one, session, request), count, processes, threads)
    return SignResult(session.identity, session.issuer, tuple(signed))


def _sign_one(session: SigningSession, request: SignRequest, item: int) -> Signed:
    artifact = request.artifacts[item]
    hashed = hash_file(artifact)
    if request.checked and hashed.digest.hex() != request.checked[item]:
        raise InputError(
            artifact,
            f"changed since it was checked (sha256 {request.checked[item][:12]}… then, "
            f"{hashed.digest.hex()[:12]}… now): nothing was signed for it; rebuild, then run again",
        )
    bundle = session.sign_file(hashed, artifact)
    publish = None
    if request.pep740 is True or (request.pep740 and pep740.is_distribution(artifact)):
        document = pep740.attest(session, pep740.distribution(artifact, hashed.digest.hex()))
        publish = bundles.publish_attestation_path(artifact, request.bundle_dir)
    target = bundles.signature_path(artifact, request.bundle_dir)
    write_atomic(target, bundle.to_json().encode())
    if publish is not None:
        write_atomic(publish, document)
    return Signed(artifact, target, hashed.digest.hex(), log_index(bundle), publish)


def describe(result: SignResult) -> str:
    return json.dumps(
        {
            "identity": result.identity,
            "issuer": result.issuer,
            "signed": [
                {
                    "artifact": str(s.artifact),
                    "bundle": str(s.bundle),
                    "sha256": s.sha256,
                    "log_index": s.log_index,
                    "publish_attestation": str(s.publish_attestation)
                    if s.publish_attestation
                    else None,
                }
                for s in result.signed
            ],
        },
        indent=2,
    )
