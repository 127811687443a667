"""Provenance and attestations: SLSA v1 provenance, SBOM / vulnerability / SLO statements and
in-toto build links, as in-toto Statement v1, DSSE-signed keylessly."""
