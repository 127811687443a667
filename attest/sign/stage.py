"""The sign stage as a library function: one certificate per run, a bundle per artifact, each
bundle verified against the expected identity before it is written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal, TypeVar

import requests
from sigstore.dsse import Statement as DsseStatement
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import Signer, SigningContext
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity

from attest import retry
from attest.identity import certificate_identity, unverified_claims
from attest.output import write_atomic
from attest.sbom.interface import read_text
from attest.sign import identity, pep740
from verify import forked, logs
from verify.errors import InputError, OperationalError, UsageError, without_input
from verify.evidence import sha256_file
from verify.formats import bundles
from verify.sigstore_adapter import (
    FulcioClientError,
    RekorClientError,
    hashed_digest,
    log_index,
    oidc_url,
)

_log = logs.get(__name__)

Instance = Literal["production", "staging"]
# each call to the CA or the log, 60 s per attempt: sigstore's HTTP requests carry no timeout
RETRY = dataclasses.replace(retry.NETWORK, deadline=60.0)
_SERVICE_ERRORS = (FulcioClientError, RekorClientError, requests.RequestException)
IN_FLIGHT = 4  # artifacts being signed at once, to overlap the round trips to the log
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class SignRequest:
    artifacts: tuple[Path, ...]
    trust_config: Path | None = None
    instance: Instance | None = None
    identity_token: str | None = None
    bundle_dir: Path | None = None
    pep740: bool = False  # also write `<dist>.publish.attestation` for wheels and sdists


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


def load_trust(trust_config: Path | None, instance: Instance | None) -> ClientTrustConfig:
    if trust_config is not None and instance is not None:
        raise UsageError("give --trust-config or --instance, not both")
    if trust_config is not None:
        text = read_text(trust_config)  # a regular file, with a size limit; errors name it
        try:
            return ClientTrustConfig.from_json(text)
        except Exception as e:  # the models' and parsers' refusals: never quoting the file
            problem = f"not a Sigstore ClientTrustConfig: {without_input(e)}"
            raise InputError(trust_config, problem) from e
    try:
        if instance == "staging":
            return ClientTrustConfig.staging()
        return ClientTrustConfig.production()
    except Exception as e:  # TUF refresh: network and metadata errors of many kinds
        raise OperationalError(
            f"cannot load the {instance or 'production'} Sigstore trust root: {e}"
        ) from e


def _answer(error: BaseException) -> str:
    """What the service answered, for the message: the HTTP status and its message."""
    for cause in retry.chain(error):
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            body = cause.response.text.strip().replace("\n", " ")[:200]
            return f"HTTP {cause.response.status_code} {body}".strip()
        if isinstance(cause, (requests.ConnectionError, requests.Timeout)):
            return type(cause).__name__
    return str(error) or type(error).__name__


def _call(call: Callable[[], T], what: str) -> T:
    """`call` against a service, retried on transient failures; errors name the service."""
    try:
        return retry.call(call, RETRY, _SERVICE_ERRORS)
    except retry.GaveUp as e:
        if isinstance(e.error, retry.Late):
            raise OperationalError(
                f"{what} {e.error} ({e.attempts} attempt(s)); retry later (nothing was written "
                "for the artifacts not yet signed)"
            ) from e.error
        raise OperationalError(
            f"{what} failed after {e.attempts} attempt(s): {_answer(e.error)}; retry later "
            "(nothing was written for the artifacts not yet signed)"
        ) from e.error


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
    for artifact in request.artifacts:
        require_file(artifact)
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


@dataclasses.dataclass(frozen=True)
class SigningSession:
    """One short-lived certificate for one identity, and the verifier that checks every
    bundle made with it before anyone writes it."""

    signer: Signer
    verifier: Verifier
    identity: str
    issuer: str

    @property
    def _expected(self) -> Identity:
        return Identity(identity=self.identity, issuer=self.issuer)

    def sign_file(self, hashed: Hashed, what: Path) -> Bundle:
        bundle = _call(partial(self.signer.sign_artifact, hashed), "the transparency log")
        try:
            self.verifier.verify_artifact(hashed, bundle, self._expected)
        except (VerificationError, SigstoreError, ValueError) as e:
            raise _self_check_failed(what, e) from e
        return bundle

    def sign_statement(self, payload: bytes, what: str) -> Bundle:
        """A DSSE bundle over an in-toto statement, verified, and checked to carry exactly
        `payload` (verify_dsse checks no subject: the statement is compared whole)."""
        statement = DsseStatement(payload)
        bundle = _call(partial(self.signer.sign_dsse, statement), "the transparency log")
        try:
            _, signed_payload = self.verifier.verify_dsse(bundle, self._expected)
        except (VerificationError, SigstoreError, ValueError) as e:
            raise _self_check_failed(what, e) from e
        if signed_payload != payload:
            raise _self_check_failed(what, ValueError("the signed statement differs"))
        return bundle


def _self_check_failed(what: object, error: Exception) -> OperationalError:
    """The self-check: sigstore-python does not check the log's answer when signing."""
    return OperationalError(
        f"the new bundle for {what} does not verify ({error}): the CA or the log answered "
        "something wrong; nothing was written for it: retry, and if it persists check the "
        "--trust-config or --instance against the service"
    )


def open_session(
    trust_config: Path | None,
    instance: Instance | None,
    identity_token: str | None,
    token: IdentityToken | None = None,
) -> SigningSession:
    """Load the trust material, find the identity, and get the run's certificate."""
    trust = load_trust(trust_config, instance)
    context = SigningContext.from_trust_config(trust)
    if token is None:
        token = identity.resolve(identity_token, oidc_url(trust))
    who, issuer = certificate_identity(unverified_claims(str(token))), token.federated_issuer
    chosen = token
    signer = _call(lambda: Signer(chosen, context, cache=True), "the CA (certificate request)")
    return SigningSession(signer, Verifier(trusted_root=trust.trusted_root), who, issuer)


PROCESSES = min(forked.cores(), IN_FLIGHT)  # one signing process per core (see forked.py)


@logs.timed(_log, "sign")
def sign(request: SignRequest, token: IdentityToken | None = None) -> SignResult:
    """Sign every artifact with one certificate. Artifacts are shared among forked processes,
    one per core, with threads in each to keep IN_FLIGHT of them in flight: sigstore-python's
    client is CPU-bound in Python, so threads alone would share one core. A bundle is written
    only once it verifies, and the first failure stops the rest."""
    _check_artifacts(request)
    if request.pep740:
        for artifact in request.artifacts:
            pep740.distribution(artifact, "0" * 64)  # a name PyPI accepts, before any signing
    session = open_session(request.trust_config, request.instance, request.identity_token, token)
    count = len(request.artifacts)
    processes = min(PROCESSES, count)
    threads = -(-IN_FLIGHT // processes)  # rounded up
    _log.info("sign: %d artifact(s) as %s, %d process(es)", count, session.identity, processes)
    signed = forked.run(partial(_sign_one, session, request), count, processes, threads)
    return SignResult(session.identity, session.issuer, tuple(signed))


def _sign_one(session: SigningSession, request: SignRequest, item: int) -> Signed:
    artifact = request.artifacts[item]
    hashed = hash_file(artifact)
    bundle = session.sign_file(hashed, artifact)
    publish = None
    if request.pep740:
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
