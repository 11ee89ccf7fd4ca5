#!/usr/bin/env python3
"""Proves `check_imports.py` can fail: tiny fake crates in a temp dir, one with a circle (through
a `pub use` re-export, a `#[path]` module and a `foo.rs` beside `foo/`), one without.

    python3 scripts/test_check_imports.py
"""

import os
import subprocess
import sys
import tempfile
import unittest

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_imports.py")


def write_crate(root: str, files: dict[str, str]) -> None:
    with open(os.path.join(root, "Cargo.toml"), "w", encoding="utf-8") as f:
        f.write('[package]\nname = "fake"\nversion = "0.1.0"\nedition = "2021"\n')
    for name, text in files.items():
        path = os.path.join(root, "src", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def run_check(root: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True,
                          check=False)


# The shape both crates share: lib.rs declares `a` (a.rs beside a folder a/ holding `inner`),
# `b` loaded through `#[path]`, and `c/mod.rs`.
BASE = {
    "lib.rs": 'mod a;\n#[path = "other/b_file.rs"]\nmod b;\nmod c;\npub use a::A;\n',
    "a.rs": "mod inner;\npub struct A;\npub use inner::Inner;\n",
    "a/inner.rs": "pub struct Inner;\n",
    "c/mod.rs": "pub struct C;\n",
    "other/b_file.rs": "pub struct B;\n",
}


class CheckImports(unittest.TestCase):
    def test_crate_without_circle_passes(self):
        with tempfile.TemporaryDirectory() as root:
            files = dict(BASE)
            # Imports that only go one way: c -> b, b -> a (through the crate root's
            # re-export), a -> a/inner, and a test module importing its own file.
            files["other/b_file.rs"] = "use crate::A;\npub struct B(A);\n"
            files["c/mod.rs"] = "use crate::b::B;\npub struct C(B);\n"
            files["a/inner.rs"] = (
                "pub struct Inner;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n"
            )
            write_crate(root, files)
            result = run_check(root)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertNotIn("circle", result.stdout.replace("no import circle", ""))

    def test_circle_through_reexport_fails(self):
        with tempfile.TemporaryDirectory() as root:
            files = dict(BASE)
            # c -> b (a path in code), b -> a/inner (through a.rs's `pub use`), and
            # a/inner -> c: a circle of three files none of which names the next directly.
            files["c/mod.rs"] = "pub struct C;\nfn f() -> crate::b::B { todo!() }\n"
            files["other/b_file.rs"] = "use crate::a::Inner;\npub struct B(Inner);\n"
            files["a/inner.rs"] = "use crate::c::C;\npub struct Inner(C);\n"
            write_crate(root, files)
            result = run_check(root)
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            self.assertIn("import circle", result.stdout)
            for name in ("c/mod.rs", "other/b_file.rs", "a/inner.rs"):
                self.assertIn(name, result.stdout)
            self.assertNotIn("a.rs ->", result.stdout)

    def test_circle_through_a_parent_fails(self):
        with tempfile.TemporaryDirectory() as root:
            files = dict(BASE)
            # A parent naming its child's items is no edge (it holds the child anyway), so
            # a.rs <-> a/inner.rs alone passes; through c it is a circle.
            files["a.rs"] = "pub mod inner;\npub struct A(inner::Inner);\n"
            files["a/inner.rs"] = "pub struct Inner;\nfn f(_: super::A) {}\n"
            write_crate(root, files)
            self.assertEqual(run_check(root).returncode, 0)
            strict = subprocess.run([sys.executable, CHECK, "--strict", root],
                                    capture_output=True, text=True, check=False)
            self.assertEqual(strict.returncode, 1, strict.stdout)
            self.assertIn("a.rs -> a/inner.rs -> a.rs", strict.stdout)

            files["a.rs"] = "pub mod inner;\npub struct A(crate::c::C);\n"
            files["c/mod.rs"] = "pub struct C(crate::a::inner::Inner);\n"
            write_crate(root, files)
            result = run_check(root)
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
            self.assertIn("a.rs -> c/mod.rs -> a/inner.rs -> a.rs", result.stdout)

    def test_unit_tests_are_skipped_unless_strict(self):
        with tempfile.TemporaryDirectory() as root:
            files = dict(BASE)
            files["c/mod.rs"] = "pub struct C(crate::b::B);\n"
            files["other/b_file.rs"] = (
                "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::c::C;\n}\n"
            )
            write_crate(root, files)
            self.assertEqual(run_check(root).returncode, 0)
            strict = subprocess.run([sys.executable, CHECK, "--strict", root],
                                    capture_output=True, text=True, check=False)
            self.assertEqual(strict.returncode, 1, strict.stdout)

    def test_a_root_reexporting_another_crate_is_no_edge(self):
        with tempfile.TemporaryDirectory() as root:
            files = dict(BASE)
            # lib.rs holds `a` and names its item; a.rs reaches `crate::model`, which lib.rs
            # takes from another crate: no edge back to lib.rs.
            files["lib.rs"] = BASE["lib.rs"] + "pub use other_crate::model;\n"
            files["a.rs"] = "mod inner;\npub struct A(crate::model::Id);\npub use inner::Inner;\n"
            write_crate(root, files)
            strict = subprocess.run([sys.executable, CHECK, "--strict", root],
                                    capture_output=True, text=True, check=False)
            self.assertEqual(strict.returncode, 0, strict.stdout + strict.stderr)

            # The same path to an item lib.rs defines is an edge, and a circle.
            files["lib.rs"] = BASE["lib.rs"] + "pub mod model { pub struct Id; }\n"
            write_crate(root, files)
            strict = subprocess.run([sys.executable, CHECK, "--strict", root],
                                    capture_output=True, text=True, check=False)
            self.assertEqual(strict.returncode, 1, strict.stdout)
            self.assertIn("a.rs -> lib.rs -> a.rs", strict.stdout)


if __name__ == "__main__":
    unittest.main()
