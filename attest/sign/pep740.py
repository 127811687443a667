"""PEP 740 attestations: `<dist>.publish.attestation` beside a wheel or sdist, the form
`twine upload --attestations` publishes to PyPI.

The statement is pypi-attestations' publish statement (one subject: the distribution file name
and sha256, no predicate), written by the one statement model; it is signed through the run's
signing session, with its one certificate, but logged in the signing config's Rekor v1 log: an
attestation carries only the certificate and the log entry, so a Rekor v2 entry (no inclusion
promise, no integrated time) would leave it without a time, and PyPI refuses it. Converted
with pypi-attestations, and verified as converted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from verify.errors import OperationalError, UsageError

if TYPE_CHECKING:
    from pypi_attestations import Distribution

    from attest.sign.session import SigningSession
    from verify.formats.statement import Statement

# pypi-attestations and the statement model are imported where they are used, as `--pep740` is
# rare: with pyasn1 and jsonschema they add ~150 ms to the start of every `attest sign`.


def distribution(artifact: Path, sha256: str) -> Distribution:
    """The artifact as a distribution PyPI accepts (a valid wheel or sdist file name)."""
    from pypi_attestations import Distribution

    try:
        return Distribution(name=artifact.name, digest=sha256)
    except ValueError as e:
        raise UsageError(f"--pep740 needs wheels and sdists; {artifact.name} is neither") from e


def is_distribution(artifact: Path) -> bool:
    """Whether the artifact's name is a wheel's or an sdist's that PyPI accepts."""
    try:
        distribution(artifact, "0" * 64)
    except UsageError:
        return False
    return True


def statement(dist: Distribution) -> Statement:
    """The publish statement over `dist`, unsigned."""
    from verify.formats.predicates import PYPI_PUBLISH_V1
    from verify.formats.statement import Statement, Subject

    return Statement((Subject(dist.name, dist.digest),), PYPI_PUBLISH_V1, {})


def attest(session: SigningSession, dist: Distribution) -> bytes:
    """The PEP 740 attestation JSON for `dist`: logged in the Rekor v1 log (an attestation
    keeps no signed timestamp, so its entry's inclusion promise is its only time), and
    verified as written, read back as the bundle a verifier makes of it."""
    from pypi_attestations import Attestation, AttestationError

    payload, what = statement(dist).to_json(), f"{dist.name} (PEP 740)"
    bundle = session.sign_publish(payload, what)
    try:
        attestation = Attestation.from_bundle(bundle)
        written = attestation.to_bundle()
    except AttestationError as e:
        raise OperationalError(f"cannot express the bundle for {dist.name} as PEP 740: {e}") from e
    session.check_statement(written, payload, what)
    return attestation.model_dump_json().encode()
