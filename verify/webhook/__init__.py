"""`attest webhook`: the gate as a Kubernetes validating admission webhook. `review` reads an
AdmissionReview and writes its answer, `judging` decides on one image, `mounted` keeps the
policy and trust root current, `server` serves reviews over TLS, `command` is the click layer."""
