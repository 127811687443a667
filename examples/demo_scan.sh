#!/usr/bin/env bash
# The scan chapter of the demo: the demo project's SBOM against a small real advisory set
# (examples/advisories, PyPA advisory database records, CC-BY-4.0), judged at a fixed time.
# An overdue finding fails the stage (exit 1); a waiver file lets it pass (exit 0).
# Assumes `attest` on PATH and the repository root as the working directory; exits non-zero
# when the story does not go as told.
set -euo pipefail

project=examples/demo-project
db=examples/advisories
out=build/demo/scan
now=2026-07-15T00:00:00Z  # fixed: the set's newest record is 2026-07-13, within max_db_age
rm -rf "$out"
mkdir -p "$out"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
fail() { echo "demo_scan: $*" >&2; exit 1; }

step "scan 1. The project's SBOM, scanned against $db at $now"
attest sbom --lock "$project/uv.lock" --reproducible --output "$out/sbom.cdx.json" 2>/dev/null
set +e
attest scan --sbom "$out/sbom.cdx.json" --db "$db" --cache-dir "$out/cache" --now "$now" \
  --format markdown
code=$?
set -e
echo "   exit code $code (1: an SLO is breached)"
[ "$code" -eq 1 ] || fail "expected exit 1 for overdue findings, got $code"

step "scan 2. A waiver file: reason, expiry and approver required; an alias (CVE) matches too"
cat > "$out/waivers.yaml" <<'YAML'
waivers:
  - id: PYSEC-2026-2151
    package: flask
    reason: "Every response sets Cache-Control: private, so no cache keeps session pages; Flask 3.1.3 upgrade in progress."
    expires: 2026-08-14
    approver: security@acme.example
  - id: CVE-2026-25645
    package: requests
    reason: "We never call requests.utils.extract_zipped_paths(); bump to 2.33 in the next release."
    expires: 2026-08-14
    approver: security@acme.example
YAML
sed 's/^/   /' "$out/waivers.yaml"

step "scan 3. The same scan with the waivers: it passes, the waived findings still reported"
attest scan --sbom "$out/sbom.cdx.json" --db "$db" --cache-dir "$out/cache" --now "$now" \
  --waivers "$out/waivers.yaml" --format markdown \
  || fail "expected exit 0 with the waivers, got $?"

step "scan 4. The same result as JSON, SARIF 2.1.0 and CycloneDX VEX"
for fmt in json sarif vex; do
  attest scan --sbom "$out/sbom.cdx.json" --db "$db" --cache-dir "$out/cache" --now "$now" \
    --waivers "$out/waivers.yaml" --format "$fmt" --output "$out/scan.$fmt.json" 2>/dev/null
done
python - "$out" <<'PY'
import json, sys
out = sys.argv[1]
report = json.load(open(f"{out}/scan.json.json"))
print(f"   report {report['report_type']}: {report['summary']['by_status']}")
print(f"   database sha256 {report['source']['database']['sha256'][:16]}…, "
      f"{report['source']['database']['records']} records")
sarif = json.load(open(f"{out}/scan.sarif.json"))
print(f"   SARIF {sarif['version']}: {len(sarif['runs'][0]['results'])} results")
vex = json.load(open(f"{out}/scan.vex.json"))
print(f"   VEX (CycloneDX {vex['specVersion']}): {len(vex['vulnerabilities'])} vulnerabilities")
PY

step "scan 5. Six weeks later the waivers have expired: the stage fails again"
set +e
attest scan --sbom "$out/sbom.cdx.json" --db "$db" --cache-dir "$out/cache" \
  --now 2026-08-31T00:00:00Z --allow-stale-db --waivers "$out/waivers.yaml" \
  --output "$out/late.json" 2>&1 | grep -E 'expired|error' | sed 's/^/   /'
code=${PIPESTATUS[0]}
set -e
echo "   exit code $code"
[ "$code" -eq 1 ] || fail "expected exit 1 once the waivers expired, got $code"
