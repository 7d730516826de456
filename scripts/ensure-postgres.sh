#!/usr/bin/env bash
# Makes sure a PostgreSQL server that tests and the reference app can use is running, and
# prints its URL on stdout (diagnostics go to stderr).
#
# Tried in order:
#   1. $DATABASE_URL, if it answers;
#   2. the local server on 127.0.0.1:5432 with trust auth for user postgres (started with
#      pg_ctlcluster when it is installed but down);
#   3. a private cluster in $SAAS_PG_DIR (default /var/tmp/saas-pg) on port $SAAS_PG_PORT
#      (default 55432), trust auth on 127.0.0.1 only, fsync off: made for tests, never for data
#      you want to keep. When run as root it runs as the postgres user (PostgreSQL refuses root).
# PostgreSQL is installed with apt-get when no server binaries exist.
set -euo pipefail

log() { echo "ensure-postgres: $*" >&2; }

answers() {
  command -v psql >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=3 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

if [ -n "${DATABASE_URL:-}" ] && answers "$DATABASE_URL"; then
  echo "$DATABASE_URL"; exit 0
fi

local_url="postgres://postgres@127.0.0.1:5432/postgres"
if answers "$local_url"; then echo "$local_url"; exit 0; fi

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(bindir)" ] || ! command -v psql >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql postgresql-contrib >&2
  elif command -v sudo >/dev/null 2>&1; then
    log "installing PostgreSQL with sudo apt-get"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >&2
  else
    log "PostgreSQL is not installed; run: sudo apt-get install -y postgresql"; exit 1
  fi
fi

# An installed system cluster that is merely down: start it and try again.
if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  while read -r ver name port status _; do
    if [ "$port" = 5432 ] && [ "$status" = down ]; then
      log "starting cluster $ver/$name"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 || true
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
  if answers "$local_url"; then echo "$local_url"; exit 0; fi
fi

dir="${SAAS_PG_DIR:-/var/tmp/saas-pg}"
port="${SAAS_PG_PORT:-55432}"
bin="$(bindir)"
private_url="postgres://postgres@127.0.0.1:$port/postgres"
if answers "$private_url"; then echo "$private_url"; exit 0; fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
if [ ! -f "$dir/PG_VERSION" ]; then
  log "creating a private test cluster in $dir"
  as_pg "$bin/initdb" -D "$dir" -A trust -U postgres --no-sync >/dev/null
fi
log "starting the private test cluster on 127.0.0.1:$port"
as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start -o \
  "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >&2
answers "$private_url" || { log "the private cluster does not answer; see $dir/server.log"; exit 1; }
echo "$private_url"
