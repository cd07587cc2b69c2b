#!/usr/bin/env python3
"""The architecture's rules, checked from the sources (run by `make test`):

1. Inside each crate, no dependency cycle between modules, except a parent module with its own children
   (`outbox` and `outbox/worker`). A module's dependencies are the `crate::…` paths its file names.
2. Between crates, the direction is contract ← runtime ← services ← api ← qiao (store beside runtime; kit, the
   connector kit, on runtime only): checked
   with `cargo tree`, which also shows that qiao-runtime pulls in neither axum nor rusqlite, and qiao-contract no
   Wasm compiler.

Exits non-zero, naming the cycle or the dependency, when a rule is broken.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = os.path.join(ROOT, "crates")


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def modules(src):
    """Every module of a crate: its path (a tuple) and the module paths its file refers to with `crate::`."""
    found = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                found[module_of(src, path)] = open(path, encoding="utf-8").read()
    known = set(found)
    deps = {}
    for module, text in found.items():
        # Strip comments so a doc line naming another module is not a dependency.
        code = re.sub(r"//[^\n]*", "", text)
        targets = set()
        for m in re.finditer(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
            parts = tuple(m.group(1).split("::"))
            # The longest prefix that is a module of this crate.
            while parts and parts not in known:
                parts = parts[:-1]
            if parts and parts != module:
                targets.add(parts)
        # `use crate::{a, b::c}` groups.
        for m in re.finditer(r"\bcrate::\{([^}]*)\}", code):
            for item in m.group(1).split(","):
                parts = tuple(p for p in item.strip().split("::") if p and p != "self")
                while parts and parts not in known:
                    parts = parts[:-1]
                if parts and parts != module:
                    targets.add(parts)
        # `super::x` in a child file (or `super::super::x`): relative to the module's parent.
        for m in re.finditer(r"\b((?:super::)+)((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
            ups = m.group(1).count("super::")
            base = module[: len(module) - ups] if ups <= len(module) else ()
            parts = base + tuple(m.group(2).split("::"))
            while parts and parts not in known:
                parts = parts[:-1]
            if parts != module:
                targets.add(parts)
        deps[module] = targets
    return deps


def related(a, b):
    """A parent and its descendant may refer to each other (a folder is one unit)."""
    return a[: len(b)] == b or b[: len(a)] == a


def cycles(deps):
    # Tarjan's strongly connected components over the edges that are not parent↔child.
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in deps.get(v, ()):
            if related(v, w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    sys.setrecursionlimit(10000)
    for v in list(deps):
        if v not in index:
            visit(v)
    return out


def name(module):
    return "::".join(module) or "(root)"


# Which workspace crates each crate may depend on (normal dependencies).
ALLOWED = {
    "qiao-contract": set(),
    "qiao-secrets": set(),
    "qiao-trust": set(),
    "qiao-calendar": set(),
    "qiao-metrics": set(),
    "qiao-directory": {"qiao-contract"},
    "qiao-rules": {"qiao-directory"},
    "qiao-config": {"qiao-secrets", "qiao-trust", "qiao-directory", "qiao-calendar", "qiao-rules"},
    "qiao-store": {"qiao-contract", "qiao-secrets", "qiao-directory"},
    "qiao-runtime": {"qiao-contract", "qiao-config", "qiao-trust", "qiao-metrics"},
    "qiao-services": {"qiao-contract", "qiao-secrets", "qiao-directory", "qiao-config", "qiao-store", "qiao-runtime",
                      "qiao-calendar", "qiao-rules", "qiao-metrics"},
    "qiao-kit": {"qiao-contract", "qiao-config", "qiao-runtime"},
    "qiao-api": {"qiao-contract", "qiao-directory", "qiao-config", "qiao-store", "qiao-runtime", "qiao-services",
                 "qiao-rules", "qiao-metrics"},
}
# Crates that must not appear anywhere below a crate.
FORBIDDEN = {
    "qiao-runtime": {"axum", "rusqlite", "qiao-store", "qiao-services", "qiao-api"},
    "qiao-store": {"wasmtime-wasi", "cranelift-codegen", "axum", "qiao-runtime"},
    "qiao-services": {"axum", "qiao-api"},
    "qiao-contract": {"cranelift-codegen", "wasmtime-wasi", "rusqlite", "axum"},
    "qiao-rules": {"rusqlite", "axum", "reqwest", "qiao-store", "qiao-services"},
}


def tree(crate, depth=None):
    args = ["cargo", "tree", "-p", crate, "-e", "normal", "--prefix", "none", "--format", "{p}"]
    if depth is not None:
        args += ["--depth", str(depth)]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def main():
    failed = False
    for crate in sorted(os.listdir(CRATES)):
        src = os.path.join(CRATES, crate, "src")
        for component in cycles(modules(src)):
            failed = True
            print(f"crates/{crate}: modules in a dependency cycle: {', '.join(sorted(map(name, component)))}")
    for crate, allowed in ALLOWED.items():
        direct = {c for c in tree(crate, 1) if c.startswith("qiao-")} - {crate}
        for extra in sorted(direct - allowed):
            failed = True
            print(f"{crate} depends on {extra}, against the direction contract ← runtime ← services ← api ← qiao")
    for crate, forbidden in FORBIDDEN.items():
        for bad in sorted(tree(crate) & forbidden):
            failed = True
            print(f"{crate} must not depend on {bad} (see its //! doc)")
    if failed:
        sys.exit(1)
    print(f"layers: no module cycles in {len(os.listdir(CRATES))} crates; crate dependencies point one way")


if __name__ == "__main__":
    main()
