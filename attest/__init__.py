"""attest: the CI-side stages of the supply-chain pipeline (SBOM, scan, sign, provenance)."""

from verify import __version__

__all__ = ["__version__"]
