"""`attest release`: the whole pipeline before a release, on a laptop or in CI."""
