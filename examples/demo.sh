#!/usr/bin/env bash
# The offline demo of the pipeline on examples/demo-project (run by `make demo`, which puts
# the project's venv first on PATH). Each stage adds its chapter as it lands.
set -euo pipefail
cd "$(dirname "$0")/.."

project=examples/demo-project
out=build/demo
# The example advisories are from July 2026: the scan judges then, the local instance's clock
# starts then (so what it signs is dated then), and the gate judges the day after. Chapter 12
# judges the day before (nothing signed yet), chapter 14 the same release today.
scan_day=2026-07-15T00:00:00Z
rm -rf "$out"
mkdir -p "$out"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
failures() {  # the gate's verdicts, and each failed check with its expected and actual values
  awk '/ALLOW|DENY/ {print; on=0; next} /[0-9]+\. FAIL/ {print; on=1; next} /[0-9]+\. PASS/ {on=0} on' \
    | sed 's/^/   /'
}
summarize() {  # a CycloneDX JSON file: component count, the root, the first purls
  python - "$1" <<'PY'
import json, sys
bom = json.load(open(sys.argv[1]))
root = bom["metadata"].get("component", {})
print(f"   root: {root.get('name')} {root.get('version', '')}")
comps = bom.get("components", [])
hashed = sum(1 for c in comps if c.get("hashes"))
print(f"   {len(comps)} components, {hashed} with hashes, "
      f"{len(bom.get('dependencies', []))} dependency-graph entries")
for c in sorted(comps, key=lambda c: c["purl"])[:5]:
    print(f"   - {c['purl']}")
PY
}

step "1. SBOM from the uv lock file (CycloneDX 1.6, validated, reproducible)"
attest sbom --lock "$project/uv.lock" --reproducible --output "$out/sbom.cdx.json"
summarize "$out/sbom.cdx.json"

step "   ... the same again: byte-identical"
attest sbom --lock "$project/uv.lock" --reproducible --output "$out/sbom-again.cdx.json" 2>/dev/null
cmp "$out/sbom.cdx.json" "$out/sbom-again.cdx.json" && echo "   identical: $(sha256sum "$out/sbom.cdx.json" | cut -c1-16)…"

step "2. SBOM from the exported requirements file (its --hash values carried over)"
attest sbom --requirements "$project/requirements.txt" --project "$project" \
  --reproducible --output "$out/sbom-requirements.cdx.json"
summarize "$out/sbom-requirements.cdx.json"

step "3. SBOM from the PEP 751 lock file, as XML"
attest sbom --lock "$project/pylock.toml" --project "$project" --format xml \
  --output "$out/sbom.cdx.xml"
python - "$out/sbom.cdx.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"c": "http://cyclonedx.org/schema/bom/1.6"}
bom = ET.parse(sys.argv[1]).getroot()
print(f"   {len(bom.findall('c:components/c:component', ns))} components in {bom.tag.split('}')[0][1:]}")
PY

step "4. A broken lock file is refused: exit 2, the file and the problem named, nothing written"
printf 'version = 1\n[[package]]\nname = "x"\nsdist = { hash = "sha256:123" }\n' > "$out/uv.lock"
set +e
attest sbom --lock "$out/uv.lock" --output "$out/never.json"
code=$?
set -e
echo "   exit code $code; output written: $([ -e "$out/never.json" ] && echo yes || echo no)"
[ "$code" -eq 2 ] && [ ! -e "$out/never.json" ]

bash examples/demo_scan.sh

step "5. A local Sigstore instance (OIDC issuer, CA with CT log, transparency log) on 127.0.0.1,
   its clock starting on the scan's day"
state="$out/instance"
attest instance up --state "$state" --ttl 600 --clock "$scan_day"
trap 'attest instance down --state "$state" >/dev/null 2>&1 || true' EXIT
attest instance status --state "$state"
config="$state/trust_config.json"
# One identity for the rest of the story: the release workflow of acme/acme-web.
ATTEST_IDENTITY_TOKEN=$(attest instance token --state "$state" --github acme/acme-web --lifetime 600)
export ATTEST_IDENTITY_TOKEN
identity="https://github.com/acme/acme-web/.github/workflows/release.yml@refs/heads/main"

step "6. Build the example project's wheel and sdist, recorded as a signed in-toto link"
(cd "$project" && SOURCE_DATE_EPOCH=1700000000 attest build --trust-config "$OLDPWD/$config" \
  --step build --product dist -- hatchling build -d dist >/dev/null)
mkdir -p "$out/dist" && mv "$project"/dist/* "$out/dist/" && rmdir "$project/dist"
ls -l "$out/dist" | tail -n +2 | awk '{print "   " $5 "\t" $9}'

step "7. attest release: SBOM, scan, sign, provenance and attestations, then the gate's self-check"
issuer=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["signingConfig"]["oidcUrls"][0]["url"])' "$config")
cat > "$out/policy.yaml" <<YAML
# The demo's gate: the local development instance's root (named, so it is allowed), the
# release workflow of acme/acme-web, and every kind of evidence the pipeline produced.
version: 1
trust:
  trusted_root: instance/trusted_root.json
  allow_development_root: true
identities:
  - issuer: $issuer
    github:
      repository: acme/acme-web
require:
  signature: true
  provenance:
    build_type: https://attest-pipeline.github.io/buildtypes/local/v1
  sbom:
    denied_packages: [pyyaml@5.3]
  vulnerabilities:
    slo: true
  build_link:
    step: build
YAML
dirty=()
if [ -n "$(git status --porcelain)" ]; then
  dirty=(--allow-dirty)
  echo "   (this checkout has changes: the provenance records it as dirty)"
fi
# The scan judges at --now, with the scan chapter's waivers; the gate's self-check judges at the
# signing time, on the instance's clock: the same day.
attest release "$out"/dist/*.whl "$out"/dist/*.tar.gz --project "$project" \
  --policy "$out/policy.yaml" --db examples/advisories --cache-dir "$out/scan/cache" \
  --now "$scan_day" --waivers "$out/scan/waivers.yaml" --out "$out/release" \
  --trust-config "$config" "${dirty[@]}" 2>&1 | grep -v '^attest: warning' | sed 's/^/   /'

step "8. The evidence beside the artifacts: bundles and DSSE-signed statements, timestamped on the scan's day"
python - "$out"/dist/*.sigstore.json "$out"/dist/*.publish.attestation <<'PY'
import base64, datetime, json, sys
from cryptography import x509
from rfc3161_client import decode_timestamp_response
def when(material, entry):
    """A Rekor v2 entry has no integrated time: the TSA's signed timestamp is the bundle's time."""
    if "integratedTime" in entry:
        seconds = int(entry["integratedTime"])
        return "logged", datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    [stamp] = material["timestampVerificationData"]["rfc3161Timestamps"]
    token = decode_timestamp_response(base64.b64decode(stamp["signedTimestamp"]))
    return "timestamped", token.tst_info.gen_time
for path in sorted(p for p in sys.argv[1:] if p.endswith(".publish.attestation")):
    # PEP 740 keeps no timestamp: its entry is in the Rekor v1 log, with an inclusion promise
    [entry] = json.load(open(path))["verification_material"]["transparency_entries"]
    assert entry["inclusionPromise"], f"{path} has no inclusion promise"
    logged = datetime.datetime.fromtimestamp(int(entry["integratedTime"]), datetime.timezone.utc)
    print(f"   {path.rsplit('/', 1)[-1]} (PEP 740, for `twine upload --attestations`)")
    print(f"     Rekor v1 entry {entry['logIndex']}, integrated {logged:%Y-%m-%d %H:%M:%S} UTC,"
          " with an inclusion promise (PyPI's requirement)")
for path in sorted(p for p in sys.argv[1:] if p.endswith(".sigstore.json")):
    bundle = json.load(open(path))
    name = path.rsplit("/", 1)[-1]
    material = bundle["verificationMaterial"]
    entry = material["tlogEntries"][0]
    how, logged = when(material, entry)
    assert f"{logged:%Y-%m-%d}" == "2026-07-15", f"{path} dated {logged}, not on the scan's day"
    print(f"   {name}")
    envelope = bundle.get("dsseEnvelope")
    if envelope is None:
        cert = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]["rawBytes"]))
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        print(f"     signed by {san.get_values_for_type(x509.UniformResourceIdentifier)[0]}")
        print(f"     certificate valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} to"
              f" {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC (the instance's clock, then"
              " 10 minutes past the real now)")
    else:
        statement = json.loads(base64.b64decode(envelope["payload"]))
        names = ", ".join(s["name"].rsplit("/", 1)[-1] for s in statement["subject"])
        print(f"     {statement['predicateType']} over {names}")
    print(f"     {how} {logged:%Y-%m-%d %H:%M:%S} UTC, log index {entry['logIndex']},"
          f" inclusion proof of {len(entry['inclusionProof']['hashes'])} hashes")
PY

step "9. An independent check: sigstore-python's own CLI verifies the wheel's bundle"
wheel=$(ls "$out"/dist/*.whl)
python -m sigstore --trust-config "$config" verify identity \
  --cert-identity "$identity" --cert-oidc-issuer "$issuer" "$wheel"

step "10. The deploy gate, offline: what it checks, then every check with its verdict"
attest verify --explain-policy --policy "$out/policy.yaml" | sed 's/^/   /'
# Judged the day after the scan and the signatures: the waivers still hold.
attest verify --policy "$out/policy.yaml" --now 2026-07-16T00:00:00Z \
  --decision-log "$out/decisions.jsonl" "$out"/dist/*.whl "$out"/dist/*.tar.gz 2>&1 \
  | grep -E 'ALLOW|DENY|FAIL|PASS' | sed 's/^/   /'

step "11. A tampered artifact is refused, with the reason"
mkdir -p "$out/tampered"
cp "$out"/dist/* "$out/tampered/"
printf 'malware' >> "$out"/tampered/*.whl
set +e
attest verify --policy "$out/policy.yaml" --now 2026-07-16T00:00:00Z \
  --decision-log "$out/decisions.jsonl" "$out"/tampered/*.whl 2>&1 | failures
code=${PIPESTATUS[0]}
set -e
echo "   exit code $code (1: denied)"
[ "$code" -eq 1 ]

step "12. Judged the day before it was signed: evidence from after the judging instant does not exist"
set +e
attest verify --policy "$out/policy.yaml" --now 2026-07-14T12:00:00Z \
  --decision-log "$out/decisions.jsonl" "$out"/dist/*.whl 2>&1 | failures
code=${PIPESTATUS[0]}
set -e
echo "   exit code $code (1: denied)"
[ "$code" -eq 1 ]

step "13. The deployer's SLO rules decide, not the producer's: high-severity fixes within 7 days"
sed 's/^    slo: true$/    slo: true\n    windows: {high: 7}/' "$out/policy.yaml" > "$out/policy-strict-slo.yaml"
grep -A2 'vulnerabilities:' "$out/policy-strict-slo.yaml" | sed 's/^/   /'
set +e
attest verify --policy "$out/policy-strict-slo.yaml" --now 2026-07-16T00:00:00Z \
  --decision-log "$out/decisions.jsonl" "$out"/dist/*.whl 2>&1 | failures
code=${PIPESTATUS[0]}
set -e
echo "   exit code $code (1: denied)"
[ "$code" -eq 1 ]

step "14. The same release, judged today: its waivers have expired, fixes are overdue: refused"
set +e
attest verify --policy "$out/policy.yaml" --decision-log "$out/decisions.jsonl" \
  "$out"/dist/*.whl 2>&1 | failures
code=${PIPESTATUS[0]}
set -e
echo "   exit code $code (1: denied)"
[ "$code" -eq 1 ]

step "15. The decision log is hash-chained: any edit is found"
attest verify-log "$out/decisions.jsonl"
sed -i '1s/"ALLOW"/"DENY"/' "$out/decisions.jsonl"
set +e
attest verify-log "$out/decisions.jsonl" 2>&1 | sed 's/^/   /'
code=${PIPESTATUS[0]}
set -e
echo "   exit code $code (1: the log was tampered with)"
[ "$code" -eq 1 ]

step "Done: SBOMs, scan reports, artifacts, bundles, attestations and decisions are in $out/"
