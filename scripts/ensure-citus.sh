#!/usr/bin/env bash
# Prints the URL of a Citus coordinator (with workers registered) for the Citus test passes:
# $CITUS_URL if set, else a coordinator + 2 workers started (or found running) with Citus's
# cluster.sh: $SAAS_CITUS_CLUSTER_SH, ../shared/citus/cluster.sh beside the repository, or
# /work/shared/citus/cluster.sh. Exits 3, saying why on stderr, when there is neither.
#   SAAS_CITUS_DIR (default /var/tmp/saas-test-citus), SAAS_CITUS_PORT (default 9750)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${CITUS_URL:-}" ]; then
  echo "$CITUS_URL"
  exit 0
fi
for candidate in "${SAAS_CITUS_CLUSTER_SH:-}" ../shared/citus/cluster.sh /work/shared/citus/cluster.sh; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    "$candidate" start "${SAAS_CITUS_DIR:-/var/tmp/saas-test-citus}" "${SAAS_CITUS_PORT:-9750}" 2 | tail -n 1
    exit 0
  fi
done
echo "no Citus cluster: set CITUS_URL, or SAAS_CITUS_CLUSTER_SH to Citus's cluster.sh" >&2
exit 3
