// An `Rc` held across an await makes a plain `async fn` `!Send`; observed, it stays `!Send`.
use std::rc::Rc;

use observe_runtime::observe;

#[observe]
async fn holds_an_rc(n: u32) -> u32 {
    let shared = Rc::new(n);
    std::future::ready(()).await;
    *shared
}

fn send<T: Send>(_: T) {}

fn main() {
    send(holds_an_rc(1));
}
