#!/usr/bin/env bash
# The webhook's TLS certificate, with openssl only (no cert-manager): a CA of your own, a
# server certificate for the Service's DNS names signed by it, the Secret the Deployment
# mounts, and the caBundle for webhook.yaml. Run where kubectl reaches the cluster; keep ca.key
# offline (it can mint a certificate the API server would trust for the webhook).
set -euo pipefail
SERVICE=attest-webhook
NAMESPACE=attest-system
DAYS=${DAYS:-365}
out=${1:-./attest-webhook-tls}
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$DAYS" \
  -keyout ca.key -out ca.crt -subj "/CN=attest-webhook-ca"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout tls.key -out tls.csr -subj "/CN=$SERVICE.$NAMESPACE.svc"
printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc\nextendedKeyUsage=serverAuth\n' \
  "$SERVICE" "$SERVICE" "$NAMESPACE" "$SERVICE" "$NAMESPACE" > san.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile san.ext -out tls.crt
kubectl -n "$NAMESPACE" create secret tls "$SERVICE-tls" --cert=tls.crt --key=tls.key \
  --dry-run=client -o yaml > secret.yaml
echo "caBundle for webhook.yaml: $(base64 -w0 < ca.crt)"
echo "apply: kubectl apply -f $out/secret.yaml"
