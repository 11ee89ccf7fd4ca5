#!/usr/bin/env python3
"""Fail when a Rust source file imports a file that imports it back.

    python3 scripts/check_imports.py [DIR ...]

Each DIR is a crate (a folder with ``src/``) or a folder holding crates (every folder below it
with a ``Cargo.toml`` and a ``src/``, skipping ``target``); the default is the repository. The
script prints every circle it finds as ``a.rs -> b.rs -> a.rs`` and exits 1, or exits 0.

How a crate's files become a graph:

* Module tree. The roots are ``src/lib.rs``, ``src/main.rs`` and ``src/bin/*.rs``, each its own
  crate. ``mod foo;`` in a "mod-rs" file (a root, a ``mod.rs``, or a file loaded through
  ``#[path]``) loads ``foo.rs`` or ``foo/mod.rs`` beside it; in any other file ``bar.rs`` it loads
  ``bar/foo.rs`` or ``bar/foo/mod.rs``, so ``foo.rs`` with a folder ``foo/`` beside it works.
  ``#[path = "x.rs"] mod foo;`` loads ``x.rs`` relative to the declaring file's folder (plus the
  folders of enclosing inline modules). ``mod foo { ... }`` is an inline module: its items and
  imports belong to the same file. ``#[cfg]`` is ignored: every module counts.
* Paths. Every ``use`` tree (groups, ``self``, ``as``, globs) and every path in code that starts
  with ``crate::``, ``$crate::``, ``super::``, ``self::`` or the name of a child module or of an
  imported module is resolved from the module it is written in. Paths starting anywhere else
  name another crate and are skipped.
* Resolution. A path walks down the module tree while its segments name modules. The first
  segment that is not a module is an item of the module reached: if that module defines it,
  the path resolves to the module's file; if the module imports that name (``use``, ``pub use``:
  a re-export), the import is followed to where the item really lives, so ``use crate::Client``
  in a file resolves to ``client.rs``, not ``lib.rs``; a name neither defined nor imported by
  name is looked for through the module's glob imports. A path that names a module resolves to
  that module's file. A name a module imports from another crate resolves to no file:
  ``crate::model::TraceId`` through lib.rs's ``pub use observe_model::model`` names an item of
  ``observe_model``, and lib.rs holds nothing of it, so the path is no edge to lib.rs (were it
  one, every module using a crate the root re-exports would close a circle with the root).
* Edges. A file that writes a path (a ``use``, a ``pub use`` re-export, or a path in code)
  imports the file the path resolves to. Imports of the file itself are ignored, and so are a
  module's paths into its own descendants (``pipeline.rs`` naming ``ring::Producer``): the
  parent holds its children (``mod ring;``) whether it names their items or not, so that edge
  is always there and a child reaching its parent (``use super::Record``) would always close a
  circle. A child's path up to its parent, to a sibling or anywhere else counts.
* Unit tests. Modules and ``use`` items under ``#[cfg(test)]`` are skipped: they are built
  only into the crate's test binary, where they use the crate from above like any caller.

``--strict`` counts both (paths into descendants and test code), to see those circles too.

A circle is a strongly connected set of two or more files; one cycle through it is printed.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field

KEYWORDS = {
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
    "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true",
    "type", "union", "unsafe", "use", "where", "while",
}
ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union"}
IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*")


def tokenize(src: str) -> list[tuple[str, str]]:
    """Tokens as (kind, text): kind is 'id', 'str', '::' or 'p' (one punctuation character).
    Comments, numbers, lifetimes and character literals are dropped."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif m := re.compile(r'(?:b|c)?r(#*)"').match(src, i):
            close = '"' + m.group(1)
            j = src.find(close, m.end())
            j = n if j < 0 else j
            out.append(("str", src[m.end():j]))
            i = j + len(close)
        elif c == '"' or (c in "bc" and src.startswith('"', i + 1)):
            i += 1 if c == '"' else 2
            start = i
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            out.append(("str", src[start:i]))
            i += 1
        elif c == "'" or (c == "b" and src.startswith("'", i + 1)):
            i += 1 if c == "'" else 2
            if src.startswith("\\", i):
                i = src.find("'", i + 2) + 1
            elif i + 1 < n and src[i + 1] == "'":
                i += 2
            # else a lifetime or label: its name is read as an identifier next
        elif m := IDENT.match(src, i):
            out.append(("id", m.group(0).removeprefix("r#")))
            i = m.end()
        elif c == "$" and (m := IDENT.match(src, i + 1)):
            out.append(("id", "$" + m.group(0)))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9][0-9A-Za-z_.]*").match(src, i)
            i = m.end()
            if src[i - 1] == ".":  # `0..n`
                i -= 1
        elif src.startswith("::", i):
            out.append(("::", "::"))
            i += 2
        else:
            out.append(("p", c))
            i += 1
    return out


@dataclass
class Use:
    """One binding of a `use` tree: `path` (absolute or relative segments) bound as `name`
    (`*` for a glob)."""

    path: list[str]
    name: str


@dataclass
class Module:
    """A module of the tree: its file, children, imports and defined names."""

    file: str
    # Under `#[cfg(test)]`: its paths make no edges.
    test: bool = False
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uses: list[Use] = field(default_factory=list)
    defs: set[str] = field(default_factory=set)
    # Paths written in the module's code (not in `use`), resolved for edges only.
    refs: list[list[str]] = field(default_factory=list)


def parse_use_tree(toks, i, prefix, out):
    """Reads one use tree at `i` below `prefix`; appends a `Use` per binding; returns the index
    after the tree."""
    path = list(prefix)
    if toks[i][0] == "::":  # `use ::std::...`: an extern crate
        path.append("::")
        i += 1
    while True:
        kind, text = toks[i]
        if kind == "p" and text == "{":
            i += 1
            while not (toks[i][0] == "p" and toks[i][1] == "}"):
                i = parse_use_tree(toks, i, path, out)
                if toks[i][0] == "p" and toks[i][1] == ",":
                    i += 1
            return i + 1
        if kind == "p" and text == "*":
            out.append(Use(path, "*"))
            return i + 1
        if kind != "id":
            return i + 1
        i += 1
        if text == "self" and path:
            seg_path = list(path)
        else:
            seg_path = path + [text]
        if toks[i][0] == "::":
            path = seg_path
            i += 1
            continue
        name = seg_path[-1]
        if toks[i] == ("id", "as"):
            name = toks[i + 1][1]
            i += 2
        out.append(Use(seg_path, name))
        return i


def parse_file(path: str, modpath: tuple[str, ...], modules: dict, pending_files: list,
               mod_rs: bool, strict: bool) -> None:
    """Parses one file as module `modpath`: records its inline modules, `mod foo;` children
    (queued in `pending_files`), imports, definitions and code paths."""
    with open(path, encoding="utf-8") as f:
        toks = tokenize(f.read())
    toks.append(("p", ";"))
    directory = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    modules[modpath] = Module(path)
    scopes = [(modpath, -1, [])]  # (module path, brace depth it closes at, inline dirs)
    depth = 0
    attr_path = None
    cfg_test = False
    i = 0
    while i < len(toks) - 1:
        kind, text = toks[i]
        scope, _, inline = scopes[-1]
        mod = modules[scope]
        if kind == "p" and text == "#":
            j = i + 1 + (toks[i + 1] == ("p", "!"))
            if toks[j] == ("p", "["):
                k, level = j, 0
                while True:
                    if toks[k] == ("p", "["):
                        level += 1
                    elif toks[k] == ("p", "]"):
                        level -= 1
                        if level == 0:
                            break
                    k += 1
                body = toks[j + 1:k]
                if len(body) == 3 and body[0] == ("id", "path") and body[2][0] == "str":
                    attr_path = body[2][1]
                if body == [("id", "cfg"), ("p", "("), ("id", "test"), ("p", ")")]:
                    cfg_test = True
                i = k + 1
                continue
        if kind == "id" and text == "mod" and toks[i + 1][0] == "id":
            name = toks[i + 1][1]
            child = scope + (name,)
            mod.children[name] = child
            if toks[i + 2] == ("p", "{"):
                modules[child] = Module(path, test=mod.test or (cfg_test and not strict))
                depth += 1
                scopes.append((child, depth, inline + [attr_path or name]))
                attr_path = cfg_test = None
                i += 3
                continue
            if cfg_test and not strict:
                attr_path = cfg_test = None
                i += 3
                continue
            if mod_rs:
                base = os.path.join(directory, *inline)
            else:
                base = os.path.join(directory, stem, *inline)
            if attr_path is not None:
                target = os.path.normpath(os.path.join(
                    directory if not inline else base, attr_path))
                pending_files.append((target, child, True))
            else:
                flat = os.path.join(base, name + ".rs")
                nested = os.path.join(base, name, "mod.rs")
                target = flat if os.path.exists(flat) else nested
                pending_files.append((target, child, os.path.basename(target) == "mod.rs"))
            attr_path = None
            i += 3
            continue
        if kind == "id" and text == "use":
            uses: list[Use] = []
            i = parse_use_tree(toks, i + 1, [], uses)
            if not (cfg_test and not strict):
                mod.uses.extend(uses)
            cfg_test = False
            continue
        if kind == "id" and text in ITEM_KEYWORDS and toks[i + 1][0] == "id" \
                and toks[i + 1][1] not in KEYWORDS:
            mod.defs.add(toks[i + 1][1])
        if kind == "id" and text == "macro_rules" and toks[i + 1] == ("p", "!"):
            mod.defs.add(toks[i + 2][1])
        if kind == "id" and toks[i + 1][0] == "::" and toks[i - 1][0] != "::" \
                and text not in ("Self",):
            segs, j = [text], i + 1
            while toks[j][0] == "::" and toks[j + 1][0] == "id":
                segs.append(toks[j + 1][1])
                j += 2
            mod.refs.append(segs)
            i = j
            continue
        if kind == "p" and text == "{":
            depth += 1
        elif kind == "p" and text == "}":
            if scopes[-1][1] == depth:
                scopes.pop()
            depth -= 1
        if kind == "p" and text in ";{}":
            attr_path = None
            cfg_test = False
        i += 1


def load_crate(root_file: str, strict: bool = False) -> dict[tuple[str, ...], Module]:
    """Every module reachable from one crate root."""
    modules: dict[tuple[str, ...], Module] = {}
    pending = [(root_file, (), True)]
    while pending:
        path, modpath, mod_rs = pending.pop()
        if not os.path.exists(path):
            print(f"warning: {'::'.join(modpath)}: no file {path}", file=sys.stderr)
            continue
        parse_file(path, modpath, modules, pending, mod_rs, strict)
    return modules


class Resolver:
    """Resolves paths written in a module to the files that define what they name."""

    def __init__(self, modules):
        self.modules = modules

    def start(self, scope, segs):
        """The module a path starts from and the segments left, or None for another crate."""
        first = segs[0]
        if first in ("crate", "$crate"):
            return (), segs[1:]
        if first == "super":
            cur = scope
            while segs and segs[0] == "super":
                cur, segs = cur[:-1], segs[1:]
            return cur, segs
        if first == "self":
            return scope, segs[1:]
        # A relative path: a child module, or a name this module (or, for a path in code, an
        # enclosing inline module's file) imports.
        mod = self.modules.get(scope)
        if mod is None:
            return None
        if first in mod.children:
            return mod.children[first], segs[1:]
        return None

    def names_other_crate(self, scope, segs, depth=0):
        """Whether the path `segs` written in module `scope` starts in another crate."""
        if segs[0] == "::" or depth > 16:
            return segs[0] == "::"
        if self.start(scope, segs) is not None:
            return False
        mod = self.modules.get(scope)
        for use in mod.uses if mod else ():
            if use.name == segs[0] and use.path[0] != use.name:
                return self.names_other_crate(scope, use.path + segs[1:], depth + 1)
        return True

    def resolve(self, scope, segs, seen=frozenset()):
        """Files the path `segs` written in module `scope` resolves to (empty: another crate)."""
        key = (scope, tuple(segs))
        if key in seen or not segs or len(seen) > 64:
            return set()
        seen = seen | {key}
        started = self.start(scope, segs)
        if started is None:
            mod = self.modules.get(scope)
            if mod is None:
                return set()
            for use in mod.uses:
                # `use tracing;` or `use serde_json::serde_json`: another crate's name.
                if use.name == segs[0] and use.path[0] not in ("::", use.name):
                    return self.resolve(scope, use.path + segs[1:], seen)
            return set()
        cur, rest = started
        if cur not in self.modules:
            return set()
        while rest:
            mod = self.modules[cur]
            seg = rest[0]
            if seg == "*":
                return {mod.file}
            if seg in mod.children:
                cur, rest = mod.children[seg], rest[1:]
                continue
            if seg in mod.defs:
                return {mod.file}
            for use in mod.uses:
                if use.name != seg:
                    continue
                if self.names_other_crate(cur, use.path):
                    return set()
                found = self.resolve(cur, use.path + rest[1:], seen)
                if found:
                    return found
            for use in mod.uses:
                if use.name == "*" and use.path and use.path[0] != "::":
                    found = self.resolve(cur, use.path + rest, seen)
                    if found:
                        return found
            return {mod.file}
        return {self.modules[cur].file}


def crate_edges(root_file: str, strict: bool = False) -> dict[str, set[str]]:
    """The file graph of one crate: file -> files it imports."""
    modules = load_crate(root_file, strict)
    resolver = Resolver(modules)
    edges: dict[str, set[str]] = {m.file: set() for m in modules.values()}
    # The modules of each file (a file's inline modules share it), to tell descendants.
    owners: dict[str, set[tuple[str, ...]]] = {}
    for scope, mod in modules.items():
        owners.setdefault(mod.file, set()).add(scope)
    for scope, mod in modules.items():
        if mod.test:
            continue
        # The file's own module: the shortest module path it holds.
        top = min(owners[mod.file], key=len)
        for segs in [u.path for u in mod.uses] + mod.refs:
            if not segs or segs[0] == "::":
                continue
            for target in resolver.resolve(scope, segs):
                if target == mod.file:
                    continue
                below = any(t[:len(top)] == top for t in owners[target])
                if below and not strict:
                    continue
                edges[mod.file].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected set of two or more files (Tarjan)."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    result = []
    for comp in comps:
        begin = min(comp)
        # Shortest way back to `begin` inside the set, breadth first.
        prev, frontier, found = {begin: None}, [begin], None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(edges[v] & comp):
                    if w == begin:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        cycle = [begin]
        v = found
        while v is not None and v != begin:
            cycle.append(v)
            v = prev[v]
        cycle = [begin] + list(reversed(cycle[1:])) + [begin]
        result.append(cycle)
    return result


def crate_roots(directory: str) -> list[str]:
    """The crate root files of every crate at or below `directory`."""
    roots = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in ("target", ".git", "node_modules"))
        src = os.path.join(dirpath, "src")
        if "Cargo.toml" not in filenames or not os.path.isdir(src):
            continue
        for name in ("lib.rs", "main.rs"):
            if os.path.isfile(os.path.join(src, name)):
                roots.append(os.path.join(src, name))
        bins = os.path.join(src, "bin")
        if os.path.isdir(bins):
            for name in sorted(os.listdir(bins)):
                if name.endswith(".rs"):
                    roots.append(os.path.join(bins, name))
                elif os.path.isfile(os.path.join(bins, name, "main.rs")):
                    roots.append(os.path.join(bins, name, "main.rs"))
    return roots


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    argv = [a for a in argv if a != "--strict"]
    dirs = argv or [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    roots = [r for d in dirs for r in crate_roots(d)]
    if not roots:
        print("check_imports: no crate found under " + ", ".join(dirs), file=sys.stderr)
        return 2
    failed = False
    for root in roots:
        edges = crate_edges(root, strict)
        base = os.path.dirname(root)
        for cycle in circles(edges):
            failed = True
            names = " -> ".join(os.path.relpath(f, base) for f in cycle)
            print(f"import circle in {os.path.relpath(root)}: {names}")
    if not failed:
        print(f"check_imports: no import circle in {len(roots)} crate roots")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
