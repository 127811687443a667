"""What may be signed as a message signature. On a Rekor v2 log a DSSE envelope is logged as a
hashedrekord over its pre-authentication encoding (PAE, `DSSEv1 <len> <type> <len> <body>`):
sigstore-python signs and verifies DSSE that way. So a message signature over bytes that are a
PAE is also a valid DSSE signature: whoever gets such a file signed holds an attestation (a
provenance, a VSA) in the signer's name. Such bytes are refused before anything is signed."""

from __future__ import annotations

from pathlib import Path

from verify.errors import InputError, OperationalError
from verify.files import NotRegular, open_regular

PAE = b"DSSEv1 "  # how every DSSE pre-authentication encoding starts


def refuse_pae(head: bytes, what: Path | str) -> None:
    """InputError when `head` (the first bytes of what is about to be signed) starts a PAE."""
    if head.startswith(PAE):
        raise InputError(
            what,
            "starts with 'DSSEv1 ', a DSSE pre-authentication encoding: signed, such bytes would "
            "also be a DSSE signature (an attestation in your name) on a Rekor v2 log; refused, "
            "nothing was signed",
        )


def require_message(path: Path) -> None:
    """`path`'s bytes may be signed as a message (its first bytes read; `path` a regular file)."""
    try:
        with open_regular(path) as handle:
            head = handle.read(len(PAE))
    except NotRegular as e:
        raise InputError(path, "is not a regular file") from e
    except OSError as e:
        raise OperationalError(f"cannot read {path}: {e.strerror or e}") from e
    refuse_pae(head, path)
