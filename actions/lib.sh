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

# attest_python ARGS...: the Python that the attest on PATH runs on (it has attest's modules,
# e.g. verify.text), whatever python a later setup step put first on PATH.
attest_python() {
  local bin
  bin=$(dirname "$(command -v attest)")
  if [ -x "$bin/python" ]; then "$bin/python" "$@"; else python "$@"; fi
}

attest_summary() {
  printf '%s\n' "$@" >> "$GITHUB_STEP_SUMMARY"
}

# attest_md TEXT: TEXT as inline Markdown for the step summary that renders as itself, on one
# line: a control character written as \n, \r, \t or \xNN, and a backslash before each
# character that could end a table cell or open a code span, emphasis, a link, HTML, an
# entity or math (\ ` * _ ~ [ ] < > | & $). The same rule as verify/text.py markdown_text
# (which also escapes the Unicode controls shown() names); text of attest's own is not passed.
attest_md() {
  local text=$1 out="" char code i
  local LC_ALL=C # byte by byte: a multibyte character passes through unchanged
  for ((i = 0; i < ${#text}; i++)); do
    char=${text:i:1}
    case $char in
      [\\\`*_~\[\]\<\>\|\&\$]) out+="\\$char" ;;
      $'\n') out+='\\n' ;;
      $'\r') out+='\\r' ;;
      $'\t') out+='\\t' ;;
      [[:cntrl:]])
        printf -v code '\\\\x%02x' "'$char"
        out+=$code
        ;;
      *) out+=$char ;;
    esac
  done
  printf '%s' "$out"
}

# attest_fenced TEXT: TEXT (which may hold names) as a fenced code block for the step summary,
# its fence longer than any run of backticks in TEXT, so that no line of TEXT closes it.
attest_fenced() {
  local fence='```'
  while [[ $1 == *"$fence"* ]]; do fence+='`'; done
  printf '%s\n%s\n%s' "$fence" "$1" "$fence"
}

# attest_unshowable NAME: true when NAME holds a control character (C0, DEL or, UTF-8
# encoded, C1): a newline would split it in any line-based list, and none belongs in the name
# of a file to release.
attest_unshowable() {
  local LC_ALL=C
  [[ $1 == *[[:cntrl:]]* ]] && return 0
  [[ $1 == *$'\xc2'[$'\x80'-$'\x9f']* ]]
}

# attest_expand PATTERNS: the files that whitespace-separated glob PATTERNS match, in the array
# ATTEST_FILES, each name whole: matches are globbed straight into an array, never read back
# as lines. A pattern that matches nothing, or a match whose name holds a control character
# (a newline in it could hide another file behind a copy of a signed name) is an error (exit
# 2, as attest would), naming it quoted. Pass ATTEST_FILES after `--`: a name may start with
# a dash, and must not be read as an option.
attest_expand() {
  local IFS=$' \t\n' pattern match nullglob found
  local -a patterns matches
  ATTEST_FILES=()
  read -r -d '' -a patterns <<< "$1" || true
  if [ "${#patterns[@]}" -eq 0 ]; then
    attest_annotate error "attest: no artifacts" "the artifacts input is empty"
    return 2
  fi
  nullglob=$(shopt -p nullglob || true)
  for pattern in "${patterns[@]}"; do
    shopt -s nullglob
    # shellcheck disable=SC2206 # globbed on purpose; the pattern holds no IFS character
    matches=($pattern)
    $nullglob
    found=0
    for match in "${matches[@]}"; do
      # a pattern without glob characters stays itself, file or not
      if [ ! -e "$match" ] && [ ! -L "$match" ]; then continue; fi
      if attest_unshowable "$match"; then
        attest_annotate error "attest: refused artifact name" \
          "$(printf '%q' "$match") (matched by $pattern) holds a control character; rename the file"
        return 2
      fi
      ATTEST_FILES+=("$match")
      found=$((found + 1))
    done
    if [ "$found" -eq 0 ]; then
      attest_annotate error "attest: no artifacts" "nothing matches $pattern"
      return 2
    fi
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
