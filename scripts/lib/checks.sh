# PASS/FAIL lines and their counts for the end-to-end scripts (source it; `passed` and
# `failed` are the counts, `report_checks` prints them and fails when one check failed).
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# Ends a script's EXIT trap: $1 is the exit status the script had.
report_checks() {
  local rc="$1"
  [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && fail "the run stopped early (exit $rc)"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] || exit 1
  exit "$rc"
}
