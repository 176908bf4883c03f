#!/usr/bin/env python3
"""List the `crate::` edges between the library's top-level modules and fail on any cycle.

A top-level module is `src/X.rs` or `src/X/**`. Every `crate::X` path in non-test code counts as
an edge (a `use crate::{a::B, c::D}` group gives one edge per member); a path through a root
re-export (`crate::Error`) counts as an edge to the module that defines it, read from the
`pub use` lines of src/lib.rs. Comments (so doc links) and `#[cfg(test)]` code (inline `mod
tests { .. }` blocks and files declared as test modules) are left out: tests may reach up.

    python3 .ci/module_cycles.py [-v] [SRC_DIR]     # -v lists every edge; SRC_DIR: src/

Standard library only, no build; a fraction of a second.
"""

import os
import re
import sys

ROOT = next(
    (a for a in sys.argv[1:] if not a.startswith("-")),
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"),
)


TOKENS = re.compile(
    r"//[^\n]*"                                  # line comment (and doc comment)
    r"|/\*(?:[^*]|\*(?!/))*\*/"                  # block comment (not nested)
    r"|(?<![\w])r(#*)\"(?:.|\n)*?\"\1"          # raw string
    r"|(#\[path\s*=\s*)?\"(?:\\.|[^\"\\])*\""    # string (kept in #[path = ".."])
    r"|'(?:\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'\n])'",  # char literal
    re.S,
)


def strip_comments_and_strings(text):
    """Blank out comments, string and char literals, keeping the line count."""

    def blank(m):
        if m.group(2):
            return m.group(0)
        return '""' + "\n" * m.group(0).count("\n")

    return TOKENS.sub(blank, text)


TEST_ATTR = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+(\w+)\s*([;{])")
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]')


def drop_test_code(path, text):
    """Remove inline `#[cfg(test)] mod x { .. }` blocks; return the text and the files of
    `#[cfg(test)] mod x;` declarations."""
    test_files = []
    while True:
        m = TEST_ATTR.search(text)
        if not m:
            return text, test_files
        if m.group(2) == ";":
            attrs = text[m.start():m.end()]
            p = PATH_ATTR.search(attrs)
            base = os.path.dirname(path)
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem not in ("mod", "lib"):
                base = os.path.join(base, stem)
            if p:
                test_files.append(os.path.normpath(os.path.join(os.path.dirname(path), p.group(1))))
            else:
                test_files.append(os.path.join(base, m.group(1) + ".rs"))
                test_files.append(os.path.join(base, m.group(1), "mod.rs"))
            text = text[:m.start()] + text[m.end():]
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        text = text[:m.start()] + "\n" * text.count("\n", m.start(), j) + text[j:]


def expand_group(prefix, body):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    paths = []
    for it in items:
        it = it.strip()
        if not it:
            continue
        m = re.match(r"^([\w:]*?)::\{(.*)\}$", it, re.S)
        if m:
            paths += expand_group(prefix + m.group(1) + "::", m.group(2))
        elif it.startswith("{") and it.endswith("}"):
            paths += expand_group(prefix, it[1:-1])
        else:
            paths.append(prefix + it)
    return paths


def crate_paths(text):
    """Every path below `crate::` in the code (grouped uses expanded)."""
    paths = []
    for m in re.finditer(r"\bcrate::\{", text):
        depth, j = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        paths += expand_group("", text[m.end():j - 1])
        text = text[:m.start()] + " " * (j - m.start()) + text[j:]
    for m in re.finditer(r"\bcrate((?:::\w+)+)(::\{)?", text):
        head = m.group(1)[2:]
        if m.group(2):
            depth, j = 1, m.end()
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            paths += expand_group(head + "::", text[m.end():j - 1])
        else:
            paths.append(head)
    return paths


def main():
    verbose = "-v" in sys.argv
    lib = strip_comments_and_strings(open(os.path.join(ROOT, "lib.rs")).read())
    modules = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", lib, re.M))
    # Root re-exports: name -> defining top-level module.
    reexport = {}
    for m in re.finditer(r"pub\s+use\s+([^;]+);", lib):
        for p in expand_group("", m.group(1)):
            parts = [s.strip() for s in p.split("::")]
            last = re.split(r"\s+as\s+", parts[-1])
            reexport[last[-1].strip()] = parts[0]

    files, test_files, texts = [], set(), {}
    for d, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".rs"):
                files.append(os.path.normpath(os.path.join(d, name)))
    for f in sorted(files):
        text, tests = drop_test_code(f, strip_comments_and_strings(open(f).read()))
        texts[f] = text
        test_files.update(os.path.normpath(t) for t in tests)

    edges = {}
    for f in sorted(files):
        rel = os.path.relpath(f, ROOT)
        if f in test_files or rel == "lib.rs":
            continue
        src = rel.split(os.sep)[0].removesuffix(".rs")
        for p in crate_paths(texts[f]):
            first = p.split("::")[0].strip()
            dst = first
            for _ in range(5):  # a re-export may name a re-exported module (`context`)
                if dst is None or dst in modules:
                    break
                dst = reexport.get(dst)
            if dst is None or dst == src or dst == "self":
                continue
            edges.setdefault(src, {}).setdefault(dst, set()).add(rel)

    if verbose:
        for s in sorted(edges):
            for d in sorted(edges[s]):
                print(f"{s} -> {d}    ({', '.join(sorted(edges[s][d]))})")

    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
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
                sccs.append(sorted(comp))

    for v in sorted(modules):
        if v not in index:
            visit(v)

    n_edges = sum(len(d) for d in edges.values())
    if not sccs:
        # A layering, bottom first: each module only uses modules listed before it.
        order, done = [], set()
        while len(done) < len(modules):
            ready = sorted(
                m for m in modules if m not in done and all(d in done for d in edges.get(m, {}))
            )
            order.append(" ".join(ready))
            done.update(ready)
        print(f"module cycles: none ({len(modules)} top-level modules, {n_edges} edges)")
        print("layers, bottom first: " + " | ".join(order))
        return 0
    print(f"module cycles: {len(sccs)} strongly connected group(s)")
    for comp in sccs:
        print("  cycle among: " + ", ".join(comp))
        for s in comp:
            for d in sorted(edges.get(s, {})):
                if d in comp:
                    print(f"    {s} -> {d}    ({', '.join(sorted(edges[s][d]))})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
