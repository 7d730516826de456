#!/usr/bin/env python3
"""The module graph of saas-core: every top-level module sits in one layer of LAYERS below, and
may only use modules of lower layers. Fails on an upward or sideways edge (which is how an
import cycle starts), on a module that is in no layer, and on a non-test file that grows past
the line limit.

`--graph` prints the graph (`a -> b` when a file of module `a` names `crate::b`), `--dot` the
same for Graphviz, `--layers` the layers with their modules.

Usage: scripts/check-layers.py [--graph | --dot | --layers] [SRC_DIR]
"""
import os
import re
import sys

# Bottom to top. A module may use any module of a lower layer, none of its own or a higher one.
LAYERS = [
    ("leaves: SQL quoting, ids, connections, the clock",
     {"sql", "tenant_id", "redis_conn", "devdb", "clock"}),
    ("errors, the request's tenant slot, declared cache policies",
     {"error", "request_tenant", "cache_policy"}),
    ("settings, HTTP problems, API versions", {"settings", "http", "versioning"}),
    ("tenancy: registry, placement, pools, transactions, resolvers", {"tenancy"}),
    ("models (RLS DDL) and OpenAPI documents", {"model", "openapi"}),
    ("domain events and the outbox", {"events"}),
    ("isolation: roles and the audit", {"isolation"}),
    ("operations: migrations, moves, telemetry, rate limits, caches",
     {"migrate", "moves", "telemetry", "ratelimit", "cache"}),
    ("runtime bootstrap, health, the operator CLI", {"bootstrap", "health", "cli"}),
    ("the app builder", {"app"}),
]

LINE_LIMIT = 800
# Files allowed over the limit (non-test lines). None since issue 17; an entry here is a
# file to split, and the check fails once it is split and still listed.
KNOWN_LONG_FILES = set()

TEST_MODULE = re.compile(r"^#\[cfg\(test\)\]\s*\n\s*(pub(\(crate\))? )?mod \w+ \{", re.M)


def non_test_source(text):
    """The file without its trailing `#[cfg(test)] mod tests { .. }` block."""
    match = TEST_MODULE.search(text)
    return text[: match.start()] if match else text


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def graph(src):
    modules = {}
    lengths = {}
    for directory, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, src)
            top = rel.split(os.sep)[0].removesuffix(".rs")
            with open(path, encoding="utf-8") as f:
                text = non_test_source(f.read())
            lengths[rel] = text.count("\n")
            if top in ("lib", "main"):
                continue
            code = strip_comments(text)
            deps = set(re.findall(r"\bcrate::(\w+)", code))
            for group in re.finditer(r"\buse crate::\{([^;]*)\};", code, re.S):
                deps.update(re.findall(r"(?:^|[,{\s])(\w+)(?=\s*(?:::|,|\}|$))", group.group(1)))
            modules.setdefault(top, set()).update(deps)
    names = set(modules)
    return {m: sorted((d for d in deps if d in names and d != m)) for m, deps in modules.items()}, lengths


def cycle_edges(edges):
    """Edges inside a strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, component = {}, {}, [], set(), {}
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            for w in members:
                component[w] = v

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return {(a, b) for a in edges for b in edges[a] if component[a] == component[b]}


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "saas-core", "src")
    edges, lengths = graph(src)
    if "--graph" in argv:
        for module in sorted(edges):
            print(f"{module} -> {', '.join(edges[module]) or '(nothing)'}")
        return 0
    if "--dot" in argv:
        print("digraph saas_core {")
        for module in sorted(edges):
            for dep in edges[module]:
                print(f'  "{module}" -> "{dep}";')
        print("}")
        return 0
    layer_of = {m: i for i, (_, modules) in enumerate(LAYERS) for m in modules}
    listing = "".join(
        f"{i}. {name}: {', '.join(sorted(modules))}\n"
        for i, (name, modules) in reversed(list(enumerate(LAYERS)))
    )
    if "--layers" in argv:
        print(listing, end="")
        return 0
    failures = []
    chapter = os.path.join(os.path.dirname(__file__), "..", "docs", "src", "architecture.md")
    if not args and listing not in open(chapter).read():
        failures.append(
            "docs/src/architecture.md does not show the layers as they are: paste the output "
            "of `scripts/check-layers.py --layers` into its text block"
        )
    for module in sorted(set(edges) - set(layer_of)):
        failures.append(f"module `{module}` is in no layer: add it to LAYERS in {__file__}")
    for module in sorted(set(layer_of) - set(edges)):
        failures.append(f"LAYERS names `{module}`, which is not a module of {src}")
    for a in sorted(edges):
        for b in edges[a]:
            if a in layer_of and b in layer_of and layer_of[b] >= layer_of[a]:
                failures.append(
                    f"`{a}` ({LAYERS[layer_of[a]][0]}) uses `crate::{b}` "
                    f"({LAYERS[layer_of[b]][0]}): a module may only use lower layers"
                )
    cycles = cycle_edges(edges)
    for a, b in sorted(cycles):
        failures.append(f"import cycle: `{a}` uses `crate::{b}`, and `{b}` reaches `{a}` back")
    long = {rel for rel, n in lengths.items() if n > LINE_LIMIT}
    for rel in sorted(long - KNOWN_LONG_FILES):
        failures.append(f"{rel} has {lengths[rel]} non-test lines (limit {LINE_LIMIT}): split it")
    for rel in sorted(KNOWN_LONG_FILES - long):
        failures.append(f"{rel} is within {LINE_LIMIT} lines now: remove it from KNOWN_LONG_FILES")
    for failure in failures:
        print(f"check-layers: {failure}", file=sys.stderr)
    in_cycles = sorted({m for edge in cycles for m in edge})
    print(
        f"check-layers: {len(edges)} modules, {sum(map(len, edges.values()))} edges, "
        f"{len(LAYERS)} layers, {len(cycles)} edges in cycles "
        f"(modules {', '.join(in_cycles) or 'none'}), "
        f"{len(long)} files over {LINE_LIMIT} lines"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
