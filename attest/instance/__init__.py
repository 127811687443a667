"""A local Sigstore-compatible instance: OIDC issuer, CA with a CT log, and a Rekor v1
transparency log, for offline development, demos, air-gapped trials and the tests.

Its trust root is a development root: the gate refuses it unless a policy names it.
"""
