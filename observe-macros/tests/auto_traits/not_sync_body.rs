// A `Cell` held across an await makes a plain `async fn` `!Sync` (but `Send`); observed, it
// stays `!Sync`.
use std::cell::Cell;

use observe_runtime::observe;

#[observe]
async fn holds_a_cell(n: u32) -> u32 {
    let cell = Cell::new(n);
    std::future::ready(()).await;
    cell.get()
}

fn sync<T: Sync>(_: T) {}

fn main() {
    sync(holds_a_cell(1));
}
