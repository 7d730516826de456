#!/usr/bin/env bash
# End-to-end checks of the reference app (examples/taskboard) from the outside, over HTTP:
#   1. builds the app, starts it on a free port against a fresh PostgreSQL database
#      (scripts/ensure-postgres.sh provides the server; the database is dropped at the end);
#   2. generates a Python client from the committed OpenAPI document
#      (examples/taskboard/clients/python/generate.sh) and runs its smoke test (smoke.py):
#      tenant A's project and task round-trip, tenant B gets 404 for them;
#   3. sends fixed hostile inputs (scripts/e2e/hostile_inputs.py), then fuzzes the live
#      /openapi/v2.json with schemathesis: no input may yield a 5xx;
#   4. renders /docs in headless Chromium, checks that Swagger UI shows every v2 operation,
#      and keeps a screenshot in docs/src/images/docs-page.png (rewritten only when it changes).
# Prints one PASS/FAIL line per check and ends with exactly `N passed, N failed`; exits
# non-zero if any check failed or a step could not run.
#
# Environment (all optional):
#   SAAS_TOOLS_VENV    virtual environment for the Python tools (default /var/tmp/saas-tools-venv)
#   CARGO_TARGET_DIR   cargo's target directory (default target)
#   E2E_ARTIFACTS_DIR  app log, schemathesis report, DOM dump (default $CARGO_TARGET_DIR/e2e)
#   E2E_MAX_EXAMPLES   schemathesis examples per operation (default 300, about 40 s)
#   E2E_SEED           schemathesis seed (default 1; set another to explore other inputs)
#   E2E_FUZZ_TIMEOUT   hard limit in seconds for the schemathesis run (default 150)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${SAAS_TOOLS_VENV:-/var/tmp/saas-tools-venv}"
target="${CARGO_TARGET_DIR:-target}"
app_bin="$target/debug/taskboard"
artifacts="${E2E_ARTIFACTS_DIR:-$target/e2e}"
max_examples="${E2E_MAX_EXAMPLES:-300}"
seed="${E2E_SEED:-1}"
fuzz_timeout="${E2E_FUZZ_TIMEOUT:-150}"
client_dir="examples/taskboard/clients/python"
screenshot="docs/src/images/docs-page.png"
window_w=1280 window_h=1600

passed=0 failed=0
server="" db="" app_pid="" tmp=""
timings=()
run_started=$SECONDS phase_name="" phase_started=$SECONDS

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# Counts the `ok - ...` / `not ok - ...` lines a helper printed (smoke.py, hostile_inputs.py,
# docs_checks.py).
count_tap() {
  local n
  n=$(grep -c '^ok - ' "$1" || true); passed=$((passed + n))
  n=$(grep -c '^not ok - ' "$1" || true); failed=$((failed + n))
}
end_phase() {
  if [ -n "$phase_name" ]; then
    timings+=("$(printf '%-28s %4ds' "$phase_name" $((SECONDS - phase_started)))")
  fi
  phase_name=""
}
phase() {
  end_phase
  # A crashed (or interrupted) app makes every later check meaningless.
  if [ -n "$app_pid" ] && ! kill -0 "$app_pid" 2>/dev/null; then
    fail "the app is still running before '$1' (log: $artifacts/app.log)"; tail -n 20 "$artifacts/app.log"; exit 1
  fi
  phase_name="$1" phase_started=$SECONDS
  echo; echo "=== $1"
}
# A step the rest depends on: on failure it counts as a failed check and the run stops.
need() {
  local what="$1"; shift
  if "$@"; then pass "$what"; else fail "$what"; exit 1; fi
}

finish() {
  local rc=$?
  set +e
  end_phase
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    kill "$app_pid"; wait "$app_pid" 2>/dev/null
  fi
  if [ -n "$db" ]; then
    psql "$server" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 \
      || echo "warning: could not drop database $db" >&2
  fi
  [ -n "$tmp" ] && rm -rf "$tmp"
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then fail "the run stopped early (exit $rc)"; fi
  echo
  echo "=== timings"
  for t in "${timings[@]}"; do echo "$t"; done
  printf '%-28s %4ds\n' "total" $((SECONDS - run_started))
  echo "$passed passed, $failed failed"
  if [ "$failed" -ne 0 ]; then exit 1; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tmp="$(mktemp -d /tmp/taskboard-e2e.XXXXXX)"
mkdir -p "$artifacts"
artifacts="$(cd "$artifacts" && pwd)"

# --- 1. the app -------------------------------------------------------------------------------
phase "postgres + build"
server="$(scripts/ensure-postgres.sh)"
pass "PostgreSQL answers at $server"
need "cargo build -p taskboard" cargo build -q -p taskboard
[ -x "$app_bin" ] || { fail "no binary at $app_bin"; exit 1; }

phase "app start"
db="taskboard_e2e_$(date +%s)_$$"
psql "$server" -qc "create database \"$db\"" >/dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
admin_token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
jwt_secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
export TASKBOARD_ADMIN_TOKEN="$admin_token"
DATABASE_URL="${server%/*}/$db" TASKBOARD_JWT_SECRET="$jwt_secret" \
  "$app_bin" serve --listen "127.0.0.1:$port" >"$artifacts/app.log" 2>&1 &
app_pid=$!
listening() {
  local deadline=$((SECONDS + 120))
  while [ $SECONDS -lt $deadline ]; do
    grep -q 'listening on' "$artifacts/app.log" && return 0
    kill -0 "$app_pid" 2>/dev/null || { echo "the app exited:"; tail -n 30 "$artifacts/app.log"; return 1; }
    sleep 0.2
  done
  echo "no 'listening on' within 120 s:"; tail -n 30 "$artifacts/app.log"; return 1
}
need "the app prints 'listening on' ($base, database $db)" listening
need "GET /healthz answers 200" curl -fsS -o /dev/null --max-time 10 "$base/healthz"

# --- 2. generated Python client ---------------------------------------------------------------
phase "python tools (venv)"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null \
    || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
fi
# With the pins satisfied this asks no index and takes a second or two.
need "openapi-python-client and schemathesis installed in $venv" \
  "$venv/bin/pip" install -q --disable-pip-version-check \
  -r "$client_dir/requirements.txt" -r scripts/e2e/requirements.txt

phase "python client"
if source_doc="$(SAAS_TOOLS_VENV="$venv" "$client_dir/generate.sh")"; then
  pass "Python client generated from $source_doc"
  case "$source_doc" in
    */openapi-3.0/*) echo "warning: the 3.1 document could not be used; the client comes from the 3.0 copy" ;;
  esac
  "$venv/bin/python" "$client_dir/smoke.py" --base-url "$base" | tee "$tmp/smoke.out" || true
  count_tap "$tmp/smoke.out"
  grep -q '^ok - ' "$tmp/smoke.out" || fail "smoke.py ran no check"
else
  fail "Python client generated"
fi

# --- 3. no 5xx: fixed hostile inputs, then schemathesis ---------------------------------------
phase "hostile inputs + schemathesis"
fuzz_token() {
  local id
  id="$(curl -fsS --max-time 10 -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"slug":"fuzz","name":"Fuzzing tenant","tier":"shared"}' "$base/admin/tenants" | jq -r .id)" || return 1
  curl -fsS --max-time 10 -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"subject":"schemathesis","ttl_seconds":3600}' "$base/admin/tenants/$id/tokens" | jq -r .token
}
if token="$(fuzz_token)" && [ -n "$token" ] && [ "$token" != null ]; then
  python3 scripts/e2e/hostile_inputs.py --base-url "$base" --token "$token" | tee "$tmp/hostile.out" || true
  count_tap "$tmp/hostile.out"
  # --workers 1: with several workers, Python 3.11's ast.parse (which Hypothesis calls to
  # describe filters) raises "SystemError: AST constructor recursion depth mismatch".
  rm -rf "$artifacts/schemathesis"
  set +e
  # --foreground: keep schemathesis in this process group, so that Ctrl-C reaches it.
  (cd "$tmp" && timeout --foreground "$fuzz_timeout" "$venv/bin/schemathesis" run "$base/openapi/v2.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error \
    --max-examples "$max_examples" --seed "$seed" --workers 1 \
    --generation-database none --no-color \
    --report junit --report-dir "$artifacts/schemathesis") 2>&1 | tee "$artifacts/schemathesis.log"
  fuzz_status=${PIPESTATUS[0]}
  set -e
  case "$fuzz_status" in
    0) pass "schemathesis: no 5xx for any generated input ($max_examples examples per operation, seed $seed)" ;;
    124) fail "schemathesis did not finish within ${fuzz_timeout} s (E2E_FUZZ_TIMEOUT)" ;;
    *) fail "schemathesis: server errors or a failed run (requests to reproduce above; log in $artifacts/schemathesis.log)" ;;
  esac
else
  fail "a tenant token for schemathesis"
fi

# --- 4. /docs in a browser --------------------------------------------------------------------
phase "browser (/docs)"
chromium_ready() { scripts/ensure-chromium.sh >/dev/null; }
need "Chromium available" chromium_ready
chrome() {
  local profile
  profile="$(mktemp -d "$tmp/chromium.XXXXXX")"
  timeout 90 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --virtual-time-budget=10000 "$@" 2>>"$artifacts/chromium.log"
}
: >"$artifacts/chromium.log"
curl -fsS --max-time 10 "$base/docs" -o "$tmp/docs.html" || fail "GET /docs"
curl -fsS --max-time 10 "$base/openapi/v2.json" -o "$tmp/v2.json" || fail "GET /openapi/v2.json"
chrome --dump-dom "$base/docs" >"$artifacts/docs-dom.html" || fail "chromium --dump-dom $base/docs"
chrome --window-size="$window_w,$window_h" --screenshot="$tmp/docs-page.png" "$base/docs" >/dev/null \
  || fail "chromium --screenshot $base/docs"
python3 scripts/e2e/docs_checks.py --html "$tmp/docs.html" --dom "$artifacts/docs-dom.html" \
  --openapi "$tmp/v2.json" --screenshot "$tmp/docs-page.png" --width "$window_w" --height "$window_h" \
  | tee "$tmp/docs.out" || true
count_tap "$tmp/docs.out"
if [ -s "$tmp/docs-page.png" ]; then
  # Chromium's PNGs of an unchanged page are byte-identical: rewrite only on a real change.
  mkdir -p "$(dirname "$screenshot")"
  if cmp -s "$tmp/docs-page.png" "$screenshot"; then
    echo "screenshot unchanged: $screenshot"
  else
    cp "$tmp/docs-page.png" "$screenshot"; echo "screenshot updated: $screenshot"
  fi
fi
