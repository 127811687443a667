"""`--timeout DURATION`: read and said as verify/timeouts.py does (the deploy side's `attest verify`
takes one too, and verify never imports attest)."""

from verify.timeouts import spoken, timeout_of

__all__ = ["spoken", "timeout_of"]
