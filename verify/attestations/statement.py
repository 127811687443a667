"""Moved to verify/formats/statement.py; re-exported for modules not yet switched over."""

from verify.formats.statement import PYPI_PUBLISH_V1, InvalidAttestation, short

__all__ = ["PYPI_PUBLISH_V1", "InvalidAttestation", "short"]
