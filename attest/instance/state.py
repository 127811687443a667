"""The instance's persistent state in its directory: keys, CA certificates, configuration.

Everything is created once and reused, so restarts keep the same trust root, issuer and log.
The instance's clock may be shifted into the past (`instance up --clock`): a fixed offset from the
real clock, kept here so that restarts keep it and `status` says it.
Private keys are written 0600 inside a 0700 directory; an existing directory that others can
read or write, or that another user owns, is refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attest.output import write_atomic
from verify.errors import OperationalError, UsageError
from verify.files import MIB, NotRegular, TooLarge, read_limited
from verify.trust import DEV_ORGANIZATION as DEV_ORGANIZATION  # the gate owns the name

STATE_VERSION = 1
TRUSTED_ROOT = "trusted_root.json"
TRUST_CONFIG = "trust_config.json"  # a ClientTrustConfig: the trusted root and signing config
HOST = "127.0.0.1"
# tlog: the Rekor v1 log's key; tlog2: the Rekor v2 log's (its own tree and checkpoints)
_KEYS = ("issuer", "ca-root", "ca-intermediate", "ctlog", "tlog", "tlog2", "tsa")
REKOR_VERSIONS = (1, 2)
DEFAULT_REKOR_VERSION = 2  # what the signing config announces unless `up --rekor-version 1`
REAL_TIME = datetime.timedelta(0)
MAX_STATE_FILE = MIB  # a key, a certificate or the configuration: a few KB


def utcnow() -> datetime.datetime:
    """The real clock."""
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """The Sigstore / RFC 6962 log id: SHA-256 of the key's SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(key)).digest()


def key_usage(*, signing: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def read_own(path: Path, limit: int = MAX_STATE_FILE) -> bytes:
    """A file of the state: private, but a FIFO or a huge file there must not hang or fill
    memory. A regular file of at most `limit` bytes, else an error naming it."""
    try:
        return read_limited(path, limit, "a file of the instance's state")
    except FileNotFoundError as e:
        raise UsageError(f"{path}: missing from the instance's state") from e
    except (TooLarge, NotRegular) as e:
        raise UsageError(str(e)) from e
    except OSError as e:
        raise OperationalError(f"cannot read {path}: {e.strerror or e}") from e


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        try:
            key = serialization.load_pem_private_key(read_own(path), password=None)
        except (ValueError, TypeError) as e:  # never quoting the file: it holds a key
            raise UsageError(f"{path}: not a PEM private key without a password") from e
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise UsageError(f"{path}: not an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey,
    name: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer_name: x509.Name | None,
    not_before: datetime.datetime,
    path_length: int,
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if issuer_name is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclasses.dataclass
class State:
    """The loaded state of one instance directory."""

    directory: Path
    port: int
    created: datetime.datetime
    keys: dict[str, ec.EllipticCurvePrivateKey]
    root: x509.Certificate
    intermediate: x509.Certificate
    clock_offset: datetime.timedelta = REAL_TIME  # negative: the instance lives in the past
    tsa: x509.Certificate | None = None  # the timestamp authority's leaf, issued by the root
    rekor_version: int = DEFAULT_REKOR_VERSION  # the log version the signing config announces

    def now(self) -> datetime.datetime:
        """The instance's time: what its certificates, SCTs and log entries are dated."""
        return utcnow() + self.clock_offset

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def issuer_url(self) -> str:
        return f"{self.base_url}/oidc"

    @property
    def log_dir(self) -> Path:
        return self.directory / "log"

    @property
    def valid_from(self) -> datetime.datetime:
        """Start of every validity window in the trust root: before the first signature."""
        return self.created - datetime.timedelta(hours=1)


def _read_config(path: Path) -> dict[str, object]:
    try:
        config = json.loads(read_own(path))
    except (ValueError, RecursionError) as e:  # not JSON, or nested past the parser's depth
        raise UsageError(f"{path}: unreadable instance configuration: {e}") from e
    if not isinstance(config, dict):
        raise UsageError(f"{path}: not an attest instance state (version {STATE_VERSION})")
    if config.get("version") != STATE_VERSION or not isinstance(config.get("port"), int):
        raise UsageError(f"{path}: not an attest instance state (version {STATE_VERSION})")
    if not isinstance(config.get("clock_offset_seconds", 0), int):
        raise UsageError(f"{path}: clock_offset_seconds must be a whole number of seconds")
    if config.get("rekor_version", DEFAULT_REKOR_VERSION) not in REKOR_VERSIONS:
        raise UsageError(f"{path}: rekor_version must be one of {REKOR_VERSIONS}")
    return config


def require_private(directory: Path) -> None:
    """Refuse a state directory others can read (the private keys) or write (keys, CA and pid
    file replaced: a forged trust root), as ssh refuses a key with loose permissions."""
    info = directory.stat()
    if info.st_uid != os.geteuid():
        raise UsageError(
            f"{directory} belongs to uid {info.st_uid}, not to you (uid {os.geteuid()}): its "
            "owner can replace the instance's keys; use a state directory of your own"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        can = "replace" if mode & 0o022 else "read"
        raise UsageError(
            f"{directory} has mode {mode:04o}: others can {can} the instance's private keys; "
            f"run `chmod 700 {directory}`"
        )


_CA = ("root", "intermediate")


def _certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(read_own(path))
    except ValueError as e:
        raise UsageError(f"{path}: not a PEM certificate") from e


def load_state(directory: Path) -> State:
    """Load an existing instance directory."""
    config_path = directory / "instance.json"
    if not config_path.exists():
        raise UsageError(f"{directory} is not an instance state directory (run `instance up`)")
    require_private(directory)
    config = _read_config(config_path)
    keys = {name: _load_or_create_key(directory / "keys" / f"{name}.pem") for name in _KEYS}
    root, intermediate = (_certificate(directory / "ca" / f"{n}.pem") for n in _CA)
    created = datetime.datetime.fromisoformat(str(config["created"]))
    offset = datetime.timedelta(seconds=int(str(config.get("clock_offset_seconds", 0))))
    version = int(str(config.get("rekor_version", DEFAULT_REKOR_VERSION)))
    state = State(directory, int(str(config["port"])), created, keys, root, intermediate, offset)
    state.rekor_version = version
    state.tsa = _tsa_certificate(state)
    return state


def _tsa_certificate(state: State) -> x509.Certificate:
    """The timestamp authority's certificate, issued once by the instance's root (a state made
    before the instance had a TSA gets one on its next load): critical EKU timeStamping only,
    as RFC 3161 section 2.3 requires, valid from the trust root's start."""
    path = state.directory / "ca" / "tsa.pem"
    if path.exists():
        return _certificate(path)
    public = state.keys["tsa"].public_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, "attest-dev timestamp authority"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(state.root.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(state.valid_from)
        .not_valid_after(state.valid_from + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(state.keys["ca-root"].public_key()),
            critical=False,
        )
        .sign(state.keys["ca-root"], hashes.SHA256())
    )
    write_atomic(path, certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


def _write_config(state: State) -> None:
    config = {
        "version": STATE_VERSION,
        "port": state.port,
        "created": state.created.isoformat(),
        "development": True,
        "clock_offset_seconds": int(state.clock_offset.total_seconds()),
        "rekor_version": state.rekor_version,
    }
    write_atomic(state.directory / "instance.json", json.dumps(config, indent=2).encode() + b"\n")


def set_clock_offset(state: State, offset: datetime.timedelta) -> State:
    """The same state on another clock, persisted for restarts."""
    shifted = dataclasses.replace(state, clock_offset=offset)
    _write_config(shifted)
    return shifted


def set_rekor_version(state: State, version: int) -> State:
    """The same state announcing another log version, persisted for restarts."""
    changed = dataclasses.replace(state, rekor_version=version)
    _write_config(changed)
    return changed


def create_state(
    directory: Path,
    port: int,
    clock_offset: datetime.timedelta = REAL_TIME,
    rekor_version: int = DEFAULT_REKOR_VERSION,
) -> State:
    """Create a new instance directory bound to `port` (URLs in the trust root name it). Its CA
    and trust root start an hour before the instance's now, on its clock: a shifted clock's
    first signature must chain to a CA already valid then."""
    now = utcnow() + clock_offset
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:  # the --state named cannot be a directory of ours: the command line's
        raise UsageError(
            f"--state {directory}: cannot create the state directory ({e.strerror or e}): "
            "name a directory you can write to"
        ) from e
    info = directory.stat()
    if not stat.S_IMODE(info.st_mode) & 0o022 and not any(directory.iterdir()):
        directory.chmod(0o700)  # an empty directory (`mkdir state`) that only we can write to
    require_private(directory)  # keys already in it would be used: they must be ours alone
    for sub in ("keys", "ca", "log"):
        (directory / sub).mkdir(mode=0o700, exist_ok=True)
    keys = {name: _load_or_create_key(directory / "keys" / f"{name}.pem") for name in _KEYS}
    not_before = now - datetime.timedelta(hours=1)
    root = _ca_certificate(keys["ca-root"], "attest-dev root", keys["ca-root"], None, not_before, 1)
    intermediate = _ca_certificate(
        keys["ca-intermediate"], "attest-dev intermediate", keys["ca-root"], root.subject,
        not_before, 0,
    )  # fmt: skip
    for name, cert in (("root", root), ("intermediate", intermediate)):
        write_atomic(
            directory / "ca" / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM)
        )
    (directory / "ca" / "tsa.pem").unlink(missing_ok=True)  # issued by an earlier root
    state = State(directory, port, now, keys, root, intermediate, clock_offset)
    state.rekor_version = rekor_version
    state.tsa = _tsa_certificate(state)
    _write_config(state)
    return state
