//! Compile-fail cases of `#[observe]`: each misuse is refused with a message that points at
//! the offending token. Regenerate the expected output with `TRYBUILD=overwrite cargo test
//! --test ui`, then read the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
