#!/usr/bin/env bash
# Prints the URL of a Citus coordinator (with workers registered) for the Citus test passes:
# $CITUS_URL if set, else a coordinator + 2 workers started (or found running) with Citus's
# cluster.sh: $SAAS_CITUS_CLUSTER_SH, ../shared/citus/cluster.sh beside the repository, or
# /work/shared/citus/cluster.sh. Exits 3, saying why on stderr, when there is neither.
#   SAAS_CITUS_DIR (default /var/tmp/saas-test-citus), SAAS_CITUS_PORT (default 9750)
set -euo pipefail
cd "$(dirname "$0")/.."
# Online shard moves (the dedicated tier, rebalancing) decode WAL with Citus's output plugin;
# PostgreSQL servers that have `output_plugin_libraries` must list it, on every node.
allow_citus_decoding() {
  local coordinator="$1" node setting
  local nodes=("$coordinator")
  while read -r host port; do
    nodes+=("$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); user=p.netloc.rsplit("@",1)[0]+"@" if "@" in p.netloc else ""; print(u.urlunsplit(p._replace(netloc=f"{user}{sys.argv[2]}:{sys.argv[3]}")))' "$coordinator" "$host" "$port")")
  done < <(psql "$coordinator" -XAtF ' ' -c "select nodename, nodeport from pg_dist_node where groupid <> 0 and noderole = 'primary'" 2>/dev/null)
  for node in "${nodes[@]}"; do
    setting="$(psql "$node" -XAtc "select setting from pg_settings where name = 'output_plugin_libraries'" 2>/dev/null || true)"
    if [ -n "$setting" ] && [[ "$setting" != *citus* ]]; then
      psql "$node" -XAtq -c "alter system set output_plugin_libraries = 'pgoutput', 'test_decoding', 'citus'" \
        -c "select pg_reload_conf()" >/dev/null
    fi
  done
}

if [ -n "${CITUS_URL:-}" ]; then
  allow_citus_decoding "$CITUS_URL"
  echo "$CITUS_URL"
  exit 0
fi
for candidate in "${SAAS_CITUS_CLUSTER_SH:-}" ../shared/citus/cluster.sh /work/shared/citus/cluster.sh; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    url="$("$candidate" start "${SAAS_CITUS_DIR:-/var/tmp/saas-test-citus}" "${SAAS_CITUS_PORT:-9750}" 2 | tail -n 1)"
    allow_citus_decoding "$url"
    echo "$url"
    exit 0
  fi
done
echo "no Citus cluster: set CITUS_URL, or SAAS_CITUS_CLUSTER_SH to Citus's cluster.sh" >&2
exit 3
