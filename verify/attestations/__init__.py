"""in-toto Statement v1 and the predicates attest writes, as typed models validated on write
(by attest) and on read (by the gate): both sides parse exactly the same formats."""

from verify.attestations.statement import (
    STATEMENT_TYPE,
    InvalidAttestation,
    Statement,
    Subject,
)

__all__ = ["STATEMENT_TYPE", "InvalidAttestation", "Statement", "Subject"]
