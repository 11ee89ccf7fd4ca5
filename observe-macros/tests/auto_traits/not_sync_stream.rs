// A stream that holds a `Cell` is `Send` but not `Sync`; observed, it stays `!Sync`.
use std::cell::Cell;

use observe_runtime::model::ObservationType;
use observe_runtime::ObserveStreamExt as _;

fn sync<T: Sync>(_: T) {}

fn main() {
    let cell = Cell::new(0u8);
    let stream = futures::stream::poll_fn(move |_| {
        cell.set(cell.get() + 1);
        std::task::Poll::Ready(Some(cell.get()))
    });
    sync(stream.observe_as(ObservationType::Span, "cells"));
}
