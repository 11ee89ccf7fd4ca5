//! Every capture level of `#[observe]` compiles for borrowed values of any lifetime: no level
//! asks for `'static`, which trait selection would pick for a borrow and the borrow checker
//! would then refuse.

use std::borrow::Cow;
use std::fmt::Debug;

use observe_runtime::observe;

#[derive(Debug)]
struct DebugOnly<'a>(&'a str);

struct Neither;

#[observe]
fn borrowed<'a>(
    text: &'a str,
    number: &'a u64,
    cow: Cow<'a, str>,
    edited: &mut String,
    debug: DebugOnly<'a>,
    neither: &Neither,
) -> &'a str {
    let _ = (number, cow, edited, debug, neither);
    text
}

#[observe]
fn generic<T: Debug, U>(debug: &T, anything: U) -> usize {
    let _ = (debug, anything);
    0
}

#[observe]
async fn scalars(a: u128, b: char, c: &f32) -> (u8, i128) {
    let _ = (a, b, c);
    (1, -1)
}

fn main() {
    let local = String::from("local");
    let mut edited = String::new();
    let n = 7;
    assert_eq!(
        borrowed(&local, &n, Cow::Borrowed(&local), &mut edited, DebugOnly(&local), &Neither),
        "local"
    );
    assert_eq!(generic(&local, Neither), 0);
    let _ = scalars(1, 'x', &1.0);
}
