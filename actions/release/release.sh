#!/usr/bin/env bash
# The script of actions/release (and of the top-level action.yml's second step), in a file so
# that both run the same one from $GITHUB_ACTION_PATH (see actions/setup/setup.sh). Inputs come
# as ATTEST_* env.
set -eo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=actions/lib.sh
source "$here/../lib.sh"
args=(--policy "$ATTEST_POLICY" --project "$ATTEST_PROJECT" --out "$ATTEST_OUT")
files=()
if [ -n "$ATTEST_ARTIFACTS" ]; then
  attest_expand "$ATTEST_ARTIFACTS"
  files=("${ATTEST_FILES[@]}")
fi
if [ -n "$ATTEST_LOCK" ]; then args+=(--lock "$ATTEST_LOCK"); fi
if [ -n "$ATTEST_REQUIREMENTS" ]; then args+=(--requirements "$ATTEST_REQUIREMENTS"); fi
if [ -n "$ATTEST_DB" ]; then args+=(--db "$ATTEST_DB"); fi
if [ -n "$ATTEST_SLO_POLICY" ]; then args+=(--slo-policy "$ATTEST_SLO_POLICY"); fi
if [ -n "$ATTEST_NOW" ]; then args+=(--now "$ATTEST_NOW"); fi
read -r -d '' -a waivers <<< "$ATTEST_WAIVERS" || true
for waiver in "${waivers[@]}"; do args+=(--waivers "$waiver"); done
if [ -n "$ATTEST_TRUST_CONFIG" ]; then
  args+=(--trust-config "$ATTEST_TRUST_CONFIG")
else
  args+=(--instance "$ATTEST_INSTANCE")
fi
# The identity is GitHub's OIDC token (id-token: write), fetched by attest itself and
# never printed; CI=true gives plain progress lines and the final table.
log="$RUNNER_TEMP/attest-release-$GITHUB_ACTION.log"
CI=true attest_run release attest release "${args[@]}" -- "${files[@]}" 2> "$log"
cat "$log" >&2
attest_output exit-code "$ATTEST_STATUS"
attest_output out "$ATTEST_OUT"
table=$(sed -n '/^stage /,$p' "$log" | grep -v '^attest: ' || true)
attest_summary "### attest release" "" "$(attest_fenced "$table")" ""
exit "$ATTEST_STATUS"
