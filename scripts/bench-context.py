#!/usr/bin/env python3
"""How the tenant context reaches PostgreSQL, measured at the protocol level with pgbench.

Issue #18's floor: a read for a tenant that has no connection of its own must set the tenant
(`set_config('saas.tenant_id', ..., true)`, ended with the transaction) before its query.
This compares, on one server and in one run, the ways a driver can do that against the
hand-written read (`WHERE tenant_id = $1 AND id = $2`, no RLS):

  handwritten       the hand-written read: one prepared statement, one round trip
  bound             RLS, the tenant given at connect time (the framework's tenant-bound
                    connections): one prepared statement, one round trip
  shared-sqlx       the framework's shared path with sqlx today: `BEGIN` and `set_config` in one
                    round trip, the prepared query in a second, `ROLLBACK` in a third
  one-simple-query  the one round trip sqlx can send: `set_config` and the query as one
                    simple-protocol message (text protocol, planned on every call)
  pipelined         what a pipelining driver sends: `set_config` and the prepared query before
                    one Sync, one implicit transaction, one round trip
  pipelined-tx      the same with an explicit `BEGIN` ... `COMMIT` around them, all written
                    before the first answer is read (what tokio-postgres sends for requests
                    polled together): one round trip

Before timing, every RLS variant's isolation is checked: each transaction asserts that it saw
exactly its tenant's 50 rows and (except `bound`, whose setting is the connection's) that no
tenant setting outlived it; a division by zero fails the run otherwise. pgbench runs on the same machine as the server, as an application
server would; the variants alternate, order reversed every round; medians are reported with
the ratio to `handwritten`.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.parse

DB = "saas_bench_context"
APP = "saas_bench_app"
OWNER = "saas_bench_owner"
TENANTS = 20
PER_TENANT = 50
COLUMNS = "tenant_id, id, name, description, created_at"

PICK = f"\\set t random(1, {TENANTS})\n\\set p random(1, {PER_TENANT})\n"
READ = f"SELECT {COLUMNS} FROM projects WHERE id = :t * 1000 + :p;\n"
SET = "SELECT set_config('saas.tenant_id', :t::text, true);\n"

CHECK_ROWS = (f"SELECT 1 / (CASE WHEN count(*) = {PER_TENANT} AND min(tenant_id) = :t "
              "AND max(tenant_id) = :t THEN 1 ELSE 0 END) FROM projects;\n")
CHECK_GONE = ("SELECT 1 / (CASE WHEN coalesce(current_setting('saas.tenant_id', true), '') = '' "
              "THEN 1 ELSE 0 END);\n")
BOUND = {"PGOPTIONS": "-c saas.tenant_id=7"}

# name -> (role, protocol, extra environment, the script around a statement for the tenant
# `:t`): timed around READ, and checked around CHECK_ROWS (then CHECK_GONE, except where the
# setting is the connection's) before timing. `handwritten` has no RLS to check.
VARIANTS = {
    "handwritten": (OWNER, "prepared", {}, lambda _: PICK + f"SELECT {COLUMNS} FROM projects "
                    "WHERE tenant_id = :t AND id = :t * 1000 + :p;\n"),
    "bound": (APP, "prepared", BOUND,
              lambda q: f"\\set t 7\n\\set p random(1, {PER_TENANT})\n" + q),
    "shared-sqlx": (APP, "prepared", {},
                    lambda q: PICK + "\\startpipeline\nBEGIN;\n" + SET + "\\endpipeline\n" + q
                    + "ROLLBACK;\n"),
    "one-simple-query": (APP, "simple", {}, lambda q: PICK + SET.rstrip().rstrip(";") + " \\; " + q),
    "pipelined": (APP, "prepared", {},
                  lambda q: PICK + "\\startpipeline\n" + SET + q + "\\endpipeline\n"),
    "pipelined-tx": (APP, "prepared", {}, lambda q: PICK + "\\startpipeline\nBEGIN;\n" + SET + q
                     + "COMMIT;\n\\endpipeline\n"),
}

SETUP = f"""
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP}') THEN CREATE ROLE {APP} LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER}') THEN
    CREATE ROLE {OWNER} LOGIN BYPASSRLS; END IF;
END$$;
CREATE TABLE projects (tenant_id int NOT NULL, id int PRIMARY KEY, name text NOT NULL,
                       description text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON projects (tenant_id, id);
INSERT INTO projects SELECT t, t * 1000 + p, 'project ' || p, 'a project of tenant ' || t, now()
  FROM generate_series(1, {TENANTS}) t, generate_series(1, {PER_TENANT}) p;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
  USING (tenant_id = current_setting('saas.tenant_id')::int);
GRANT SELECT ON projects TO {APP}, {OWNER};
ANALYZE projects;
"""


def psql(url, sql):
    subprocess.run(["psql", url, "-XqAt", "-v", "ON_ERROR_STOP=1"], input=sql, text=True,
                   check=True, capture_output=True)


def with_db(url, db, user=None):
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if user:
        netloc = user + "@" + netloc.split("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, "/" + db, parts.query, ""))


def pgbench(url, role, protocol, script, env, args):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["pgbench", "-n", "-M", protocol, "-f", f.name] + args
                             + [with_db(url, DB, role)],
                             env={**os.environ, **env}, capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if out.returncode != 0 or "error" in out.stderr.lower():
        sys.exit(f"pgbench failed ({role}, {protocol}):\n{out.stderr}\n{out.stdout}")
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", default="16,64")
    ap.add_argument("--json")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    psql(args.server, f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};")
    psql(with_db(args.server, DB), SETUP)

    for name, (role, protocol, env, around) in VARIANTS.items():
        if role != APP:
            continue
        script = around(CHECK_ROWS) + ("" if env is BOUND else CHECK_GONE)
        out = pgbench(args.server, role, protocol, script, env, ["-c", "4", "-j", "2", "-t", "250"])
        done = re.search(r"actually processed: (\d+)/(\d+)", out)
        if not done or done.group(1) != done.group(2):
            sys.exit(f"isolation check of {name} did not complete:\n{out}")
        left = "" if env is BOUND else " and left no tenant setting behind"
        print(f"isolation check {name:17s} {done.group(1)} transactions, each saw only its "
              f"tenant's rows{left}")

    samples = {}
    order = list(VARIANTS)
    for rnd in range(args.rounds):
        for conns in clients:
            for name in (order if rnd % 2 == 0 else order[::-1]):
                role, protocol, env, around = VARIANTS[name]
                out = pgbench(args.server, role, protocol, around(READ), env,
                              ["-c", str(conns), "-j", "2", "-T", str(args.seconds)])
                tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
                samples.setdefault((name, conns), []).append(tps)
                print(f"round {rnd + 1} c={conns:<3d} {name:17s} {tps:9.0f} tps", flush=True)

    print()
    print(f"{'variant':17s} " + " ".join(f"{'c=' + str(c) + ' tps':>11s} {'ratio':>6s}"
                                          for c in clients))
    result = {}
    for name in VARIANTS:
        row = []
        for conns in clients:
            med = statistics.median(samples[(name, conns)])
            base = statistics.median(samples[("handwritten", conns)])
            row.append(f"{med:11.0f} {med / base:6.2f}")
            result[f"{name}:{conns}"] = {"tps": med, "ratio": med / base,
                                         "samples": samples[(name, conns)]}
        print(f"{name:17s} " + " ".join(row))
    print("(medians over rounds; ratio = variant / handwritten at the same clients)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    psql(args.server, f"DROP DATABASE IF EXISTS {DB};")


if __name__ == "__main__":
    main()
