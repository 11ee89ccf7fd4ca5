// The carry helpers follow the future too: a `!Send` future stays `!Send` once attached.
use std::rc::Rc;

use observe_runtime::{Context, FutureExt};

fn send<T: Send>(_: T) {}

fn main() {
    let shared = Rc::new(1);
    send(async move { *shared }.in_current_trace());
    let shared = Rc::new(2);
    send(Context::current().attach(async move { *shared }));
}
