"""Container images as subjects: image references, a small OCI distribution client, OCI image
layout directories, and the evidence (Sigstore bundles stored as OCI referrers) of an image."""
