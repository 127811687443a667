"""The built-in SBOM sources, each registered in the `attest.sbom_sources` entry-point group."""
