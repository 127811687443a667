"""The SBOM stage: CycloneDX 1.6 from an environment, a requirements file or a lock file."""
