# Shared by the composite actions in this directory (sourced, never run): workflow commands,
# outputs and the exit-code contract. Inputs reach the scripts only through environment
# variables, never through ${{ }} in the script text.

# The meaning of attest's exit codes (README: "Exit codes").
attest_meaning() {
  case "$1" in
    0) echo "pass" ;;
    1) echo "policy said no: fix the finding, retrying will not help" ;;
    2) echo "usage or configuration error: fix the inputs or the file named in the log" ;;
    3) echo "operational error (network, service, I/O): retry" ;;
    *) echo "unexpected exit status $1" ;;
  esac
}

# A workflow command's data must escape %, CR and LF; its properties also : and ,.
attest_escape_data() {
  local text=$1
  text=${text//'%'/'%25'}
  text=${text//$'\r'/'%0D'}
  text=${text//$'\n'/'%0A'}
  printf '%s' "$text"
}

attest_escape_property() {
  local text
  text=$(attest_escape_data "$1")
  text=${text//':'/'%3A'}
  text=${text//','/'%2C'}
  printf '%s' "$text"
}

# attest_annotate error|warning|notice TITLE MESSAGE
attest_annotate() {
  printf '::%s title=%s::%s\n' "$1" "$(attest_escape_property "$2")" "$(attest_escape_data "$3")"
}

# attest_output NAME VALUE: one step output, multi-line values included.
attest_output() {
  local delimiter
  delimiter="ATTEST_EOF_$RANDOM$RANDOM$RANDOM"
  {
    printf '%s<<%s\n' "$1" "$delimiter"
    printf '%s\n' "$2"
    printf '%s\n' "$delimiter"
  } >> "$GITHUB_OUTPUT"
}

attest_summary() {
  printf '%s\n' "$@" >> "$GITHUB_STEP_SUMMARY"
}

# attest_expand PATTERNS: the files that whitespace-separated glob PATTERNS match, one per line
# in ATTEST_FILES; a pattern that matches nothing is an error (exit 2, as attest would).
attest_expand() {
  local pattern matches
  local -a patterns
  ATTEST_FILES=()
  read -r -d '' -a patterns <<< "$1" || true
  if [ "${#patterns[@]}" -eq 0 ]; then
    attest_annotate error "attest: no artifacts" "the artifacts input is empty"
    return 2
  fi
  for pattern in "${patterns[@]}"; do
    matches=$(compgen -G "$pattern" || true)
    if [ -z "$matches" ]; then
      attest_annotate error "attest: no artifacts" "nothing matches $pattern"
      return 2
    fi
    while IFS= read -r match; do
      ATTEST_FILES+=("$match")
    done <<< "$matches"
  done
}

# attest_run STAGE COMMAND...: run it, show its messages, and on failure annotate the step with
# attest's own error line and what the exit status means. Sets ATTEST_STATUS; returns 0.
# The command's stdout goes to the file ATTEST_RUN_STDOUT when that is set.
attest_run() {
  local stage=$1 errors line
  shift
  errors=$(mktemp "${RUNNER_TEMP:-/tmp}/attest-stderr.XXXXXX")
  ATTEST_STATUS=0
  if [ -n "${ATTEST_RUN_STDOUT:-}" ]; then
    "$@" > "$ATTEST_RUN_STDOUT" 2> "$errors" || ATTEST_STATUS=$?
  else
    "$@" 2> "$errors" || ATTEST_STATUS=$?
  fi
  cat "$errors" >&2
  if [ "$ATTEST_STATUS" -ne 0 ]; then
    line=$(grep -E '^attest: error: ' "$errors" | tail -n 1 || true)
    line=${line#attest: error: }
    attest_annotate error "attest $stage: exit $ATTEST_STATUS" \
      "${line:-attest $stage failed}. ($(attest_meaning "$ATTEST_STATUS"))"
  fi
  rm -f "$errors"
}

# attest_bool NAME VALUE: true/false inputs, anything else is a usage error.
attest_bool() {
  case "$2" in
    true | false) ;;
    *)
      attest_annotate error "attest: bad input" "input $1 must be true or false, not '$2'"
      return 2
      ;;
  esac
}
