# The reference app behind Varnish with deploy/edge/default.vcl, on a database of its own, for
# scripts/e2e/edge.sh and scripts/bench-edge.sh (source it from the repository's root).
#   edge_stack_init PREFIX  a database, two free ports, the secrets, the VCL for this run's
#                           backend; sets tmp, db, app_db, app, edge, admin, secret
#   start_varnish           the edge (varnish_pid)
#   start_app BINARY TTL    the app, purging the edge, edge TTL in seconds (app_pid); waits
#                           until it listens (extra environment: EDGE_APP_ENV, `K=V ...`)
#   stop_app, edge_stack_cleanup (for the EXIT trap)
app_pid="" varnish_pid="" db="" server="" tmp=""

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

edge_stack_init() {
  varnishd_bin="$(scripts/ensure-varnish.sh)"
  server="$(scripts/ensure-postgres.sh)"
  tmp="$(mktemp -d "/tmp/$1.XXXXXX")"
  chmod 755 "$tmp" # varnishd's worker user reads the VCL there
  db="${1//-/_}_$(date +%s)_$$"
  psql "$server" -qc "create database \"$db\"" >/dev/null
  app_db="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$server" "$db")"
  app_port="$(free_port)" edge_port="$(free_port)"
  app="http://127.0.0.1:$app_port" edge="http://127.0.0.1:$edge_port"
  admin="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
  secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
  sed "s/\.port = \"8080\";/.port = \"$app_port\";/" deploy/edge/default.vcl >"$tmp/edge.vcl"
}

start_varnish() {
  "$varnishd_bin" -F -n "$tmp/varnish" -a "127.0.0.1:$edge_port" -f "$tmp/edge.vcl" -s malloc,64m \
    >"$tmp/varnish.log" 2>&1 &
  varnish_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$edge/livez" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

start_app() {
  : >"$tmp/app.log"
  # shellcheck disable=SC2086 # EDGE_APP_ENV is a list of K=V words
  env ${EDGE_APP_ENV:-} TASKBOARD_ADMIN_TOKEN="$admin" TASKBOARD_JWT_SECRET="$secret" \
    TASKBOARD_EDGE_PURGE_URL="$edge/" TASKBOARD_EDGE_TTL="$2" DATABASE_URL="$app_db" \
    "$1" serve --listen "127.0.0.1:$app_port" >"$tmp/app.log" 2>&1 &
  app_pid=$!
  for _ in $(seq 1 600); do
    grep -q 'listening on' "$tmp/app.log" && return 0
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$tmp/app.log"; return 1
}

stop_app() { kill "$app_pid" 2>/dev/null; wait "$app_pid" 2>/dev/null || true; app_pid=""; }

edge_stack_cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  [ -n "$varnish_pid" ] && kill "$varnish_pid" 2>/dev/null && wait "$varnish_pid" 2>/dev/null
  [ -n "$db" ] && psql "$server" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1
  [ -n "$tmp" ] && rm -rf "$tmp"
  return 0
}
