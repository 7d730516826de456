"""The edge checks of scripts/e2e/edge.sh, against a running app behind Varnish.

usage: edge_checks.py EDGE APP ADMIN_TOKEN STATE_DIR [phase]
phases: (none) the isolation and purge checks; purge-paused; purge-resumed; grace-fill; grace.
State (tenants, tokens, projects) is kept in STATE_DIR/state.json between phases.
"""
import concurrent.futures
import json
import random
import sys
import time
import urllib.error
import urllib.request

edge, app, admin, state_dir = sys.argv[1:5]
phase = sys.argv[5] if len(sys.argv) > 5 else "main"
state_file = f"{state_dir}/state.json"
failures = []


def request(base, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, dict(e.headers), parsed


def check(what, ok, detail=""):
    print(("PASS: " if ok else "FAIL: ") + what + (f" ({detail})" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def get_until(path, token, predicate, limit):
    """GETs through the edge until predicate(status, headers, body); the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        status, headers, body = request(edge, "GET", path, token)
        if predicate(status, headers, body):
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def cached(path, token):
    """GETs until the edge answers from its cache (at most 5 s)."""
    return get_until(path, token, lambda s, h, b: s == 200 and h.get("X-Edge-Cache") == "HIT", 5) is not None


def main_phase():
    tenants = []
    for n in range(20):
        slug = f"edge{n}-{random.randrange(16**6):06x}"
        status, _, tenant = request(app, "POST", "/admin/tenants", admin, {"slug": slug, "name": slug})
        assert status == 201, (status, tenant)
        status, _, token = request(app, "POST", f"/admin/tenants/{tenant['id']}/tokens", admin,
                                   {"subject": "edge", "ttl_seconds": 3600})
        assert status == 201, (status, token)
        projects = []
        for k in range(2):
            status, _, project = request(edge, "POST", "/v2/projects", token["token"], {"name": f"{slug} p{k}"})
            assert status == 201, (status, project)
            projects.append(project["id"])
        tenants.append({"slug": slug, "token": token["token"], "projects": projects})
    json.dump({"tenants": tenants}, open(state_file, "w"))

    rng = random.Random(20)
    plan = []
    for _ in range(1000):
        t = rng.randrange(len(tenants))
        roll = rng.random()
        if roll < 0.7:
            plan.append((t, "own", rng.choice(tenants[t]["projects"])))
        elif roll < 0.9:
            plan.append((t, "list", None))
        else:
            other = rng.choice([i for i in range(len(tenants)) if i != t])
            plan.append((t, "foreign", rng.choice(tenants[other]["projects"])))

    def run(item):
        t, kind, project = item
        tenant = tenants[t]
        path = "/v2/projects" if kind == "list" else f"/v2/projects/{project}"
        status, headers, body = request(edge, "GET", path, tenant["token"])
        hit = headers.get("X-Edge-Cache") == "HIT"
        if kind == "foreign":
            return hit, status == 404, f"{tenant['slug']} got {status} for another tenant's project"
        if status != 200:
            return hit, False, f"{tenant['slug']} got {status} for {path}"
        items = body["items"] if kind == "list" else [body]
        ok = all(i["id"] in tenant["projects"] and i["name"].startswith(tenant["slug"] + " ") for i in items)
        if kind == "list":
            ok = ok and len(items) == len(tenant["projects"])
        return hit, ok, f"{tenant['slug']} got {items} for {path}"

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, plan))
    wrong = [detail for _, ok, detail in results if not ok]
    hits = sum(1 for hit, _, _ in results if hit)
    check(f"1,000 interleaved requests of 20 tenants through the edge: none got another tenant's body "
          f"({len(wrong)} wrong)", not wrong, "; ".join(wrong[:3]))
    check(f"the edge answered {hits} of them from its cache (so the check above tested cached entries)", hits > 300)

    a, b = tenants[0], tenants[1]
    pa, pb = a["projects"][0], b["projects"][0]
    check("tenant A's project is cached at the edge", cached(f"/v2/projects/{pa}", a["token"]))
    check("tenant B's project is cached at the edge", cached(f"/v2/projects/{pb}", b["token"]))
    check("tenant A's list is cached at the edge", cached("/v2/projects", a["token"]))
    status, _, _ = request(edge, "PATCH", f"/v2/projects/{pa}", a["token"], {"name": f"{a['slug']} renamed"})
    check("a rename through the edge goes to the app", status == 200, status)
    took = get_until(f"/v2/projects/{pa}", a["token"],
                     lambda s, h, body: s == 200 and body["name"] == f"{a['slug']} renamed", 10)
    check(f"the rename shows through the edge {took and round(took, 2)} s later (TTL 300 s: a purge)", took is not None)
    status, headers, _ = request(edge, "GET", f"/v2/projects/{pb}", b["token"])
    check("tenant B's entry survives tenant A's purge (only the written tenant's keys are purged)",
          status == 200 and headers.get("X-Edge-Cache") == "HIT", headers.get("X-Edge-Cache"))
    status, _, created = request(edge, "POST", "/v2/projects", a["token"], {"name": f"{a['slug']} p2"})
    took = get_until("/v2/projects", a["token"],
                     lambda s, h, body: s == 200 and any(i["id"] == created["id"] for i in body["items"]), 10)
    check(f"a new project shows in the list through the edge {took and round(took, 2)} s later", took is not None)


def load():
    return json.load(open(state_file))


def purge_paused():
    a = load()["tenants"][2]
    path = f"/v2/projects/{a['projects'][0]}"
    check("the project is cached at the edge", cached(path, a["token"]))
    _, _, before = request(edge, "GET", path, a["token"])
    status, _, _ = request(edge, "PATCH", path, a["token"], {"name": f"{a['slug']} while paused"})
    check("the write goes through the edge to the app", status == 200, status)
    time.sleep(3)
    status, headers, body = request(edge, "GET", path, a["token"])
    check("the edge keeps serving the entry its refused purge named", status == 200 and body["name"] == before["name"], body)


def purge_resumed():
    a = load()["tenants"][2]
    path = f"/v2/projects/{a['projects'][0]}"
    took = get_until(path, a["token"], lambda s, h, body: s == 200 and body["name"] == f"{a['slug']} while paused", 60)
    check(f"the retried purge landed {took and round(took, 2)} s after the edge took purges again", took is not None)


def grace_fill():
    state = load()
    a = state["tenants"][3]
    # A project the edge has never held, so its entry gets this app's TTL of 1 s.
    status, _, project = request(app, "POST", "/v2/projects", a["token"], {"name": f"{a['slug']} grace"})
    assert status == 201, (status, project)
    state["grace_project"] = project["id"]
    json.dump(state, open(state_file, "w"))
    status, headers, body = request(edge, "GET", f"/v2/projects/{project['id']}", a["token"])
    check("the edge holds tenant D's new project (TTL 1 s)",
          status == 200 and "s-maxage=1" in headers.get("cache-control", ""), (status, headers))
    json.dump(body, open(f"{state_dir}/grace.json", "w"))


def grace():
    state = load()
    a, b = state["tenants"][3], state["tenants"][4]
    path = f"/v2/projects/{state['grace_project']}"
    status, headers, body = request(edge, "GET", path, a["token"])
    check("the edge answers from its expired entry while the app is down", status == 200, status)
    check("it says the answer is stale (X-Edge-Stale: 1, Age >= 1)",
          headers.get("X-Edge-Stale") == "1" and int(headers.get("Age", "0")) >= 1, headers)
    check("the stale body is the one it held", body == json.load(open(f"{state_dir}/grace.json")), body)
    status, _, body = request(edge, "GET", path, b["token"])
    check("another tenant's token gets no stale copy of it", status != 200, (status, body))


{"main": main_phase, "purge-paused": purge_paused, "purge-resumed": purge_resumed,
 "grace-fill": grace_fill, "grace": grace}[phase]()
sys.exit(1 if failures else 0)
