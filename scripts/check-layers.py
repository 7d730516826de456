#!/usr/bin/env python3
"""The module graph of saas-core: fails on an import cycle between top-level modules that is
not in the known list below, and on a non-test file that grows past the line limit.

The known lists only shrink: an entry that no longer exists is an error too, so fixing a cycle
or splitting a file forces the list to follow. `--graph` prints the graph (`a -> b` when a file
of module `a` names `crate::b`), `--dot` the same for Graphviz.

Usage: scripts/check-layers.py [--graph | --dot] [SRC_DIR]
"""
import os
import re
import sys

# Edges that close a cycle today (`from -> to`), to be removed as the layers are untangled
# (issue 17). A new edge that closes a cycle fails the check.
KNOWN_CYCLE_EDGES = {
    ("events", "model"),
    ("events", "tenancy"),
    ("migrate", "events"),
    ("migrate", "model"),
    ("migrate", "tenancy"),
    ("model", "tenancy"),
    ("telemetry", "tenancy"),
    ("tenancy", "events"),
    ("tenancy", "migrate"),
    ("tenancy", "model"),
    ("tenancy", "telemetry"),
}

LINE_LIMIT = 800
# Files over the limit today (non-test lines), to be split (issue 17).
KNOWN_LONG_FILES = {
    "tenancy/moves.rs",
}

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
    failures = []
    cycles = cycle_edges(edges)
    for a, b in sorted(cycles - KNOWN_CYCLE_EDGES):
        failures.append(
            f"new import cycle: `{a}` uses `crate::{b}`, and `{b}` reaches `{a}` back; "
            "make the lower layer not depend on the higher one"
        )
    for a, b in sorted(KNOWN_CYCLE_EDGES - cycles):
        failures.append(
            f"({a}, {b}) no longer closes a cycle: remove it from KNOWN_CYCLE_EDGES in {__file__}"
        )
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
        f"{len(cycles)} edges in cycles (modules {', '.join(in_cycles) or 'none'}), "
        f"{len(long)} files over {LINE_LIMIT} lines"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
