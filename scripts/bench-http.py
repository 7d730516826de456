#!/usr/bin/env python3
"""The reference app against the same routes written by hand (examples/bench-baseline), under wrk.

Run through scripts/bench-http.sh, which builds both servers and finds PostgreSQL. This script:

- starts the taskboard (the framework: row-level security, resolvers, telemetry, the outbox
  relay) and the hand-written axum + sqlx server on the same fresh database;
- seeds TENANTS tenants (default 20) with PROJECTS projects each (default 50) through the API;
- for every route (read by id, list, create), connection count and token mode (`one`: one
  tenant's token; `rotate`: every request the next tenant's token, a wrk Lua script), runs the
  two servers alternately for ROUNDS rounds, the order swapped each round;
- reads the CPU time of the server process (/proc/PID/stat) and of the database backends that
  serve it (pg_stat_activity: the baseline's by its application_name, every other backend of the
  bench database the taskboard's, its owner pool and relay included) before and after each run, and reports per
  route and mode: median req/s, median p99 latency, CPU microseconds per request for the server
  and for PostgreSQL, and the ratios taskboard / hand-written.

A run fails (exit 1) when any response is not 2xx, so a fast error can never pass for a fast
answer. Output: a table on stdout and, with --json FILE, every sample.
"""
import argparse
import urllib.parse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")
BASELINE_APP = "bench-baseline"

LUA = r"""
-- One line per tenant in the file: "<token> <project id>". Mode "one" uses the first line only;
-- "rotate" takes the next line for every request (each wrk thread starts at a different line).
local lines = {}
local idx = 0
local route, mode
function init(args)
  route, mode = args[1], args[2]
  for line in io.lines(args[3]) do
    local token, id = line:match("(%S+)%s+(%S+)")
    lines[#lines + 1] = { token = token, id = id }
  end
  if mode == "one" then lines = { lines[1] } end
  idx = math.random(#lines) - 1
end
local body = '{"name":"bench project"}'
function request()
  idx = (idx % #lines) + 1
  local l = lines[idx]
  local headers = { ["Authorization"] = "Bearer " .. l.token }
  if route == "get" then
    return wrk.format("GET", "/v2/projects/" .. l.id, headers)
  elseif route == "list" then
    return wrk.format("GET", "/v2/projects?limit=20", headers)
  else
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/v2/projects", headers, body)
  end
end
"""


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


class Postgres:
    def __init__(self, url):
        self.url = url

    def sql(self, query):
        out = subprocess.run(
            ["psql", self.url, "-XAtqc", query], check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    def backends(self, db, server):
        """The backends serving one server: the baseline names itself in application_name;
        every other connection to the bench database is the taskboard's (its request role,
        and its owner pool: registry, relay)."""
        op = "=" if server == "handwritten" else "<>"
        rows = self.sql(
            "SELECT pid FROM pg_stat_activity "
            f"WHERE datname = '{db}' AND application_name {op} '{BASELINE_APP}' "
            "AND backend_type = 'client backend'"
        )
        return {int(p) for p in rows.split()}


def citus_workers(server):
    """(host, port) of the workers registered on the coordinator `server` names."""
    out = Postgres(server).sql(
        "SELECT nodename || ' ' || nodeport FROM pg_dist_node "
        "WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeid")
    return [tuple(line.split()) for line in out.splitlines() if line]


def on_node(url, host, port):
    parts = urllib.parse.urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}{host}:{port}"))


def citus_database(server, db):
    """Makes the coordinator's new database `db` a Citus database: the same database on
    every worker, the extension everywhere, the workers registered (what the testkit does)."""
    workers = citus_workers(server)
    if not workers:
        sys.exit(f"--citus: {server} has no Citus worker registered")
    base = server.rsplit("/", 1)[0]
    for host, port in workers:
        Postgres(on_node(server, host, port)).sql(f"CREATE DATABASE {db}")
    for node in [server] + [on_node(server, h, p) for h, p in workers]:
        Postgres(node.rsplit("/", 1)[0] + "/" + db).sql("CREATE EXTENSION citus")
    coordinator = urllib.parse.urlsplit(server)
    pg = Postgres(base + "/" + db)
    pg.sql(f"SELECT citus_set_coordinator_host('{coordinator.hostname}', {coordinator.port or 5432})")
    for host, port in workers:
        pg.sql(f"SELECT citus_add_node('{host}', {port})")


def request(port, method, path, headers, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    if res.status >= 300:
        sys.exit(f"{method} {path} on :{port} answered {res.status}: {data[:300]!r}")
    return json.loads(data) if data else None


def wait_listening(log, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"server exited: {open(log).read()[-2000:]}")
        if "listening on" in open(log).read():
            return
        time.sleep(0.1)
    sys.exit(f"server did not start: {open(log).read()[-2000:]}")


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return rps, total, float(p99.group(1)) * scale, int(bad.group(1)) if bad else 0, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="PostgreSQL URL (a maintenance database)")
    ap.add_argument("--target", required=True, help="the cargo target dir with release builds")
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", default="16,64")
    ap.add_argument("--routes", default="get,list,create")
    ap.add_argument("--modes", default="one,rotate")
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--projects", type=int, default=50)
    ap.add_argument("--json", help="write every sample here")
    ap.add_argument("--taskboard-only", action="store_true",
                    help="measure the reference app alone (medians, no ratios)")
    ap.add_argument("--citus", action="store_true",
                    help="--server is a Citus coordinator: the bench database is made a Citus "
                         "database (PostgreSQL CPU then counts the coordinator's backends only)")
    ap.add_argument("--profile", metavar="ROUTE:MODE:CONNS",
                    help="instead of the matrix: profile both servers under this load")
    ap.add_argument("--profile-dir", default="target/bench-http-profile",
                    help="where --profile writes flamegraphs (SVG) and counts")
    args = ap.parse_args()

    pg = Postgres(args.server)
    db = f"bench_http_{os.getpid()}"
    pg.sql(f"CREATE DATABASE {db}")
    if args.citus:
        citus_database(args.server, db)
    url = args.server.rsplit("/", 1)[0] + "/" + db
    procs = []
    work = tempfile.mkdtemp(prefix="bench-http-")
    try:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            TASKBOARD_ADMIN_TOKEN=f"bench-admin-{os.getpid()}",
            TASKBOARD_JWT_SECRET=f"bench-secret-{os.getpid()}-0123456789abcdef",
            RUST_LOG=env.get("RUST_LOG", "warn"),
        )
        env.pop("SAAS_RATE_LIMITS", None)
        servers = {"taskboard": 18181, "handwritten": 18182}
        tb_log = os.path.join(work, "taskboard.log")
        tb = subprocess.Popen(
            [f"{args.target}/release/taskboard", "serve", "--listen", "127.0.0.1:18181"],
            env=env, stdout=open(tb_log, "w"), stderr=subprocess.STDOUT,
        )
        procs.append(tb)
        wait_listening(tb_log, tb)
        hw_log = os.path.join(work, "handwritten.log")
        hw = subprocess.Popen(
            [f"{args.target}/release/bench-baseline", "127.0.0.1:18182"],
            env=dict(env, DATABASE_URL=f"{url}?application_name={BASELINE_APP}"),
            stdout=open(hw_log, "w"), stderr=subprocess.STDOUT,
        )
        procs.append(hw)
        wait_listening(hw_log, hw)
        pids = {"taskboard": tb.pid, "handwritten": hw.pid}

        admin = {
            "Authorization": f"Bearer {env['TASKBOARD_ADMIN_TOKEN']}",
            "Content-Type": "application/json",
        }
        lines = []
        for t in range(args.tenants):
            tenant = request(18181, "POST", "/admin/tenants", admin,
                             {"slug": f"bench-{t}", "name": f"Bench {t}"})["id"]
            token = request(18181, "POST", f"/admin/tenants/{tenant}/tokens", admin,
                            {"subject": "bench", "ttl_seconds": 86400})["token"]
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            first = None
            for p in range(args.projects):
                created = request(18181, "POST", "/v2/projects", auth, {"name": f"p{p}"})
                first = first or created["id"]
            lines.append(f"{token} {first}")
            # Both servers must answer the same thing before anything is measured.
            for port in servers.values():
                request(port, "GET", f"/v2/projects/{first}", auth)
                request(port, "GET", "/v2/projects?limit=20", auth)
        tokens = os.path.join(work, "tokens.txt")
        open(tokens, "w").write("\n".join(lines) + "\n")
        lua = os.path.join(work, "bench.lua")
        open(lua, "w").write(LUA)
        subprocess.run(["psql", url, "-XAtqc", "VACUUM ANALYZE"], check=True)

        if args.profile:
            profile(args, servers, pids, lua, tokens, db, url)
            return
        samples = []
        if args.taskboard_only:
            # The hand-written baseline's SQL is written for one server (its one-statement emit
            # goes through COPY on Citus): measure the reference app alone.
            servers = {"taskboard": servers["taskboard"]}
        routes = args.routes.split(",")
        modes = args.modes.split(",")
        conns = [int(c) for c in args.connections.split(",")]
        # A short warm-up of each server and route: connections, caches, JIT of nothing.
        for name, port in servers.items():
            for route in routes:
                subprocess.run(wrk_cmd(port, route, "rotate", 16, 2, lua, tokens),
                               check=True, capture_output=True)
        for route in routes:
            for mode in modes:
                for c in conns:
                    for r in range(args.rounds):
                        order = list(servers) if r % 2 == 0 else list(reversed(list(servers)))
                        for name in order:
                            port = servers[name]
                            before_pg = {p: cpu_ticks(p) for p in pg.backends(db, name)}
                            before_bound = bound_counts(servers, name, admin)
                            before_srv = cpu_ticks(pids[name])
                            out = subprocess.run(
                                wrk_cmd(port, route, mode, c, args.seconds, lua, tokens),
                                check=True, capture_output=True, text=True).stdout
                            srv = cpu_ticks(pids[name]) - before_srv
                            after = pg.backends(db, name)
                            pgcpu = sum(cpu_ticks(p) - before_pg.get(p, 0) for p in after)
                            bound = {k: v - before_bound.get(k, 0)
                                     for k, v in bound_counts(servers, name, admin).items()}
                            rps, total, p99, bad, errors = parse_wrk(out)
                            if bad:
                                sys.exit(f"{name} {route} {mode} c={c}: {bad} responses not 2xx\n{out}")
                            s = dict(server=name, route=route, mode=mode, conns=c, round=r + 1,
                                     rps=rps, p99_ms=p99,
                                     server_us=srv / TICK * 1e6 / total,
                                     pg_us=pgcpu / TICK * 1e6 / total)
                            if bound:
                                reads = bound["bound"] + bound["shared"]
                                s["bound_share"] = bound["bound"] / reads if reads else None
                                s["opened_per_1k"] = bound["opened"] * 1000 / total
                            samples.append(s)
                            print(f"{route:6} {mode:6} c={c:<3} round {r + 1} {name:11} "
                                  f"{rps:9.0f} req/s  p99 {p99:7.2f} ms  "
                                  f"server {s['server_us']:5.1f} us/req  pg {s['pg_us']:5.1f} us/req"
                                  + (f"  bound {s['bound_share']:.0%} of reads, "
                                     f"{s['opened_per_1k']:.1f} opened/1k req"
                                     if s.get("bound_share") is not None else "")
                                  + (f"  socket errors: {errors.group(1)}" if errors else ""),
                                  flush=True)
        if args.taskboard_only:
            for route in routes:
                for mode in modes:
                    for c in conns:
                        mine = [x for x in samples
                                if (x["route"], x["mode"], x["conns"]) == (route, mode, c)]
                        print(f"{route:6} {mode:6} c={c:<3} taskboard median "
                              f"{statistics.median(x['rps'] for x in mine):9.0f} req/s  p99 "
                              f"{statistics.median(x['p99_ms'] for x in mine):7.2f} ms")
        else:
            report(samples)
        if args.json:
            json.dump(samples, open(args.json, "w"), indent=1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        if args.citus:
            for host, port in citus_workers(args.server):
                Postgres(on_node(args.server, host, port)).sql(
                    f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def bound_counts(servers, name, admin):
    """The taskboard's bound-connection totals from /metrics (reads bound and sent down the
    shared path, connections opened); nothing for the hand-written server."""
    if name != "taskboard":
        return {}
    conn = http.client.HTTPConnection("127.0.0.1", servers[name], timeout=30)
    conn.request("GET", "/metrics", headers={"Authorization": admin["Authorization"]})
    body = conn.getresponse().read().decode()
    conn.close()
    counts = {"bound": 0, "shared": 0, "opened": 0}
    for line in body.splitlines():
        m = re.match(r'saas_bound_reads_total\{path="(\w+)"\} (\d+)', line)
        if m:
            counts[m.group(1)] = int(m.group(2))
        m = re.match(r"saas_bound_connections_opened_total (\d+)", line)
        if m:
            counts["opened"] = int(m.group(1))
    return counts


def wrk_cmd(port, route, mode, conns, seconds, lua, tokens):
    return ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", lua,
            f"http://127.0.0.1:{port}", "--", route, mode, tokens]


def profile(args, servers, pids, lua, tokens, db, url):
    """perf + inferno flamegraphs, syscalls (strace -c) and transactions per request."""
    route, mode, conns = args.profile.split(":")
    out = args.profile_dir
    os.makedirs(out, exist_ok=True)
    secs = args.seconds
    for name, port in servers.items():
        base = os.path.join(out, f"{name}-{route}-{mode}-{conns}")
        # CPU samples with DWARF call graphs (this machine has no hardware counters).
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph",
             "dwarf,16384", "-p", str(pids[name]), "-o", base + ".perf.data", "--",
             "sleep", str(secs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = subprocess.run(wrk_cmd(port, route, mode, conns, secs, lua, tokens),
                             check=True, capture_output=True, text=True).stdout
        perf.wait()
        rps, total, p99, bad, _ = parse_wrk(res)
        with open(base + ".folded", "w") as folded:
            script = subprocess.Popen(["perf", "script", "-i", base + ".perf.data"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            subprocess.run(["inferno-collapse-perf"], stdin=script.stdout, stdout=folded,
                           check=True)
            script.wait()
        with open(base + ".svg", "w") as svg:
            subprocess.run(["inferno-flamegraph", "--minwidth", "1", "--title",
                            f"{name}: {route}, {mode} token(s), {conns} connections",
                            base + ".folded"], stdout=svg, check=True)
        os.remove(base + ".perf.data")
        # Syscalls per request: strace slows the server, the count per request stays.
        stats = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        xacts = int(subprocess.run(["psql", url, "-XAtqc", stats], capture_output=True,
                                   text=True, check=True).stdout)
        strace = subprocess.Popen(["strace", "-c", "-f", "-p", str(pids[name]), "-o",
                                   base + ".strace"], stderr=subprocess.DEVNULL)
        time.sleep(1)
        res = subprocess.run(wrk_cmd(port, route, mode, conns, secs, lua, tokens),
                             check=True, capture_output=True, text=True).stdout
        strace.send_signal(2)
        strace.wait()
        _, traced, _, _, _ = parse_wrk(res)
        time.sleep(11)  # idle backends flush their statistics after 10 s
        xacts = int(subprocess.run(["psql", url, "-XAtqc", stats], capture_output=True,
                                   text=True, check=True).stdout) - xacts - 1
        calls = {}
        for line in open(base + ".strace"):
            f = line.split()
            if len(f) >= 5 and f[-1] not in ("syscall", "total") and f[3].isdigit():
                calls[f[-1]] = int(f[3])
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
        print(f"{name}: {rps:.0f} req/s, p99 {p99:.2f} ms; {sum(calls.values()) / traced:.1f} "
              f"syscalls/request ({', '.join(f'{k} {v / traced:.2f}' for k, v in top)}); "
              f"{xacts / traced:.2f} PostgreSQL transactions/request; flamegraph {base}.svg")


def report(samples):
    med = statistics.median
    keys = sorted({(s["route"], s["mode"], s["conns"]) for s in samples},
                  key=lambda k: (["get", "list", "create"].index(k[0]), k[1], k[2]))
    print()
    print("route  tokens  conns | taskboard req/s  p99 ms  cpu us/req (server+pg) | "
          "hand-written req/s  p99 ms  cpu us/req (server+pg) | throughput  server-cpu  p99")
    for route, mode, c in keys:
        row = {}
        for name in ("taskboard", "handwritten"):
            ss = [s for s in samples if (s["route"], s["mode"], s["conns"], s["server"])
                  == (route, mode, c, name)]
            row[name] = {k: med(s[k] for s in ss) for k in ("rps", "p99_ms", "server_us", "pg_us")}
        t, h = row["taskboard"], row["handwritten"]
        print(f"{route:6} {mode:6} {c:6} | {t['rps']:15.0f} {t['p99_ms']:7.2f} "
              f"{t['server_us']:6.1f} + {t['pg_us']:5.1f}              | "
              f"{h['rps']:18.0f} {h['p99_ms']:7.2f} {h['server_us']:6.1f} + {h['pg_us']:5.1f}"
              f"              | {t['rps'] / h['rps']:10.2f} {t['server_us'] / h['server_us']:11.2f}"
              f" {t['p99_ms'] / h['p99_ms']:5.2f}")
    for route, mode, c in keys:
        ss = [s for s in samples if (s["route"], s["mode"], s["conns"], s["server"])
              == (route, mode, c, "taskboard") and s.get("bound_share") is not None]
        if ss:
            print(f"{route:6} {mode:6} {c:6} | taskboard reads on a bound connection "
                  f"{med(s['bound_share'] for s in ss):.0%}, bound connections opened "
                  f"{med(s['opened_per_1k'] for s in ss):.1f} per 1,000 requests")
    print("(medians over rounds; ratios are taskboard / hand-written: throughput >= 0.90 read,"
          " >= 0.85 list and create is the target; server-cpu <= 1.15; p99 <= 1.2 at 64)")


if __name__ == "__main__":
    main()
