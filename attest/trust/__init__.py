"""Trust roots, producer side: `attest trust update` fetches public Sigstore's trusted root
through TUF for the offline gate (verify/trust_store.py reads it)."""
