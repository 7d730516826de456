#!/usr/bin/env bash
# The taskboard's page (examples/taskboard/web, served at /app) in headless Chromium, through a
# real Varnish with deploy/edge/default.vcl in front of the app: tenant A signs in, creates a
# project and a task and sees them (after a reload too); after A signs out, tenant B in the same
# tab does not see A's project; the hashed assets arrive immutable and, for the next visitor,
# from the edge's cache; no console error, no failed request (examples/taskboard/web/test/
# browser.mjs, playwright-core driving Debian's /usr/bin/chromium). The page the app serves is
# the committed web/dist (scripts/check-web.sh checks that it is up to date).
#
# Keeps a screenshot of A's board in docs/src/images/taskboard-web.png, written only when it is
# missing or WEB_SCREENSHOT_UPDATE=1 (a CI run leaves the tree as it found it). Prints PASS/FAIL
# lines and `N passed, N failed`; exits non-zero when a check failed.
#
# Environment (optional): CARGO_TARGET_DIR, WEB_SCREENSHOT_UPDATE=1, E2E_ARTIFACTS_DIR (app and
# Varnish logs, a screenshot of the page when the run stops early; default $CARGO_TARGET_DIR/e2e).
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
artifacts="${E2E_ARTIFACTS_DIR:-$target/e2e}"
web=examples/taskboard/web
screenshot=docs/src/images/taskboard-web.png
max_screenshot_bytes=204800
# shellcheck source=../lib/checks.sh
source scripts/lib/checks.sh
# shellcheck source=../lib/edge-stack.sh
source scripts/lib/edge-stack.sh
finish() {
  local rc=$?
  set +e
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    cp "$tmp/app.log" "$artifacts/web-app.log" 2>/dev/null
    cp "$tmp/varnish.log" "$artifacts/web-varnish.log" 2>/dev/null
  fi
  edge_stack_cleanup
  report_checks "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$artifacts"
artifacts="$(cd "$artifacts" && pwd)"
chromium="$(scripts/ensure-chromium.sh)" || { fail "Chromium at /usr/bin/chromium"; exit 1; }
# playwright-core needs Node 20 (ensure-node.sh fetches one when the system's is older).
node_bin="$(scripts/ensure-node.sh 20)" || { fail "Node.js 20 or newer and npm"; exit 1; }
PATH="$(dirname "$node_bin"):$PATH"
export PATH
(cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
  || { fail "npm ci in $web"; exit 1; }

edge_stack_init taskboard-e2e-web
cargo build -q -p taskboard
start_app "$target/debug/taskboard" 300 || { fail "the app starts"; exit 1; }
check "Varnish serves deploy/edge/default.vcl in front of the app" start_varnish

shot=""
if [ "${WEB_SCREENSHOT_UPDATE:-}" = 1 ] || [ ! -f "$screenshot" ]; then
  shot="$tmp/taskboard-web.png"
fi
set +e
(cd "$web" && WEB_EDGE_URL="$edge" WEB_ADMIN_TOKEN="$admin" WEB_CHROMIUM="$chromium" \
  WEB_SCREENSHOT="$shot" WEB_ARTIFACTS="$artifacts" npm run --silent test:browser) | tee "$tmp/browser.out"
status=${PIPESTATUS[0]}
set -e
# The browser test's own PASS/FAIL lines count as this script's checks.
passed=$((passed + $(grep -c '^PASS: ' "$tmp/browser.out" || true)))
failed=$((failed + $(grep -c '^FAIL: ' "$tmp/browser.out" || true)))
if [ "$status" -ne 0 ] && ! grep -q '^FAIL: ' "$tmp/browser.out"; then
  fail "the browser test exited $status without a FAIL line"
fi

if [ -n "$shot" ]; then
  if [ -s "$shot" ] && [ "$(stat -c %s "$shot")" -le "$max_screenshot_bytes" ]; then
    mkdir -p "$(dirname "$screenshot")"
    cp "$shot" "$screenshot"
    pass "screenshot kept in $screenshot ($(stat -c %s "$screenshot") bytes)"
  else
    fail "a screenshot under $max_screenshot_bytes bytes ($(stat -c %s "$shot" 2>/dev/null || echo no) bytes)"
  fi
fi
