#!/usr/bin/env python3
"""Fails when the files of confab-server import each other in a cycle, or
when a door imports another door or the web layer.

The graph is of files (modules): `a` depends on `b` when `a`'s code (not
its comments, not its `#[cfg(test)] mod tests`) names `crate::b::...`, or
`super::...` resolving to `b`. A path is resolved to the longest module
that exists, so `crate::http::uploads::valid_id` is the file
`http/uploads.rs`. Parents' `mod` declarations are not imports.

The rule from ARCHITECTURE.md: `http/` may import the doors; a door
(`irc/`, `line/`, `ws/`) never imports another door or `http/`.

Usage: scripts/check-imports.py [crates/confab-server/src]
"""

import os
import re
import sys

DOORS = ("irc", "line", "ws")


def modules(root):
    mods = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            mods["::".join(parts)] = path
    return mods


def code_of(path):
    src = open(path, encoding="utf-8").read()
    # The unit tests at the end of a file may reach anywhere.
    src = re.split(r"#\[cfg\(test\)\]\s*mod tests\b", src)[0]
    # Comments (doc links are not imports); strings rarely hold paths.
    return re.sub(r"//[^\n]*", "", src)


def resolve(mods, segs):
    for i in range(len(segs), 0, -1):
        m = "::".join(segs[:i])
        if m in mods:
            return m
    return None


def dependencies(mods, name, path):
    src = code_of(path)
    here = name.split("::") if name else []
    # `super` of a file `a/b.rs` is `a`; of `a/mod.rs` it is the parent of `a`.
    is_dir = os.path.basename(path) == "mod.rs"
    parent = here[:-1] if not is_dir else here[:-1]
    deps = set()
    paths = []
    for m in re.finditer(r"\bcrate::((?:\w+::)*\w+)", src):
        paths.append(m.group(1).split("::"))
    for m in re.finditer(r"\buse crate::\{([^;]*)\};", src, flags=re.S):
        for item in re.findall(r"\w+(?:::\w+)*", m.group(1)):
            paths.append(item.split("::"))
    for m in re.finditer(r"\bsuper::((?:\w+::)*\w+)", src):
        paths.append(parent + m.group(1).split("::"))
    for m in re.finditer(r"\buse super::\{([^;]*)\};", src, flags=re.S):
        for item in re.findall(r"\w+(?:::\w+)*", m.group(1)):
            paths.append(parent + item.split("::"))
    for segs in paths:
        dep = resolve(mods, segs)
        # A module naming its own ancestor's items (`super::Shared` in
        # `http/x.rs` is `http`) is an import too; itself is not.
        if dep is not None and dep != name:
            deps.add(dep)
    return deps


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "crates/confab-server/src"
    mods = modules(root)
    graph = {name: dependencies(mods, name, path) for name, path in mods.items()}
    failed = False
    for comp in cycles(graph):
        failed = True
        members = set(comp)
        print(f"import cycle between {', '.join(comp)}:")
        for v in comp:
            print(f"  {v} -> {', '.join(sorted(graph[v] & members))}")
    for name, deps in sorted(graph.items()):
        top = name.split("::")[0]
        if top not in DOORS:
            continue
        for dep in sorted(deps):
            other = dep.split("::")[0]
            if other == "http" or (other in DOORS and other != top):
                failed = True
                print(f"door {name} imports {dep} (a door imports no other door, nor http/)")
    if failed:
        sys.exit(1)
    print(f"{len(mods)} modules, no import cycles, doors apart")


if __name__ == "__main__":
    main()
