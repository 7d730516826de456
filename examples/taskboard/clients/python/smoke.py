#!/usr/bin/env python3
"""Smoke test of the generated taskboard client against a running app.

Creates two tenants through the admin API (plain httpx: the admin routes are not in the
versioned documents), then, through the client that generate.sh produced from the OpenAPI
document: tenant A creates a project and a task and reads both back; tenant B must get 404
for both, by id and through A's project, and must not see or change them.

Usage: smoke.py --base-url http://127.0.0.1:PORT   (admin token in $TASKBOARD_ADMIN_TOKEN)

Prints one line per check, `ok - ...` or `not ok - ...`, then `N passed, N failed`;
exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "generated"))

import httpx  # noqa: E402  (a dependency of the generated client)

try:
    from taskboard_client import AuthenticatedClient  # noqa: E402
    from taskboard_client.api.projects import (  # noqa: E402
        create_project,
        delete_project,
        get_project,
        list_projects,
        update_project,
    )
    from taskboard_client.api.tasks import (  # noqa: E402
        create_task,
        get_task,
        list_tasks,
    )
    from taskboard_client.models import (  # noqa: E402
        Problem,
        ProjectBody,
        ProjectInput,
        Status,
        TaskBody,
        TaskInput,
    )
except ImportError as exc:  # pragma: no cover - only when generate.sh has not run
    sys.exit(f"smoke: the generated client is missing ({exc}); run generate.sh first")


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: object = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok - {what}", flush=True)
        else:
            self.failed += 1
            print(f"not ok - {what}" + (f": {detail}" if detail != "" else ""), flush=True)
        return ok


def describe(response) -> str:
    return f"HTTP {int(response.status_code)} {response.content[:300]!r}"


def admin_tenant(admin: httpx.Client, slug: str) -> tuple[str, str]:
    """Creates a shared-tier tenant and a token for it; returns (tenant id, token)."""
    r = admin.post("/admin/tenants", json={"slug": slug, "name": f"Smoke {slug}", "tier": "shared"})
    if r.status_code != 201:
        raise RuntimeError(f"POST /admin/tenants ({slug}) -> {r.status_code} {r.text[:300]}")
    tenant_id = r.json()["id"]
    r = admin.post(f"/admin/tenants/{tenant_id}/tokens", json={"subject": "smoke", "ttl_seconds": 3600})
    if r.status_code != 201:
        raise RuntimeError(f"POST /admin/tenants/{tenant_id}/tokens -> {r.status_code} {r.text[:300]}")
    return tenant_id, r.json()["token"]


def is_not_found(response) -> bool:
    return (
        int(response.status_code) == 404
        and isinstance(response.parsed, Problem)
        and response.parsed.status == 404
        and response.headers.get("content-type", "").startswith("application/problem+json")
    )


def run(base_url: str, admin_token: str) -> Checks:
    c = Checks()
    run_id = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30) as admin:
        try:
            _, token_a = admin_tenant(admin, f"smoke-a-{run_id}")
            _, token_b = admin_tenant(admin, f"smoke-b-{run_id}")
        except (RuntimeError, httpx.HTTPError) as exc:
            c.check(False, "admin API creates tenants A and B with tokens", exc)
            return c
        c.check(True, "admin API creates tenants A and B with tokens")

    a = AuthenticatedClient(base_url=base_url, token=token_a, timeout=httpx.Timeout(30), raise_on_unexpected_status=True)
    b = AuthenticatedClient(base_url=base_url, token=token_b, timeout=httpx.Timeout(30), raise_on_unexpected_status=True)

    # Tenant A writes.
    name = f"Smoke project {run_id} ✓"  # a non-ASCII character, to check the round trip
    r = create_project.sync_detailed(client=a, body=ProjectInput(name=name))
    if not c.check(
        int(r.status_code) == 201 and isinstance(r.parsed, ProjectBody) and r.parsed.name == name,
        "A creates a project (201, name round-trips)",
        describe(r),
    ):
        return c
    project = r.parsed

    title = f"Smoke task {run_id}"
    r = create_task.sync_detailed(project.id, client=a, body=TaskInput(title=title, status=Status.DOING))
    if not c.check(
        int(r.status_code) == 201
        and isinstance(r.parsed, TaskBody)
        and r.parsed.project_id == project.id
        and r.parsed.title == title
        and r.parsed.status == Status.DOING,
        "A creates a task in it (201, project_id/title/status as sent)",
        describe(r),
    ):
        return c
    task = r.parsed

    # Tenant A reads back.
    r = get_project.sync_detailed(project.id, client=a)
    c.check(
        int(r.status_code) == 200 and isinstance(r.parsed, ProjectBody) and r.parsed.to_dict() == project.to_dict(),
        "A reads the project back by id, unchanged",
        describe(r),
    )
    r = get_task.sync_detailed(task.id, client=a)
    c.check(
        int(r.status_code) == 200 and isinstance(r.parsed, TaskBody) and r.parsed.to_dict() == task.to_dict(),
        "A reads the task back by id, unchanged",
        describe(r),
    )
    r = list_projects.sync_detailed(client=a, limit=100)
    c.check(
        int(r.status_code) == 200 and project.id in [p.id for p in r.parsed.items],
        "A's project list contains the project",
        describe(r),
    )
    r = list_tasks.sync_detailed(project.id, client=a)
    c.check(
        int(r.status_code) == 200 and [t.id for t in r.parsed.items] == [task.id],
        "A's task list of the project holds exactly the task",
        describe(r),
    )

    # Tenant B is shut out: 404, never 403, never the data.
    r = get_project.sync_detailed(project.id, client=b)
    c.check(is_not_found(r), "B gets 404 problem+json for A's project", describe(r))
    r = get_task.sync_detailed(task.id, client=b)
    c.check(is_not_found(r), "B gets 404 problem+json for A's task", describe(r))
    r = list_tasks.sync_detailed(project.id, client=b)
    c.check(is_not_found(r), "B gets 404 listing the tasks of A's project", describe(r))
    r = list_projects.sync_detailed(client=b, limit=100)
    c.check(
        int(r.status_code) == 200 and project.id not in [p.id for p in r.parsed.items],
        "B's project list does not contain A's project",
        describe(r),
    )
    r = update_project.sync_detailed(project.id, client=b, body=ProjectInput(name="taken over"))
    c.check(is_not_found(r), "B gets 404 renaming A's project", describe(r))
    r = delete_project.sync_detailed(project.id, client=b)
    c.check(is_not_found(r), "B gets 404 deleting A's project", describe(r))

    # B's attempts left A's data as it was.
    r = get_project.sync_detailed(project.id, client=a)
    c.check(
        int(r.status_code) == 200 and isinstance(r.parsed, ProjectBody) and r.parsed.name == name,
        "A's project is intact after B's attempts",
        describe(r),
    )
    r = get_task.sync_detailed(task.id, client=a)
    c.check(int(r.status_code) == 200, "A's task is intact after B's attempts", describe(r))
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080")
    args = parser.parse_args()
    admin_token = os.environ.get("TASKBOARD_ADMIN_TOKEN")
    if not admin_token:
        print("smoke: set TASKBOARD_ADMIN_TOKEN", file=sys.stderr)
        return 2
    try:
        checks = run(args.base_url.rstrip("/"), admin_token)
    except Exception as exc:  # an undocumented status, a refused connection, a parse error
        checks = Checks()
        checks.check(False, "smoke run completed without an exception", f"{type(exc).__name__}: {exc}")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
