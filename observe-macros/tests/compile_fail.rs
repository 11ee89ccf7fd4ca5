//! The compile-fail cases, run by trybuild: misuses of `#[observe]` refused with a message
//! that points at the offending token (`tests/ui/`), and bodies that are not `Send` (or not
//! `Sync`) staying so once observed (`tests/auto_traits/`, the "is not" direction of
//! `observe-runtime/tests/it/auto_traits.rs`), and expansions that must compile
//! (`tests/pass/`: every capture level over borrowed values).
//!
//! One `TestCases` for every set, so trybuild sets up and checks its project (every
//! dependency and dev-dependency of this package, under its own flags, in
//! `target/tests/trybuild`) once per run and compiles all cases in one `cargo check`. They
//! live in the macro's package rather than the runtime's because that project is built from
//! the package's dev-dependencies: here, the runtime without default features.
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p observe-macros --test compile_fail`, then read the diff.

/// The globs are relative to the package's folder, where cargo runs its test binaries: with
/// an absolute glob trybuild prints the cases' paths without line numbers and the expected
/// output no longer matches. A glob that matches nothing passes, so the folder is checked.
#[test]
fn compile_fail() {
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::env::current_dir().unwrap().canonicalize().unwrap(),
        package.canonicalize().unwrap(),
        "run from the package's folder (as cargo test does): the globs below are relative to it"
    );
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.compile_fail("tests/auto_traits/*.rs");
    // Expansions that must compile (and run) outside the runtime's own crate.
    cases.pass("tests/pass/*.rs");
}
