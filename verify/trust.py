"""Trust roots the gate verifies against: the public Sigstore roots (as `attest trust update`
last refreshed them, else as they ship inside the sigstore package; no network), or a pinned
`trusted_root.json`. A root whose CA names the local development instance is recognised here
so that the gate can refuse it without consent."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from sigstore.models import Bundle, TrustedRoot

from verify.errors import UsageError, library_warnings, unquoted, without_input
from verify.files import MIB, NotRegular, TooLarge, read_limited
from verify.once import VERIFIED
from verify.sigstore_adapter import (
    TUF_URLS,
    CertificateAuthorityModel,
    PublicKeyModel,
    TimedVerifier,
    TimeRange,
    TrustedRootModel,
    authority_certificates,
    certificate_der,
    check_key,
    ct_log_keys,
    ct_logs,
    declared_logs,
    embedded_trusted_root,
    entry_log_id,
    log_keys,
    root_digest,
    root_log_ids,
)
from verify.text import excerpt
from verify.trust_store import Incomplete, Refreshed, refreshed_root

# The CA organization of `attest instance`: a root naming it is for development only.
DEV_ORGANIZATION = "attest development instance (not for production)"
MAX_TRUST_ROOT = 4 * MIB  # public Sigstore's root is ~10 KB


_SNAKE = {
    "certificateAuthorities": "certificate_authorities",
    "timestampAuthorities": "timestamp_authorities",
    "tlogs": "tlogs",
    "ctlogs": "ctlogs",
}


class TrustError(UsageError):
    """The trust root cannot be read: a configuration problem (fix the policy or the file)."""


@dataclasses.dataclass(frozen=True)
class Trust:
    """A loaded trust root: where it came from, its bytes' digest and what it says."""

    name: str  # "production", "staging" or the file path
    sha256: str
    root: TrustedRoot
    development: bool  # a CA of the local development instance is in it
    newest_start: datetime.datetime | None  # the latest validFor.start: when it last changed
    updated: datetime.datetime | None = None  # when `attest trust update` verified these bytes
    origin: str = ""  # where the bytes came from, for people
    refreshed: Path | None = None  # the file `attest trust update` refreshed, when read from it
    note: str = ""  # why a refreshed root was not used, for the decision

    def fresh_at(self, now: datetime.datetime) -> datetime.datetime | None:
        """Since when the root is known current, as of `now`: its last change or its last
        verified update, whichever is later (an update after `now` did not happen yet)."""
        known = [t for t in (self.newest_start, self.updated) if t is not None and t <= now]
        return max(known) if known else None

    def update_hint(self) -> str:
        """How to get a newer root: what a person does about an old one."""
        if self.name in TUF_URLS:
            option = "" if self.name == "production" else f" --instance {self.name}"
            return (
                f"run `attest trust update{option}` on a host with network access to refresh "
                "it through Sigstore's TUF repository"
            )
        return f"replace the pinned trusted root {self.name} with a newer one"


def _starts(root: TrustedRootModel) -> list[datetime.datetime]:
    """Every validFor.start of the root, as the verifier reads it."""
    periods = [
        *(ca.valid_for for ca in root.certificate_authorities or ()),
        *(log.public_key.valid_for for log in (*(root.tlogs or ()), *(root.ctlogs or ()))),
        *(tsa.valid_for for tsa in root.timestamp_authorities or ()),
    ]
    return [p.start for p in periods if p is not None and p.start is not None]


def _certificates(root: TrustedRootModel) -> list[x509.Certificate]:
    """Every certificate of the root's CAs and timestamp authorities."""
    authorities = [*(root.certificate_authorities or ()), *(root.timestamp_authorities or ())]
    return [
        x509.load_der_x509_certificate(cert.raw_bytes)
        for authority in authorities
        for cert in authority.cert_chain.certificates
    ]


class _Malformed(ValueError):
    """A part of the trusted root that the verifier could not use; the message names it."""


def _authority(where: str, authority: CertificateAuthorityModel) -> None:
    certificates = authority.cert_chain.certificates
    if not certificates:
        raise _Malformed(f"{where}.certChain: no certificate")
    for i, certificate in enumerate(certificates):
        try:
            x509.load_der_x509_certificate(certificate.raw_bytes)
        except ValueError as e:
            raise _Malformed(f"{where}.certChain.certificates[{i}]: not a DER certificate") from e


def _key(where: str, key: PublicKeyModel) -> None:
    try:
        check_key(key)  # sigstore's own reading (it only logs a key it cannot read, and skips it)
    except Exception as e:  # "public key is empty", "invalid key format: not one of (...)"
        reason = unquoted(str(e).partition(":")[0])
        raise _Malformed(f"{where}: not a key sigstore can use ({reason})") from e


class _NotYet(_Malformed):
    """A part the verifier needs has no entry valid yet: the root cannot serve until then."""


def _started(kind: str, periods: list[TimeRange | None]) -> None:
    """At least one of `periods` has started, on the clock (sigstore's reading: it skips an
    entry that starts later, and with none left cannot verify at all; an ended one still
    serves what was signed before its end, and the gate refuses the rest, naming why)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    starts = [period.start if period is not None else None for period in periods]
    if all(start is not None and start > now for start in starts):
        earliest = min(start for start in starts if start is not None)
        raise _NotYet(
            f"{kind}: every validFor starts after now (the earliest at {earliest.isoformat()}), "
            "so sigstore can verify nothing with it"
        )


def _check(root: TrustedRootModel) -> None:
    """Every certificate and key of `root` loads, and it has what every verification needs:
    a CA, a transparency log and a CT log, each with one that has started. sigstore reads each
    only when a bundle is verified, and skips a key it cannot load with a log line: the root
    would deny everything, or fail as an internal error, instead of being refused when it is
    loaded."""
    for kind in ("certificateAuthorities", "tlogs", "ctlogs"):
        if not getattr(root, _SNAKE[kind]):
            raise _Malformed(f"{kind}: empty, but every verification needs one")
    _started("certificateAuthorities", [ca.valid_for for ca in root.certificate_authorities])
    _started("tlogs", [log.public_key.valid_for for log in root.tlogs])
    _started("ctlogs", [log.public_key.valid_for for log in root.ctlogs])
    for kind in ("certificateAuthorities", "timestampAuthorities"):
        for i, authority in enumerate(getattr(root, _SNAKE[kind]) or ()):
            _authority(f"{kind}[{i}]", authority)
    for kind in ("tlogs", "ctlogs"):
        for i, log in enumerate(getattr(root, _SNAKE[kind])):
            _key(f"{kind}[{i}].publicKey", log.public_key)


def _is_development(root: TrustedRootModel) -> bool:
    """Whether any certificate of the root, or any CA's label, names the development instance.
    The certificates decide: the label is free text that anyone can rename."""
    labelled = any(
        ca.subject is not None and ca.subject.organization == DEV_ORGANIZATION
        for ca in root.certificate_authorities or ()
    )
    return labelled or any(
        attribute.value == DEV_ORGANIZATION
        for cert in _certificates(root)
        for name in (cert.subject, cert.issuer)
        for attribute in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )


def _read_root(source: Path) -> bytes:
    try:
        return read_limited(source, MAX_TRUST_ROOT, "a trusted root")
    except FileNotFoundError as e:
        raise TrustError(f"{source}: no such trusted root file") from e
    except (TooLarge, NotRegular) as e:
        raise TrustError(str(e)) from e
    except OSError as e:
        raise TrustError(f"{source}: cannot read the trusted root: {e.strerror or e}") from e


@dataclasses.dataclass(frozen=True)
class _Read:
    root: TrustedRoot
    development: bool
    starts: list[datetime.datetime]


def read_root(raw: bytes, source: Path | str) -> _Read:
    """The trusted root in `raw` (from `source`), checked whole: TrustError naming what is wrong."""
    try:
        with library_warnings() as warnings:
            inner = TrustedRootModel.from_json(raw)
            root = TrustedRoot(inner)
            _check(inner)
            read = _Read(root, _is_development(inner), _starts(inner))
        if warnings:
            raise _Malformed(f"sigstore cannot use it: {unquoted(warnings[0].getMessage())}")
    except _NotYet as e:
        raise TrustError(f"{source}: a Sigstore trusted root not valid yet: {e}") from e
    except _Malformed as e:
        raise TrustError(f"{source}: a malformed Sigstore trusted root: {e}") from e
    except Exception as e:  # the models' and parsers' refusals: never quoting the file
        raise TrustError(
            f"{source}: not a readable Sigstore trusted root: {without_input(e)}"
        ) from e
    return read


def load_trust(name: str, path: Path | None) -> Trust:
    """The pinned file at `path`, else the root named `production` or `staging`: the one
    `attest trust update` refreshed (verify/trust_store.py) when there is one, else the one
    embedded in sigstore. Read once (a regular file, at most MAX_TRUST_ROOT), so the digest
    logged, the development check and the keys verified with are all of the same bytes."""
    found = refreshed_root(name) if path is None and name in TUF_URLS else None
    refreshed = found if isinstance(found, Refreshed) else None
    if refreshed is not None:
        source, raw, origin = refreshed.path, refreshed.raw, f"refreshed through TUF, {name}"
    else:
        source = path if path is not None else embedded_trusted_root(name)
        raw = _read_root(source)
        origin = str(path) if path is not None else f"embedded in sigstore, {name}"
    read = read_root(raw, source)
    return Trust(
        name=str(path) if path is not None else name,
        sha256=hashlib.sha256(raw).hexdigest(),
        root=read.root,
        development=read.development,
        newest_start=max(read.starts) if read.starts else None,
        updated=refreshed.updated if refreshed is not None else None,
        origin=origin,
        refreshed=refreshed.path if refreshed is not None else None,
        note=f"not a refreshed root: {found.why}" if isinstance(found, Incomplete) else "",
    )


LogPeriods = dict[bytes, list[TimeRange | None]]


def log_periods(root: TrustedRoot) -> LogPeriods:
    """The validFor of every transparency log key of `root`, by the id a log entry names: the
    SHA-256 of the key's DER encoding (sigstore's), or the log id the root declares (Rekor v2
    entries name their log so). Read once per verifier."""
    return _periods(log_keys(root) + declared_logs(root))


def log_valid_at(periods: LogPeriods, key_id: bytes, when: datetime.datetime) -> bool:
    """Whether a log key with `key_id` (or a CT log's key, or a CA by its certificate's DER)
    was valid at `when`, its validFor a closed range.
    sigstore-python only drops a key whose start is after the wall clock, so a key the root
    retired in 1971 would still vouch for an entry it says was integrated in 2026."""
    return any(
        period is None or (period.start <= when and (period.end is None or when <= period.end))
        for period in periods.get(key_id, ())
    )


def _periods(pairs: list[tuple[bytes, TimeRange | None]]) -> LogPeriods:
    periods: LogPeriods = {}
    for key, valid_for in pairs:
        periods.setdefault(key, []).append(valid_for)
    return periods


@dataclasses.dataclass(frozen=True)
class RootIndex:
    """What of a trust root a bundle must name: its logs, its CT logs, its CAs' certificates;
    and when the root says each CA and CT log key was valid (sigstore checks neither)."""

    log_ids: frozenset[bytes]
    ct_log_ids: frozenset[bytes]
    authorities: tuple[x509.Certificate, ...]
    digest: str  # the root's (sigstore_adapter.root_digest): what its results are kept by
    authority_periods: LogPeriods  # by each CA certificate's DER
    ct_periods: LogPeriods  # by key id


def root_index(root: TrustedRoot) -> RootIndex:
    """`root` indexed once per verifier (log ids as keys' ids, and as each log declares it)."""
    authorities = authority_certificates(root)
    return RootIndex(
        log_ids=frozenset(key_id for key_id, _ in log_keys(root)) | frozenset(root_log_ids(root)),
        ct_log_ids=frozenset(ct_log_keys(root)),
        authorities=tuple(x509.load_der_x509_certificate(der) for der, _ in authorities),
        digest=root_digest(root),
        authority_periods=_periods(authorities),
        ct_periods=_periods(ct_logs(root)),
    )


def _short(key_id: bytes) -> str:
    return f"{key_id.hex()[:16]}…"


def _issuer(index: RootIndex, certificate: x509.Certificate) -> str | None:
    """What is wrong with who issued `certificate`, if anything the root can tell."""
    issuer = certificate.issuer
    named = [ca for ca in index.authorities if ca.subject == issuer]
    if not named:
        known = "; ".join(
            sorted({excerpt(ca.subject.rfc4514_string()) for ca in index.authorities})
        )
        return (
            f"its certificate's issuer '{excerpt(issuer.rfc4514_string())}' is not a certificate "
            f"authority of the trust root (it holds: {known})"
        )
    for ca in named:
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return _issued_in(index, ca, certificate)
    return (
        f"its certificate names the trust root's certificate authority "
        f"'{excerpt(issuer.rfc4514_string())}' as issuer, but that authority's key did not sign it"
    )


def _issued_in(index: RootIndex, ca: x509.Certificate, certificate: x509.Certificate) -> str | None:
    """Whether `certificate` was issued (its notBefore) while the root says its CA was valid."""
    issued = certificate.not_valid_before_utc
    der = ca.public_bytes(serialization.Encoding.DER)
    if log_valid_at(index.authority_periods, der, issued):
        return None
    return (
        f"its certificate was issued at {issued.isoformat()}, outside the validFor of its "
        f"certificate authority '{excerpt(ca.subject.rfc4514_string())}' in the trust root"
    )


def _scts(certificate: x509.Certificate) -> list[tuple[bytes, datetime.datetime]]:
    """Each SCT's CT log id and time."""
    try:
        extension = certificate.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        )
    except x509.ExtensionNotFound:
        return []
    return [
        (sct.log_id, sct.timestamp.replace(tzinfo=datetime.timezone.utc)) for sct in extension.value
    ]


def mismatches(index: RootIndex, bundle: Bundle) -> list[str]:
    """What the bundle names that the trust root does not hold: its transparency log, the
    certificate authority (by name, then by key) and the CT log of its certificate."""
    found = []
    log_id = entry_log_id(bundle)
    if log_id not in index.log_ids:
        found.append(
            f"its transparency log entry names log id {_short(log_id)}, not a log of the trust "
            f"root (it holds: {', '.join(sorted(_short(i) for i in index.log_ids))})"
        )
    certificate = bundle.signing_certificate
    key = ("certificate mismatches", index.digest, certificate_der(bundle))
    return found + list(VERIFIED.once(key, lambda: _certificate_mismatches(index, certificate)))


def _certificate_mismatches(index: RootIndex, certificate: x509.Certificate) -> tuple[str, ...]:
    """What of the certificate's issuer and CT logs the root does not hold: the same for every
    bundle of one certificate, found once (verify/once.py)."""
    issuer = _issuer(index, certificate)
    return (
        *([issuer] if issuer is not None else []),
        *(
            f"its certificate's SCT names CT log id {_short(ct)}, not a CT log of the trust root"
            for ct, _ in _scts(certificate)
            if ct not in index.ct_log_ids
        ),
        *(
            f"its certificate's SCT of CT log id {_short(ct)} is dated {when.isoformat()}, "
            "outside the validFor of that CT log's key in the trust root"
            for ct, when in _scts(certificate)
            if ct in index.ct_log_ids and not log_valid_at(index.ct_periods, ct, when)
        ),
    )


def timed_verifier(root: TrustedRoot) -> TimedVerifier:
    """A verifier keeping each bundle's verified times; the log's time counts only when the
    root's log key was valid then; a bundle the root does not match is refused naming what."""
    return TimedVerifier(
        trusted_root=root,
        log_time_valid=partial(log_valid_at, log_periods(root)),
        mismatches=partial(mismatches, root_index(root)),
    )
