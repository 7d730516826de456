#!/usr/bin/env python3
"""Fixed hostile inputs that must never yield a 5xx, for scripts/e2e/run.sh.

schemathesis explores inputs at random, so a server error it finds once may hide in the next
run. This sends the inputs that have broken the app before (or that commonly break apps:
NUL bytes bound for PostgreSQL text columns, extreme integers, malformed ids, bodies and
content types) on every run, so such a regression fails the run deterministically.

Usage: hostile_inputs.py --base-url URL --token TENANT_JWT   (admin token in $TASKBOARD_ADMIN_TOKEN)
Prints one `ok - ...` / `not ok - ...` line per request (with a curl line to reproduce a
5xx) and exits 1 if any request got a 5xx, no answer, or an error that is not
application/problem+json (the contract's error format). Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import sys
import urllib.parse
import uuid

NUL = "a\u0000b"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True, help="a tenant JWT")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    admin_token = os.environ.get("TASKBOARD_ADMIN_TOKEN", "")
    failed = 0

    target = urllib.parse.urlsplit(base)

    def send(method: str, path: str, body: object = None, *, raw: bytes | None = None,
             content_type: str = "application/json", admin: bool = False) -> tuple[int, str, bytes]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Authorization": f"Bearer {admin_token if admin else args.token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            try:
                conn.request(method, target.path + path, body=data, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413) before it has read the whole body
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()

    def probe(method: str, path: str, body: object = None, **kw) -> tuple[int, bytes]:
        nonlocal failed
        raw = kw.get("raw")
        shown = (raw[:60] + (b"..." if len(raw) > 60 else b"")).decode("latin-1") if raw is not None \
            else (json.dumps(body) if body is not None else "")
        what = f"{method} {path} {shown}".strip()
        what = what if len(what) <= 110 else what[:107] + "..."
        try:
            status, ctype, content = send(method, path, body, **kw)
        except Exception as exc:  # a reset connection is as bad as a 500
            failed += 1
            print(f"not ok - no answer to {what}: {type(exc).__name__}: {exc}")
            return 0, b""  # nothing to parse
        if status < 400:
            print(f"ok - {status} for {what}")
        elif status < 500:
            # The contract: every error is application/problem+json.
            if ctype.startswith("application/problem+json"):
                print(f"ok - {status} problem+json for {what}")
            else:
                failed += 1
                print(f"not ok - {status} for {what} is {ctype!r}, not application/problem+json: {content[:120]!r}")
        else:
            failed += 1
            auth = "$TASKBOARD_ADMIN_TOKEN" if kw.get("admin") else "$TOKEN"
            curl = f"curl -X {method} -H \"Authorization: Bearer {auth}\""
            if raw is None and body is not None:
                curl += f" -H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
            print(f"not ok - {status} for {what}: {content[:200]!r}\n    reproduce: {curl} {shlex.quote(base + path)}")
        return status, content

    # Something to aim at: a project and a task of this tenant.
    status, _, content = send("POST", "/v2/projects", {"name": "hostile inputs"})
    project = json.loads(content)["id"] if status == 201 else str(uuid.uuid4())
    status, _, content = send("POST", f"/v2/projects/{project}/tasks", {"title": "target", "status": "todo"})
    task = json.loads(content)["id"] if status == 201 else str(uuid.uuid4())

    # NUL bytes in every text field the API stores (PostgreSQL text cannot hold U+0000).
    probe("POST", "/v2/projects", {"name": NUL})
    probe("PATCH", f"/v2/projects/{project}", {"name": NUL})
    probe("POST", f"/v2/projects/{project}/tasks", {"title": NUL, "status": "todo"})
    probe("PATCH", f"/v2/tasks/{task}", {"title": NUL})
    probe("POST", "/v1/projects", {"name": NUL})
    probe("POST", f"/v1/projects/{project}/tasks", {"title": NUL, "done": False})
    if admin_token:
        probe("POST", "/admin/tenants", {"slug": f"nul-{uuid.uuid4().hex[:8]}", "name": NUL, "tier": "shared"}, admin=True)
    # A lone surrogate escape is not a Unicode scalar value.
    probe("POST", "/v2/projects", raw=b'{"name":"\\ud800"}')
    # Query and path parameters out of every range.
    for query in ("limit=-9223372036854775808", "limit=99999999999999999999", "limit=abc", "limit=0",
                  "cursor=%00", "cursor=" + "A" * 300):
        probe("GET", f"/v2/projects?{query}")
    for path in ("/v2/projects/not-a-uuid", "/v2/projects/%00", "/v2/tasks/" + "9" * 40):
        probe("GET", path)
    # Malformed bodies, a wrong content type, an oversized body.
    probe("POST", "/v2/projects", raw=b'{"name":')
    probe("POST", "/v2/projects", raw=b'{"name":"x"}', content_type="text/plain")
    probe("POST", "/v2/projects", raw=b'{"name":"' + b"x" * (1024 * 1024 + 16) + b'"}')
    probe("POST", f"/v2/projects/{project}/tasks", {"title": "t", "status": "nonsense"})

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
