"""The adversarial suite reuses the signing tests' local Sigstore instance (a session fixture)."""

from __future__ import annotations

from tests.signing.conftest import instance, release, signed

__all__ = ["instance", "release", "signed"]
