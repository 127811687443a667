"""The one door to sigstore-python's internals: its private modules and attributes, the
sigstore-models layer beneath its public classes, and the Verifier hook that keeps a bundle's
verified times. Nothing else in attest or verify reaches past sigstore's public API.

Written for sigstore >=4.5,<4.6 and sigstore-models 0.0.6 (pyproject.toml pins those ranges;
requirements/*.lock hold 4.5.1 and 0.0.6). INTERNALS lists every upstream name used here;
tests/test_upstream_adapters.py resolves each, so an upgrade that moves one fails naming it."""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from rfc3161_client import TimeStampResponse, VerifierBuilder
from rfc3161_client import VerificationError as Rfc3161VerificationError
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor import RekorClientError
from sigstore._internal.rekor.checkpoint import verify_checkpoint
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore._internal.sct import verify_sct
from sigstore._internal.timestamp import (
    TimestampAuthorityClient,
    TimestampError,
    TimestampSource,
    TimestampVerificationResult,
)
from sigstore._internal.trust import Key, KeyringPurpose
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import (
    Bundle,
    ClientTrustConfig,
    SigningConfig,
    TransparencyLogEntry,
    TrustedRoot,
)
from sigstore.verify import Verifier
from sigstore.verify.verifier import (
    MAX_ALLOWED_TIMESTAMP,
    VERIFIED_TIME_THRESHOLD,
    _validate_hashedrekord_v002_entry_body,
)
from sigstore_models.common.v1 import HashAlgorithm, TimeRange
from sigstore_models.common.v1 import PublicKey as PublicKeyModel
from sigstore_models.trustroot.v1 import CertificateAuthority as CertificateAuthorityModel
from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootModel

from verify import timestamps
from verify.certificate import signing_key_problem
from verify.errors import OperationalError
from verify.formats import strict_json
from verify.once import VERIFIED
from verify.text import excerpt, quoted
from verify.upstream import Internal

if TYPE_CHECKING:  # signing is the producer's: the gate does not import it
    from requests.sessions import _Settings  # types-requests' name for what requests merges
    from sigstore.sign import Signer, SigningContext

__all__ = [
    "INTERNALS",
    "TUF_URLS",
    "CertificateAuthorityModel",
    "FulcioClientError",
    "PublicKeyModel",
    "RekorClientError",
    "RootMismatch",
    "TimeRange",
    "TimedVerifier",
    "TrustedRootModel",
    "authority_certificates",
    "certificate_der",
    "check_key",
    "ct_log_keys",
    "ct_logs",
    "dsse_payload",
    "embedded_trusted_root",
    "embedded_tuf_root",
    "entry_log_id",
    "hashed_digest",
    "integrated_time",
    "log_index",
    "log_keys",
    "oidc_url",
    "promising_log",
    "root_digest",
    "root_log_ids",
    "settle_environment",
    "signer_logging_to",
    "tuf_directory_name",
]


INTERNALS: tuple[Internal, ...] = (
    Internal("sigstore._internal.fulcio.client", "FulcioClientError", "the CA's errors, retried"),
    Internal("sigstore._internal.rekor", "RekorClientError", "the log's errors, retried"),
    Internal("sigstore._internal.timestamp", "TimestampSource.TRANSPARENCY_SERVICE", "log time"),
    Internal("sigstore._internal.timestamp", "TimestampVerificationResult", "a verified time"),
    Internal("sigstore._internal.trust", "Key", "a log key's id", ("public_key",)),
    Internal(
        "sigstore.verify.verifier",
        "Verifier._establish_time",
        "TimedVerifier's hook: the verified times of a bundle",
        ("self", "bundle"),
    ),
    Internal(
        "sigstore.verify.verifier",
        "Verifier._verify_common_signing_cert",
        "TimedVerifier's steps (0) to (6), the certificate's verified once",
        ("self", "bundle", "policy"),
    ),
    Internal(
        "sigstore.verify.verifier",
        "Verifier._verify_chain_at_time",
        "a certificate's chain at a verified time",
        ("self", "certificate", "timestamp_result"),
    ),
    Internal("sigstore.verify.verifier", "VERIFIED_TIME_THRESHOLD", "verified times needed"),
    Internal("sigstore.verify.verifier", "MAX_ALLOWED_TIMESTAMP", "timestamps a bundle may hold"),
    Internal(
        "sigstore.verify.verifier",
        "_validate_hashedrekord_v002_entry_body",
        "a Rekor v2 entry's body against the bundle, where the JSON comparison differs",
        ("bundle", "hashed_input"),
    ),
    Internal(
        "sigstore.models",
        "Bundle",
        "the signing certificate's DER as the bundle holds it",
        instance="_inner.verification_material",
    ),
    Internal("sigstore.models", "Bundle", "its media type", instance="_inner.media_type"),
    Internal(
        "sigstore.verify.verifier",
        "Verifier._verify_signed_timestamp",
        "TimedVerifier's: a token verified directly, its authority's chain once",
        ("self", "timestamp_response", "message"),
    ),
    Internal(
        "sigstore._internal.trust",
        "CertificateAuthority.certificates",
        "a timestamp authority's chain (none before its validFor)",
        ("self", "allow_expired"),
    ),
    Internal(
        "sigstore._internal.sct",
        "verify_sct",
        "a certificate's SCT",
        ("cert", "chain", "ct_keyring"),
    ),
    Internal("sigstore._internal.merkle", "verify_merkle_inclusion", "an entry's inclusion proof"),
    Internal(
        "sigstore._internal.rekor.checkpoint",
        "verify_checkpoint",
        "an inclusion proof's checkpoint",
    ),
    Internal("sigstore._internal.trust", "KeyringPurpose.VERIFY", "keyrings to verify with"),
    Internal("sigstore.models", "TransparencyLogEntry._verify_set", "an inclusion promise"),
    Internal("sigstore.models", "TrustedRoot.ct_keyring", "the CT logs' keys"),
    Internal("sigstore.models", "TrustedRoot.rekor_keyring", "the logs' keys"),
    Internal("sigstore", "_store", "the public roots the wheel carries (a data directory)"),
    Internal(
        "sigstore.models",
        "Bundle",
        "an attestation's payload",
        instance="_inner.dsse_envelope.payload",
    ),
    Internal("sigstore.models", "TransparencyLogEntry", "log index", instance="_inner.log_index"),
    Internal(
        "sigstore.models", "TransparencyLogEntry", "log time", instance="_inner.integrated_time"
    ),
    Internal(
        "sigstore.models", "TransparencyLogEntry", "which log key", instance="_inner.log_id.key_id"
    ),
    Internal("sigstore.models", "TrustedRoot", "the root's logs", instance="_inner.tlogs"),
    Internal("sigstore.models", "TrustedRoot", "the root's CT logs", instance="_inner.ctlogs"),
    Internal(
        "sigstore.models",
        "TrustedRoot",
        "the root's CAs",
        instance="_inner.certificate_authorities",
    ),
    Internal("sigstore.models", "SigningConfig", "the OIDC issuers", instance="_inner.oidc_urls"),
    Internal(
        "sigstore.models",
        "SigningConfig.__init__",
        "a signing config's Rekor v1 logs, for PEP 740",
        ("self", "inner", "tlog_version"),
    ),
    Internal("sigstore.models", "SigningConfig", "its model, re-read", instance="_inner"),
    Internal("sigstore.sign", "Signer", "a signer's context", instance="_signing_ctx"),
    Internal("sigstore.sign", "SigningContext", "its CA client", instance="_fulcio"),
    Internal("sigstore.sign", "SigningContext", "its trust root", instance="_trusted_root"),
    Internal("sigstore_models.common.v1", "HashAlgorithm.SHA2_256", "a digest's algorithm"),
    Internal("sigstore_models.common.v1", "PublicKey", "a root's key"),
    Internal("sigstore_models.common.v1", "TimeRange", "a key's validFor"),
    Internal("sigstore_models.trustroot.v1", "CertificateAuthority", "a root's CA"),
    Internal("sigstore_models.trustroot.v1", "TrustedRoot.from_json", "a root, read"),
    Internal(
        "sigstore.models",
        "TrustedRoot",
        "the root's TSAs",
        instance="_inner.timestamp_authorities",
    ),
    Internal("sigstore._internal.timestamp", "TimestampError", "a TSA's failure, only a warning"),
    Internal(
        "sigstore._internal.timestamp",
        "TimestampAuthorityClient",
        "a TSA client whose failure is one",
        ("url",),
    ),
    Internal("sigstore.sign", "SigningContext", "its TSA clients", instance="_tsa_clients"),
    Internal("sigstore.sign", "SigningContext", "its log client", instance="_rekor"),
    Internal(
        "sigstore._internal.rekor.client_v2",
        "RekorV2Client",
        "a v2 log client whose session reads the environment once",
        ("base_url",),
    ),
    Internal("sigstore._internal.rekor.client_v2", "RekorV2Client", "its URL", instance="url"),
    Internal(
        "sigstore._internal.rekor.client_v2",
        "RekorV2Client._session",
        "its session per thread (kept in _thread_local.session)",
    ),
    Internal(
        "sigstore._internal.rekor.client_v2",
        "RekorV2Client",
        "its sessions",
        instance="_thread_local",
    ),
    Internal("sigstore._internal.timestamp", "TimestampAuthorityClient._session", "its session"),
    Internal(
        "sigstore._internal.timestamp",
        "TimestampAuthorityClient",
        "its sessions",
        instance="_thread_local",
    ),
    Internal(
        "sigstore.sign",
        "Signer._finalize_sign",
        "the TSA asked before the entry is logged",
        ("self", "cert", "content", "proposed_entry"),
    ),
)

# public Sigstore's TUF repositories (sigstore.\_internal.tuf's DEFAULT_TUF_URL and
# STAGING_TUF_URL): sigstore keeps each one's files in a directory named by its URL, quoted
TUF_URLS = {
    "production": "https://tuf-repo-cdn.sigstore.dev",
    "staging": "https://tuf-repo-cdn.sigstage.dev",
}


def tuf_directory_name(url: str) -> str:
    """The name sigstore gives a TUF repository's directories (its `_get_dirs`): the URL
    without a trailing slash, percent-encoded whole."""
    return quote(url.rstrip("/"), safe="")


def _embedded(name: str, file: str) -> Path:
    store = resources.files("sigstore").joinpath("_store")
    return Path(str(store.joinpath(tuf_directory_name(TUF_URLS[name])).joinpath(file)))


def embedded_trusted_root(name: str) -> Path:
    """The trusted_root.json of public Sigstore (`production` or `staging`) in the wheel."""
    return _embedded(name, "trusted_root.json")


def embedded_signing_config(name: str) -> Path:
    """The signing config (v0.2) of public Sigstore (`production` or `staging`) in the wheel."""
    return _embedded(name, "signing_config.v0.2.json")


def embedded_tuf_root(name: str) -> Path:
    """The TUF root metadata (root.json) of public Sigstore's repository in the wheel: where
    trust in its TUF repository starts."""
    return _embedded(name, "root.json")


def check_key(key: PublicKeyModel) -> None:
    """sigstore's own reading of a root's key: raises what sigstore raises when it cannot use
    it (it would only log that and leave the key out)."""
    Key(key)


def log_keys(root: TrustedRoot) -> list[tuple[bytes, TimeRange | None]]:
    """The id (sigstore's: the SHA-256 of the key's DER encoding, as a log entry names it) and
    the validFor of every transparency log key of `root`."""
    return [(Key(log.public_key).key_id, log.public_key.valid_for) for log in root._inner.tlogs]


def log_keys_at(root: TrustedRoot, urls: Iterable[str]) -> set[bytes]:
    """The key ids of `root`'s transparency logs serving any of `urls` (a log client's URL
    starts with its log's `baseUrl`): a run that writes there is logged by one of them."""
    bases = [(log.base_url.rstrip("/"), Key(log.public_key).key_id) for log in root._inner.tlogs]
    wanted = [url.rstrip("/") for url in urls]
    return {k for base, k in bases if any(u == base or u.startswith(base + "/") for u in wanted)}


def ct_log_keys(root: TrustedRoot) -> list[bytes]:
    """The id of every CT log key of `root` (sigstore's, as an SCT names it)."""
    return [key_id for key_id, _ in ct_logs(root)]


def ct_logs(root: TrustedRoot) -> list[tuple[bytes, TimeRange | None]]:
    """The id and the validFor of every CT log key of `root`."""
    return [(Key(log.public_key).key_id, log.public_key.valid_for) for log in root._inner.ctlogs]


def root_log_ids(root: TrustedRoot) -> list[bytes]:
    """The log id every transparency log of `root` declares (`logId.keyId`)."""
    return [key_id for key_id, _ in declared_logs(root)]


def declared_logs(root: TrustedRoot) -> list[tuple[bytes, TimeRange | None]]:
    """The log id each transparency log of `root` declares (a Rekor v2 entry names its log so,
    not by its key's SHA-256) and the validFor of its key."""
    return [
        (log.log_id.key_id, log.public_key.valid_for)
        for log in root._inner.tlogs
        if log.log_id is not None
    ]


def authority_certificates(root: TrustedRoot) -> list[tuple[bytes, TimeRange | None]]:
    """The DER of every certificate of `root`'s certificate authorities, with its CA's validFor."""
    return [
        (certificate.raw_bytes, authority.valid_for)
        for authority in root._inner.certificate_authorities
        for certificate in authority.cert_chain.certificates
    ]


class SettledSession(requests.Session):
    """A requests session that reads the environment's settings for a URL (its proxy, as
    HTTPS_PROXY and NO_PROXY say; REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) once per host and
    arguments, not at every request: requests walks the whole environment twice a request
    (~0.2 ms, a tenth of a signature's client time, two requests a signature). The settings
    are requests' own for that host (proxies depend on the host alone); the environment is the
    process's, which nothing changes during a run. ~/.netrc is still read per request."""

    def __init__(self) -> None:
        super().__init__()
        self._settled: dict[object, _Settings] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        parts = urlsplit(str(url))
        proxied = tuple(sorted((proxies or {}).items()))
        key = (parts.scheme, parts.netloc, proxied, stream, verify, cert, self.trust_env)
        try:
            settled = self._settled.get(key)
        except TypeError:  # an unhashable argument: as requests does it
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if settled is None:
            given = dict(proxies or {})  # requests adds the environment's into it
            settled = super().merge_environment_settings(url, given, stream, verify, cert)
            self._settled[key] = settled
        answer = settled.copy()
        answer["proxies"] = dict(settled["proxies"])  # each request its own
        return answer


def _settled(local: threading.local, session: requests.Session) -> requests.Session:
    """The thread's session sigstore made (with its headers), as a SettledSession."""
    if isinstance(session, SettledSession):
        return session
    settled = SettledSession()
    settled.headers.update(session.headers)
    session.close()
    local.session = settled
    return settled


class _SettledRekorV2(RekorV2Client):
    """sigstore's Rekor v2 client, each thread's session a SettledSession."""

    @property
    def _session(self) -> requests.Session:
        return _settled(self._thread_local, super()._session)


def settle_environment(context: SigningContext) -> SigningContext:
    """`context`, its Rekor v2 log client reading the environment once per host (its TSA
    clients do, see require_timestamps); a v1 log's client as sigstore makes it."""
    if type(context._rekor) is RekorV2Client:
        context._rekor = _SettledRekorV2(context._rekor.url.removesuffix("/api/v2"))
    return context


class _RequiredTimestamp(TimestampAuthorityClient):
    """A TSA client whose failure stops the signing: sigstore-python asks each TSA before it
    logs the entry, but only warns when one fails, then logs the entry and fails to build a
    Rekor v2 bundle (none without a timestamp) as an internal error. Its sessions read the
    environment once per host (SettledSession)."""

    @property
    def _session(self) -> requests.Session:
        return _settled(self._thread_local, super()._session)

    def request_timestamp(self, signature: bytes) -> Any:  # rfc3161-client's response
        try:
            return super().request_timestamp(signature)
        except TimestampError as e:  # not one any more: sigstore would only warn
            cause = e.__context__  # the HTTP failure it was raised for, if any
            why = type(cause).__name__ if isinstance(cause, requests.RequestException) else e
            raise OperationalError(
                f"the timestamp authority {quoted(self.url, 200)} did not answer "
                f"({excerpt(why)}): a Rekor v2 bundle needs a signed timestamp, and the signing "
                "config asks for one; "
                "nothing was logged or written for it: retry later, or check the signing config"
            ) from e


def require_timestamps(context: SigningContext) -> SigningContext:
    """`context`, each of whose TSAs must answer before anything is logged."""
    context._tsa_clients = [_RequiredTimestamp(client.url) for client in context._tsa_clients]
    return context


def timestamp_chains(root: TrustedRoot) -> set[tuple[bytes, ...]]:
    """The DER certificate chain of every timestamp authority of `root`."""
    return {
        tuple(certificate.raw_bytes for certificate in authority.cert_chain.certificates)
        for authority in root._inner.timestamp_authorities or ()
    }


def entry_log_id(bundle: Bundle) -> bytes:
    """The log id the bundle's transparency log entry names."""
    key_id: bytes = bundle.log_entry._inner.log_id.key_id
    return key_id


_V03 = frozenset({Bundle.BundleType.BUNDLE_0_3.value, Bundle.BundleType.BUNDLE_0_3_ALT.value})


def certificate_der(bundle: Bundle) -> bytes:
    """The DER of the bundle's signing certificate, as the bundle holds it: the very bytes
    sigstore read `bundle.signing_certificate` from (its rule: a v0.3 bundle's `certificate`,
    else the first of its chain), with no re-encoding (three per bundle cost 8% of a gate)."""
    material = bundle._inner.verification_material
    chain = material.x509_certificate_chain
    held = (
        material.certificate
        if bundle._inner.media_type in _V03
        else chain and chain.certificates[0]
    )
    if not held:  # sigstore refuses to read such a bundle: never here
        raise VerificationError("the bundle holds no signing certificate")
    der: bytes = held.raw_bytes
    return der


def hashed_digest(sha256: str) -> Hashed:
    """The SHA-256 digest (hex) as sigstore's prehashed input."""
    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256))


def log_index(bundle: Bundle) -> int:
    return bundle.log_entry._inner.log_index


def integrated_time(bundle: Bundle) -> int | None:
    """The log entry's integrated time (seconds since the epoch), if it has one."""
    return bundle.log_entry._inner.integrated_time


def dsse_payload(bundle: Bundle) -> bytes | None:
    """The DSSE envelope's payload, decoded and NOT verified; None for a message signature."""
    envelope = bundle._inner.dsse_envelope
    return None if envelope is None else envelope.payload


def oidc_url(config: ClientTrustConfig) -> str | None:
    """The first OIDC issuer the signing config names, as written (none: None)."""
    urls = config.signing_config._inner.oidc_urls
    return urls[0].url if urls else None


def promising_log(config: ClientTrustConfig) -> Any | None:
    """A client of the signing config's first Rekor v1 log (its entries carry an inclusion
    promise, which PEP 740 attestations need: PyPI takes no other), else None."""
    try:
        v1 = SigningConfig(config.signing_config._inner, tlog_version=1)
    except (SigstoreError, ValueError):  # no valid v1 log (or too few for an EXACT selector)
        return None
    return v1.get_tlogs()[0]


def signer_logging_to(signer: Signer, log: Any) -> Signer:
    """`signer` (its key and certificate: no second request to the CA) writing its entries to
    `log`, untimestamped (a PEP 740 attestation keeps no timestamp: what is verified is what
    is written). A shallow copy: the original keeps its log and timestamp authorities."""
    from sigstore.sign import SigningContext

    context = signer._signing_ctx
    copied = copy.copy(signer)
    copied._signing_ctx = SigningContext(
        fulcio=context._fulcio, rekor=log, trusted_root=context._trusted_root, tsa_clients=[]
    )
    return copied


def root_digest(root: TrustedRoot) -> str:
    """The SHA-256 of `root` as read (its canonical JSON): what a result verified under it is
    kept by, so nothing verified under one root is believed under another."""
    return hashlib.sha256(root._inner.to_json().encode()).hexdigest()


_KEY_DETAILS = {  # the algorithm registry's name of a Sigstore ECDSA key, by its curve
    "secp256r1": "PKIX_ECDSA_P256_SHA_256",
    "secp384r1": "PKIX_ECDSA_P384_SHA_384",
    "secp521r1": "PKIX_ECDSA_P521_SHA_512",
}


def _body_is(
    bundle: Bundle, digest: bytes, signature: bytes, key: ec.EllipticCurvePublicKey
) -> bool:
    """Whether the Rekor v2 entry's canonicalized body is, as JSON (no key repeated), the
    hashedrekord v0.0.2 entry of this SHA-256 `digest`, `signature` and signing certificate:
    the body sigstore expects, so its comparison would pass too."""
    details = _KEY_DETAILS.get(key.curve.name)
    if details is None:
        return False

    def text(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    expected = {
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": "SHA2_256", "digest": text(digest)},
                "signature": {
                    "content": text(signature),
                    "verifier": {
                        "x509Certificate": {"rawBytes": text(certificate_der(bundle))},
                        "keyDetails": details,
                    },
                },
            }
        },
    }
    try:
        body = json.loads(
            bundle.log_entry._inner.canonicalized_body, object_pairs_hook=strict_json.unique_keys
        )
    except (ValueError, strict_json.RepeatedKey):
        return False
    return bool(body == expected)


def _window(certificates: list[x509.Certificate]) -> tuple[datetime.datetime, datetime.datetime]:
    """When every one of `certificates` is valid (an empty window for none)."""
    if not certificates:
        return datetime.datetime.max.replace(
            tzinfo=datetime.timezone.utc
        ), datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return (
        max(c.not_valid_before_utc for c in certificates),
        min(c.not_valid_after_utc for c in certificates),
    )


def _valid_at(certificates: list[x509.Certificate], when: datetime.datetime) -> bool:
    return all(c.not_valid_before_utc <= when <= c.not_valid_after_utc for c in certificates)


def _in_period(authority: Any, when: datetime.datetime) -> bool:
    """sigstore's reading of a timestamp authority's validFor: from its start, before its end."""
    end = authority.validity_period_end
    return bool(authority.validity_period_start <= when and (end is None or when < end))


class RootMismatch(VerificationError):
    """The bundle names a log, CA or key the trust root does not hold; the message says which
    (input in it only as short escaped excerpts)."""


class TimedVerifier(Verifier):
    """sigstore's Verifier, keeping the times it verified for the last bundle: the log's
    integrated time (bound by the inclusion promise) and every RFC 3161 timestamp that verified
    against the trust root; the log's time only when `log_time_valid(key id, time)` holds (the
    root's validFor, which sigstore does not check), and for an entry without one every
    timestamp. Used by one thread at a time."""

    last_times: tuple[datetime.datetime, ...] = ()

    def __init__(
        self,
        *,
        trusted_root: TrustedRoot,
        log_time_valid: Callable[[bytes, datetime.datetime], bool],
        mismatches: Callable[[Bundle], list[str]] = lambda bundle: [],
    ) -> None:
        super().__init__(trusted_root=trusted_root)
        self._log_time_valid = log_time_valid
        self._mismatches = mismatches
        self.root_digest = root_digest(trusted_root)
        self._ct_keyring = trusted_root.ct_keyring(KeyringPurpose.VERIFY)
        self._log_keyring = trusted_root.rekor_keyring(KeyringPurpose.VERIFY)
        # the root's timestamp authorities, each with its chain's DER and the window where all
        # of the chain is valid: read once
        self._authorities = [
            (authority, tuple(c.public_bytes(serialization.Encoding.DER) for c in chain), window)
            for authority in trusted_root.get_timestamp_authorities()
            for chain in [authority.certificates(allow_expired=True)]
            for window in [_window(chain)]
        ]

    def _certificate(
        self, cert: x509.Certificate, der: bytes, times: list[TimestampVerificationResult]
    ) -> None:
        """Steps (1) to (3) but the identity policy: the chain to the root at every verified
        time, the SCT, the code-signing profile. All but the validity windows is the same for
        every bundle of one certificate: verified once (by its DER bytes and the root's
        digest); each time is checked against the chain's windows for every bundle, and a time
        outside them takes the chain afresh at that time (raising its refusal)."""

        def verified() -> list[x509.Certificate]:
            chain: list[x509.Certificate] = []
            for vts in times:
                chain = self._verify_chain_at_time(cert, vts)
            try:
                verify_sct(cert, chain, self._ct_keyring)
            except VerificationError as e:
                raise VerificationError(f"failed to verify SCT on signing certificate: {e}") from e
            if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
                raise VerificationError("Key usage is not of type `digital signature`")
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if x509.oid.ExtendedKeyUsageOID.CODE_SIGNING not in usages:
                raise VerificationError("Extended usage does not contain `code signing`")
            problem = signing_key_problem(cert)
            if problem is not None:
                raise VerificationError(f"signing certificate: {problem}")
            return [cert, *chain]

        chain = VERIFIED.once(("certificate", self.root_digest, der), verified)
        for vts in times:
            if not _valid_at(chain, vts.time):
                self._verify_chain_at_time(cert, vts)

    def _entry(self, entry: TransparencyLogEntry) -> None:
        """Steps (4) and (5): the entry's inclusion proof and promise, each entry's own; its
        checkpoint's signature (and that it is the proof's root) verified once per text."""
        verify_merkle_inclusion(entry)
        proof = entry._inner.inclusion_proof
        checkpoint = proof.checkpoint.envelope if proof.checkpoint is not None else None

        def verified() -> bool:
            verify_checkpoint(self._log_keyring, entry)
            return True

        # kept by the digest of its log, exact text and root: checkpoints may differ per entry,
        # and thousands of them kept whole held 0.7 KiB each
        log = entry._inner.log_id.key_id
        text = hashlib.sha256(repr((log, checkpoint, proof.root_hash)).encode()).digest()
        VERIFIED.once((self.root_digest, text), verified)
        if entry._inner.inclusion_promise and entry._inner.integrated_time:
            entry._verify_set(self._log_keyring)

    def _verify_signed_timestamp(
        self, timestamp_response: TimeStampResponse, message: bytes
    ) -> TimestampVerificationResult | None:
        """sigstore's, each token's own signature verified directly (verify/timestamps.py) and
        each authority's chain once by sigstore's own means (rfc3161-client over that chain),
        then only its validity windows at each token's time. A token of a form not read there
        takes sigstore's path whole; one that does not verify counts for no time (None)."""
        try:
            token = timestamps.read(timestamp_response.time_stamp_token())
        except timestamps.Unsupported:
            return super()._verify_signed_timestamp(timestamp_response, message)
        except (timestamps.Refused, ValueError, IndexError):  # not DER, or not a token
            return None
        info = timestamp_response.tst_info  # rfc3161-client's reading must be the same
        if (
            timestamp_response.status != 0  # GRANTED
            or info.gen_time != token.gen_time
            or info.message_imprint.message != token.imprint
        ):
            return None
        for authority, ders, window in self._authorities:
            chain = authority.certificates(allow_expired=True)  # none if not yet valid
            if len(chain) < 2 or not _in_period(authority, token.gen_time):
                continue
            try:
                timestamps.verify(token, message, chain[0], ders[0])
            except (timestamps.Refused, ValueError, IndexError):
                continue
            valid = window[0] <= token.gen_time <= window[1]
            if self._timestamp_chain(chain, ders, valid, timestamp_response, message):
                return TimestampVerificationResult(
                    source=TimestampSource.TIMESTAMP_AUTHORITY, time=token.gen_time
                )
        return None

    def _timestamp_chain(
        self,
        chain: list[x509.Certificate],
        ders: tuple[bytes, ...],
        valid: bool,
        timestamp_response: TimeStampResponse,
        message: bytes,
    ) -> bool:
        """Whether the authority's `chain` is valid for the token: verified once by
        rfc3161-client (OpenSSL's PKCS7_verify over this chain alone, as sigstore does), kept by
        its DER and the root's digest; after that, `valid` (every certificate of it valid at
        the token's time), and a token at a time outside that verified afresh."""
        key = ("timestamp chain", self.root_digest, ders)
        if valid and VERIFIED.get(key) is not None:
            return True
        builder = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1])
        for certificate in chain[1:-1]:
            builder = builder.add_intermediate_certificate(certificate)
        try:
            builder.build().verify_message(timestamp_response, message)
        except Rfc3161VerificationError:
            return False
        VERIFIED.put(key, True)
        return True

    def _verify_common_signing_cert(self, bundle: Bundle, policy: Any) -> None:
        """sigstore's steps (0) to (6), in its order, each certificate verified once."""
        cert = bundle.signing_certificate
        times = self._establish_time(bundle)
        if len(times) < VERIFIED_TIME_THRESHOLD:
            raise VerificationError("not enough sources of verified time")
        self._certificate(cert, certificate_der(bundle), times)
        policy.verify(cert)
        try:
            self._entry(bundle.log_entry)
        except VerificationError as e:
            raise VerificationError(f"invalid log entry: {e}") from e
        for vts in times:
            if not _valid_at([cert], vts.time):
                raise VerificationError(
                    f"invalid signing cert: expired at time of signing, time via {vts}"
                )

    def _matching(self, bundle: Bundle) -> None:
        """Name what of the bundle the trust root does not hold (its log, its CA, a key)
        before sigstore tries: it would say only "candidates exhausted" or blame a time."""
        found = self._mismatches(bundle)
        if found:
            raise RootMismatch(f"it does not match the trust root: {'; '.join(found)}")

    def _signed_times(self, bundle: Bundle) -> list[TimestampVerificationResult]:
        """sigstore's `_establish_time`, its rules in its order, the timestamps decoded once
        (sigstore decodes them at each access, and compares them by re-encoding each): the
        root must name a timestamp authority when the bundle has a timestamp; at most
        MAX_ALLOWED_TIMESTAMP, none twice; each that verifies is a time; and the log's
        integrated time, for a dsse or hashedrekord 0.0.1 entry that promises it."""
        results = []
        data = bundle.verification_material.timestamp_verification_data
        if data is not None:
            if not self._authorities:
                raise VerificationError(
                    "no Timestamp Authorities have been provided to validate this bundle but "
                    "it contains a signed timestamp"
                )
            responses = data.rfc3161_timestamps
            if len(responses) > MAX_ALLOWED_TIMESTAMP:
                raise VerificationError(
                    f"too many signed timestamp: {len(responses)} > {MAX_ALLOWED_TIMESTAMP}"
                )
            if len(responses) > 1 and len({r.as_bytes() for r in responses}) < len(responses):
                raise VerificationError("duplicate timestamp found")
            signature = bundle.signature
            results += [
                found
                for response in responses
                if (found := self._verify_signed_timestamp(response, signature))
            ]
        entry = bundle.log_entry._inner
        if entry.integrated_time and entry.inclusion_promise:
            kind = entry.kind_version
            if not (kind.kind in ("dsse", "hashedrekord") and kind.version == "0.0.1"):
                raise VerificationError(
                    "Integrated time only supported for dsse/hashedrekord 0.0.1 types"
                )
            results.append(
                TimestampVerificationResult(
                    source=TimestampSource.TRANSPARENCY_SERVICE,
                    time=datetime.datetime.fromtimestamp(
                        entry.integrated_time, tz=datetime.timezone.utc
                    ),
                )
            )
        return results

    def _establish_time(self, bundle: Bundle) -> list[TimestampVerificationResult]:
        results = self._signed_times(bundle)
        key_id = bundle.log_entry._inner.log_id.key_id
        logged = [r for r in results if r.source is TimestampSource.TRANSPARENCY_SERVICE]
        # an entry without an integrated time (Rekor v2's) is dated by its signed timestamps
        dated = "the integrated time of the log entry" if logged else "a signed timestamp"
        for result in logged or results:
            if not self._log_time_valid(key_id, result.time):
                raise VerificationError(
                    f"{dated} is outside the validFor of the log key in the trusted root"
                    + ("" if logged else f" ({result.time.isoformat()}; the entry has no other)")
                )
        self.last_times = tuple(r.time for r in results)
        return results

    def verify_artifact(self, input_: Any, bundle: Bundle, policy: Any) -> None:
        """sigstore's steps (0) to (8), in its order. For a SHA-256 digest and a Rekor v2
        entry, (7) and (8) are done here: the signature verified with the certificate's key
        (as sigstore does), and the entry's body compared, as JSON, with the body the digest,
        the signature and the certificate make; a body that differs from it in any way is
        left to sigstore's own comparison, which raises its refusal (or, for a spelling
        this one does not know, accepts it)."""
        self.last_times = ()  # never a time left over from another bundle
        self._matching(bundle)
        kind = bundle.log_entry._inner.kind_version
        if not (
            isinstance(input_, Hashed)
            and input_.algorithm == HashAlgorithm.SHA2_256
            and (kind.kind, kind.version) == ("hashedrekord", "0.0.2")
        ):
            super().verify_artifact(input_, bundle, policy)
            return
        self._verify_common_signing_cert(bundle, policy)
        signature = bundle._inner.message_signature
        if signature is None:
            raise VerificationError("Missing bundle message signature")
        if (
            signature.message_digest is not None
            and input_.digest != signature.message_digest.digest
        ):
            raise VerificationError("Bundle message digest mismatch")
        key = bundle.signing_certificate.public_key()
        try:  # an ECDSA key on a Sigstore curve: `_certificate` refused any other
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(signature.signature, input_.digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature as e:
            raise VerificationError("Signature is invalid for input") from e
        if not _body_is(bundle, input_.digest, signature.signature, key):
            _validate_hashedrekord_v002_entry_body(bundle, input_)

    def verify_dsse(self, bundle: Bundle, policy: Any) -> tuple[str, bytes]:
        self.last_times = ()
        self._matching(bundle)
        return super().verify_dsse(bundle, policy)
