"""One signing session: where it signs (said on stderr, and confirmed by a person at a terminal
before Sigstore's public production instance), as whom (the identity token's claims, read
before anything is signed), and one short-lived certificate, one request to the CA, for all
the run signs. `attest sign`, `provenance`, `attest` and `build` each open one; `attest
release` opens one after its checks and hands it to every stage, so artifacts, provenance and
attestations carry the same certificate.

Each bundle made in a session is verified against the expected identity before anyone writes
it: sigstore-python does not check the log's answer when signing."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import unicodedata
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import click
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
from attest.identity import certificate_identity, expected_signer, unverified_claims
from attest.inputs import read_text
from attest.sign import identity
from verify import certificate, forked
from verify.errors import InputError, OperationalError, UsageError, without_input
from verify.sigstore_adapter import (
    FulcioClientError,
    RekorClientError,
    oidc_url,
    promising_log,
    require_timestamps,
    settle_environment,
    signer_logging_to,
)
from verify.text import quoted, shown
from verify.trust import timed_verifier

Instance = Literal["production", "staging"]
# each call to the CA or the log, 60 s per attempt: sigstore's HTTP requests carry no timeout
RETRY = dataclasses.replace(retry.NETWORK, deadline=60.0)
_SERVICE_ERRORS = (FulcioClientError, RekorClientError, requests.RequestException)
T = TypeVar("T")
PRODUCTION_CA = "fulcio.sigstore.dev"  # Sigstore's public instance, whatever config names it
STAGING_CA = "fulcio.sigstage.dev"
PRODUCTION_DOMAIN = "sigstore.dev"  # the public instance's CA, logs (v1 and v2 shards) and TSA
STAGING_DOMAIN = "sigstage.dev"  # staging's: its log is public too, and kept
_CI_TRUE = ("true", "1", "yes")  # CI=false, CI=0 or an empty CI is not CI
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


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


@dataclasses.dataclass(frozen=True)
class Where:
    """The instance a run signs against, known by its CA's address (a --trust-config may name
    the public instance too), and the logs and timestamp authorities it would contact:
    `publish_logs`, its Rekor v1 log for PEP 740 attestations (none: it cannot make them)."""

    trust: ClientTrustConfig = dataclasses.field(repr=False)
    ca_url: str
    log_urls: tuple[str, ...] = ()
    tsa_urls: tuple[str, ...] = ()
    publish_logs: tuple[str, ...] = ()

    @staticmethod
    def _public(urls: tuple[str, ...], domain: str | None = None) -> bool:
        """Whether a URL is a public Sigstore service (of `domain`, else of either)."""
        domains = (domain,) if domain else (PRODUCTION_DOMAIN, STAGING_DOMAIN)
        hosts = [host(url) for url in urls]
        return any(h == d or h.endswith("." + d) for h in hosts for d in domains)

    @property
    def _everything(self) -> tuple[str, ...]:
        return (self.ca_url, *self.log_urls, *self.publish_logs, *self.tsa_urls)

    @property
    def production(self) -> bool:
        """Public: Sigstore's CA, any of its logs (a private CA may log publicly) or its
        timestamp authorities, of production or of staging (whose log is public as well)."""
        return self._public(self._everything)

    @property
    def public_name(self) -> str:
        """Which public instance the run writes to, for the question."""
        production = self._public(self._everything, PRODUCTION_DOMAIN)
        return "Sigstore production" if production else "Sigstore staging"

    @property
    def log_owner(self) -> str:
        """Whose public log or TSA it is, for the question."""
        return (
            "Sigstore" if self._public(self._everything, PRODUCTION_DOMAIN) else "Sigstore staging"
        )

    @property
    def public_ca(self) -> bool:
        return host(self.ca_url) in (PRODUCTION_CA, STAGING_CA)

    @property
    def public_log(self) -> bool:
        return self.public_ca or self._public((*self.log_urls, *self.publish_logs))

    def _public_parts(self) -> str:
        """What of a private CA's deployment is public: its log, its TSA."""
        parts = []
        if self._public((*self.log_urls, *self.publish_logs)):
            parts.append(
                f"logging to {self.log_owner}'s public transparency log: identity and digests "
                "are published for good"
            )
        if tsas := [host(u) for u in self.tsa_urls if self._public((u,))]:
            parts.append(f"timestamping with {self.log_owner}'s public TSA {', '.join(tsas)}")
        return "; ".join(parts)

    def describe(self) -> str:
        url, ca = urlsplit(self.ca_url), host(self.ca_url)
        public = "(public: identity and digests are published for good)"
        if ca == PRODUCTION_CA:
            return f"Sigstore production {public}"
        if ca == STAGING_CA:
            return f"Sigstore staging {public}"
        named = (
            f"local instance {url.scheme}://{url.netloc}"
            if ca in _LOOPBACK
            else f"the Sigstore deployment at {self.ca_url}"
        )
        return f"{named}, {self._public_parts()}" if self.production else named


_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # IDNA's label separators


def host(url: str) -> str:
    """The URL's host name as DNS resolves it: IDNA's form (NFKC, so fullwidth letters are
    ASCII; lower case; its ideographic and fullwidth full stops as dots), without the one
    trailing dot a fully qualified name may carry (`FULCIO.SIGSTORE.DEV.` is production)."""
    name = unicodedata.normalize("NFKC", urlsplit(url).hostname or "").translate(_DOTS).lower()
    with contextlib.suppress(UnicodeError):
        name = name.encode("idna").decode("ascii")
    return name[:-1] if name.endswith(".") else name


def where(trust_config: Path | None, instance: Instance | None) -> Where:
    trust = load_trust(trust_config, instance)
    config = trust.signing_config
    tsas = tuple(str(tsa.url) for tsa in config.get_tsas())
    publish = promising_log(trust)
    publish_logs = () if publish is None else (str(getattr(publish, "url", "")),)
    place = Where(trust, config.get_fulcio().url, _log_urls(config), tsas, publish_logs)
    for url in place._everything:
        if problem := _malformed(url):  # only a --trust-config can say it: sigstore's own parse
            raise InputError(trust_config or Path(), f"{problem}: fix the signing config")
    return place


def _malformed(url: str) -> str | None:
    """Why a service URL cannot be used (`https://[zz]`), else None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is no number, or out of range, raises here)
    except ValueError as e:
        return f"the service URL {quoted(url, 64)} is malformed ({e})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"the service URL {quoted(url, 64)} is not an http(s) URL with a host"
    return None


def _log_urls(config: Any) -> tuple[str, ...]:
    """The logs a run would write to (each client's `url`; the protocol type does not name it)."""
    return tuple(str(getattr(log, "url", "")) for log in config.get_tlogs())


# why a run cannot write PEP 740 attestations when the signing config offers no Rekor v1 log
NO_PUBLISH_LOG = (
    "PEP 740 needs a log entry with an inclusion promise (Rekor v1; PyPI takes no other), and "
    "the signing config offers no Rekor v1 log"
)


def require_publish_log(place: Where, why: str) -> None:
    """UsageError, before anything is signed, when `place` cannot log PEP 740 attestations."""
    if not place.publish_logs:
        raise UsageError(f"{why}: {NO_PUBLISH_LOG}; nothing was signed")


def _terminal() -> bool:
    return sys.stdin.isatty()


def in_ci() -> bool:
    """CI says so with CI=true (GitHub Actions, GitLab, most others) or 1 or yes; CI=false,
    0 or an empty CI is a person's shell."""
    return os.environ.get("CI", "").strip().lower() in _CI_TRUE


def interactive() -> bool:
    """Whether a person can answer a question: stdin a terminal, and not CI."""
    return not in_ci() and _terminal()


def announce(place: Where, yes: bool) -> None:
    """Say where the run signs; before public production, a person at a terminal confirms
    (or gave --yes). CI never asks."""
    click.echo(shown(f"attest: signing against {place.describe()}"), err=True)
    if not place.production or yes or not interactive():
        return
    if place.public_log:
        question = f"record these signatures in {place.log_owner}'s public transparency log?"
    else:
        question = f"timestamp these signatures with {place.log_owner}'s public TSA?"
    click.echo(f"attest: {question} [y/N] ", err=True, nl=False)
    if place.public_ca:
        refused = f"signing against {place.public_name}"
    else:
        refused = "signing that logs publicly" if place.public_log else "public timestamping"
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):  # the end of input is no
        raise UsageError(
            f"nothing was signed: {refused} was not confirmed (answer y, or pass --yes)"
        )


@dataclasses.dataclass(frozen=True)
class Credential:
    """The identity token and what its claims say the certificate will name. A token is a
    secret: kept out of repr, never printed."""

    token: IdentityToken = dataclasses.field(repr=False)
    claims: dict[str, Any] = dataclasses.field(repr=False)
    identity: str
    issuer: str

    @property
    def signer(self) -> certificate.Signer:
        """The signer as the gate will read it from the certificate."""
        return expected_signer(self.claims, self.issuer)


def credential(place: Where, explicit: str | None) -> Credential:
    """The run's identity token, from the first source that has one, and its identity."""
    token = identity.resolve(explicit, oidc_url(place.trust))
    claims = unverified_claims(str(token))
    return Credential(token, claims, certificate_identity(claims), token.federated_issuer)


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


@dataclasses.dataclass(frozen=True)
class SigningSession:
    """One short-lived certificate for one identity, and the verifier that checks every
    bundle made with it before anyone writes it. `publisher` signs with the same key and
    certificate into the signing config's Rekor v1 log, for PEP 740 (None: it has none)."""

    signer: Signer
    verifier: Verifier
    identity: str
    issuer: str
    logged: forked.Counter = dataclasses.field(default_factory=forked.Counter, repr=False)
    publisher: Signer | None = None

    @property
    def _expected(self) -> Identity:
        return Identity(identity=self.identity, issuer=self.issuer)

    def _upload(self, sign: Callable[[], Bundle], what: object) -> Bundle:
        """One entry in the log, unless the run was stopped (^C, or another item's failure):
        an entry is for good, so none starts after a stop. Counted, for the interrupt's message."""
        forked.checkpoint(f"signing {what}")
        bundle = _call(sign, "the transparency log")
        self.logged.add()
        return bundle

    def sign_file(self, hashed: Hashed, what: Path) -> Bundle:
        bundle = self._upload(partial(self.signer.sign_artifact, hashed), what)
        try:
            self.verifier.verify_artifact(hashed, bundle, self._expected)
        except (VerificationError, SigstoreError, ValueError) as e:
            raise _self_check_failed(what, e) from e
        return bundle

    def sign_statement(self, payload: bytes, what: str) -> Bundle:
        """A DSSE bundle over an in-toto statement, verified, and checked to carry exactly
        `payload` (verify_dsse checks no subject: the statement is compared whole)."""
        return self._sign_dsse(self.signer, payload, what)

    def sign_publish(self, payload: bytes, what: str) -> Bundle:
        """`sign_statement` into the Rekor v1 log, untimestamped: a PEP 740 attestation keeps
        only the certificate and the log entry, whose inclusion promise is then its time."""
        if self.publisher is None:  # the callers refuse before signing: see require_publish_log
            raise UsageError(f"cannot sign {what}: {NO_PUBLISH_LOG}")
        return self._sign_dsse(self.publisher, payload, what)

    def check_statement(self, bundle: Bundle, payload: bytes, what: str) -> None:
        """The bundle verifies for the session's identity and carries exactly `payload`."""
        try:
            _, signed_payload = self.verifier.verify_dsse(bundle, self._expected)
        except (VerificationError, SigstoreError, ValueError) as e:
            raise _self_check_failed(what, e) from e
        if signed_payload != payload:
            raise _self_check_failed(what, ValueError("the signed statement differs"))

    def _sign_dsse(self, signer: Signer, payload: bytes, what: str) -> Bundle:
        bundle = self._upload(partial(signer.sign_dsse, DsseStatement(payload)), what)
        self.check_statement(bundle, payload, what)
        return bundle


def _self_check_failed(what: object, error: Exception) -> OperationalError:
    """The self-check: sigstore-python does not check the log's answer when signing."""
    return OperationalError(
        f"the new bundle for {what} does not verify ({error}): the CA or the log answered "
        "something wrong; nothing was written for it: retry, and if it persists check the "
        "--trust-config or --instance against the service"
    )


def open_session(place: Where, who: Credential) -> SigningSession:
    """The run's one certificate (one request to the CA) for `who`, at `place`."""
    if not who.token.in_validity_period():
        raise UsageError(
            "the identity token has expired (or is not valid yet); nothing was signed: get a "
            "fresh one and run again"
        )
    context = settle_environment(require_timestamps(SigningContext.from_trust_config(place.trust)))
    signer = _call(lambda: Signer(who.token, context, cache=True), "the CA (certificate request)")
    # the gate's own verifier: the one certificate's chain, SCT and profile verified once for
    # the run, each bundle's signature, timestamps and log entry every time (its last_times,
    # written by each thread, is never read here)
    verifier = timed_verifier(place.trust.trusted_root)
    log = promising_log(place.trust)
    publisher = None if log is None else signer_logging_to(signer, log)
    return SigningSession(signer, verifier, who.identity, who.issuer, publisher=publisher)


def start(
    trust_config: Path | None,
    instance: Instance | None,
    identity_token: str | None,
    *,
    yes: bool = False,
    pep740: bool = False,
) -> SigningSession:
    """A signing command's session: where, said (and confirmed); as whom; one certificate.
    With `pep740`, refused first when it could not log PEP 740 attestations."""
    place = where(trust_config, instance)
    if pep740:
        require_publish_log(place, "--pep740")
    announce(place, yes)
    return open_session(place, credential(place, identity_token))
