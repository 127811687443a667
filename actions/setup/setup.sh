#!/usr/bin/env bash
# The script of actions/setup (and of the top-level action.yml's first step), in a file so that
# both run the same one from $GITHUB_ACTION_PATH: a composite action cannot `uses:` a sibling
# action of its own repository (a local ./path is the caller's workspace). Inputs come as env.
# GITHUB_PATH gets $RUNNER_TEMP/attest-venv/bin, from no input.
set -eo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=actions/lib.sh
source "$here/../lib.sh"
root=$(cd "$here/../.." && pwd)
lock="$root/requirements/runtime.lock"
venv="$RUNNER_TEMP/attest-venv"
if ! "$ATTEST_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  attest_annotate error "attest setup" "$ATTEST_PYTHON is not Python 3.10 or newer"
  exit 2
fi
"$ATTEST_PYTHON" -m venv "$venv"
# Every package pinned by version and sha256; nothing resolved, nothing unpinned.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-hashes --no-deps -r "$lock"
# attest itself, built from this checkout with the pinned hatchling (no downloads).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-deps --no-build-isolation --no-index "$root"
"$venv/bin/python" -m pip check --disable-pip-version-check
version=$("$venv/bin/python" -c \
  'import importlib.metadata as m; print(m.version("attest-pipeline"))')
echo "$venv/bin" >> "$GITHUB_PATH"
attest_output version "$version"
attest_output venv "$venv"
attest_output python "$venv/bin/python"
attest_summary "### attest $version" "" \
  "Installed from $(attest_md "$root") into $(attest_md "$venv") with $(grep -c '^[a-z]' "$lock") hash-pinned packages ($(basename "$lock"))."
