# Sourced by the scripts that need a fresh Citus database (scripts/e2e/citus.sh,
# scripts/bench-dedicated-move.sh). Needs bash, psql and python3.

# The URLs of a coordinator and its primary workers, the coordinator first, each with the
# coordinator URL's user and database.
citus_nodes() {
  local coordinator="$1" host port
  echo "$coordinator"
  while read -r host port; do
    python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); user=p.netloc.rsplit("@",1)[0]+"@" if "@" in p.netloc else ""; print(u.urlunsplit(p._replace(netloc=f"{user}{sys.argv[2]}:{sys.argv[3]}")))' "$coordinator" "$host" "$port"
  done < <(psql "$coordinator" -XAtF ' ' -c "select nodename, nodeport from pg_dist_node where groupid <> 0 and noderole = 'primary' order by nodeid")
}

# Creates database $2 on every node of coordinator $1 with the citus extension and the workers
# registered; prints the coordinator URL of the new database.
citus_create_db() {
  local coordinator="$1" db="$2" node host_port worker
  local nodes
  mapfile -t nodes < <(citus_nodes "$coordinator")
  for node in "${nodes[@]}"; do
    psql "$node" -Xqc "create database \"$db\"" 2>/dev/null
    psql "${node%/*}/$db" -Xqc "create extension citus" 2>/dev/null
  done
  host_port="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname, p.port or 5432)' "$coordinator")"
  psql "${coordinator%/*}/$db" -Xqc "select citus_set_coordinator_host('${host_port% *}', ${host_port#* })" >/dev/null
  for node in "${nodes[@]:1}"; do
    worker="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname, p.port)' "$node")"
    psql "${coordinator%/*}/$db" -Xqc "select citus_add_node('${worker% *}', ${worker#* })" >/dev/null
  done
  echo "${coordinator%/*}/$db"
}

# Drops database $2 on every node of coordinator $1.
citus_drop_db() {
  local coordinator="$1" db="$2" node
  while read -r node; do
    psql "$node" -Xqc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1
  done < <(citus_nodes "$coordinator")
}
