"""The action scripts' tests reuse the signing tests' local Sigstore instance (a session
fixture) and their signed release (one per module)."""

from __future__ import annotations

from tests.signing.conftest import instance, signed

__all__ = ["instance", "signed"]
