"""The sign stage: keyless Sigstore bundles for artifacts, verified before they are written."""
