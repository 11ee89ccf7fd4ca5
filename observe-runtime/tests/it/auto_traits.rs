//! `#[observe]` and the carry helpers do not change a future's auto traits: the wrapped
//! future is `Send` and `Sync` exactly when the plain one is (as tracing's `Instrumented`).
//!
//! This file checks the "is" direction at compile time (a test that builds is a test that
//! passes) and runs the futures once; `observe-macros/tests/auto_traits/*.rs` are compile-fail cases for the
//! "is not" direction: a body that is not `Send` (or not `Sync`) stays so once observed
//! (run by observe-macros' `tests/compile_fail.rs`).

use std::future::Future;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use observe_runtime::model::ObservationType;
use observe_runtime::{observe, Client, Context, FutureExt, ObserveStreamExt as _, Trace};

fn send_sync<T: Send + Sync>(value: T) -> T {
    value
}

fn send<T: Send>(value: T) -> T {
    value
}

#[observe]
async fn leaf(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n + 1
}

#[observe]
fn sync_leaf(n: u32) -> u32 {
    n * 2
}

/// Awaits observed futures and calls an observed sync fn: every state holds only
/// `Send + Sync` values.
#[observe]
async fn workflow(n: u32) -> u32 {
    let a = leaf(n).await;
    let b = sync_leaf(a);
    leaf(b).await
}

/// A body that holds a `Cell` (`Send`, not `Sync`) across an await.
#[observe]
async fn holds_a_cell(n: u32) -> u32 {
    let cell = std::cell::Cell::new(n);
    tokio::task::yield_now().await;
    cell.get()
}

/// The same as a plain `async fn`, to compare with.
async fn plain_holds_a_cell(n: u32) -> u32 {
    let cell = std::cell::Cell::new(n);
    tokio::task::yield_now().await;
    cell.get()
}

#[tokio::test]
async fn observed_futures_of_send_sync_bodies_are_send_and_sync() {
    let (client, memory) = Client::in_memory();
    let answer = client.attach(send_sync(workflow(1))).await;
    assert_eq!(answer, 5);
    // Sync observed inside async ones, as `tokio::spawn` requires of the whole task.
    let task = tokio::spawn(send_sync(client.attach(workflow(2))));
    assert_eq!(task.await.unwrap(), 7);
    client.flush(Duration::from_secs(5));
    // Two workflows of two leaves and a sync leaf each: every observation was recorded.
    assert_eq!(memory.observations().len(), 8);
}

#[tokio::test]
async fn the_carry_helpers_keep_send_and_sync() {
    let (client, memory) = Client::in_memory();
    let trace = client.trace(Trace::new("carried"));
    let span = trace.span("parent");
    // `in_current_trace`, `Context::attach` and a handle's `instrument` are all `Send + Sync`
    // around a `Send + Sync` future. (A handle itself is `Send` but not `Sync`: its fields are
    // updated through `&self` on one thread; it is the future it returns that moves.)
    let under_span = send_sync(span.attach(leaf(1)));
    let outer = async move {
        let a = under_span.await;
        let b = send_sync(leaf(a).in_current_trace()).await;
        send_sync(Context::current().attach(leaf(b))).await
    };
    assert_eq!(client.attach(send_sync(outer)).await, 4);
    // ...and a captured context moves to another thread.
    let ctx = send(Context::current());
    std::thread::spawn(move || ctx.run(|| sync_leaf(1)))
        .join()
        .unwrap();
    span.end();
    drop(trace);
    client.flush(Duration::from_secs(5));
    assert!(memory.observations().len() >= 4);
}

#[test]
fn a_send_but_not_sync_body_stays_send_and_runs() {
    // Observed and plain are `Send`; the compile-fail case `not_sync_body.rs` shows neither
    // is `Sync`.
    let observed = send(holds_a_cell(3));
    let plain = send(plain_holds_a_cell(3));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(observed), 3);
    assert_eq!(rt.block_on(plain), 3);
}

/// A stream function: its observation stays open in an `Observed` wrapper.
#[observe(as_type = "generation")]
fn tokens(n: usize) -> impl Stream<Item = String> + Send + Sync {
    futures::stream::iter((0..n).map(|i| format!("t{i} ")))
}

/// An async function that returns a stream: `instrument_open` awaits the body, then the
/// stream takes the observation over.
#[observe(as_type = "generation")]
async fn connect_then_tokens(n: usize) -> impl Stream<Item = String> + Send + Sync {
    tokio::task::yield_now().await;
    futures::stream::iter((0..n).map(|i| format!("t{i} ")))
}

#[tokio::test]
async fn observed_streams_and_their_futures_are_send_and_sync() {
    let (client, memory) = Client::in_memory();
    let collected = async {
        let first: String = send_sync(tokens(2)).collect().await;
        // The future of an async fn returning a stream (`InstrumentedOpen` inside) ...
        let stream = send_sync(connect_then_tokens(3)).await;
        let second: String = send_sync(stream).collect().await;
        // ... and a stream observed by hand (`Observed`).
        let third: String = send_sync(futures::stream::iter(["a", "b"]).observe_with(
            ObservationType::Span,
            "by_hand",
            |t, sink| sink.text(t),
        ))
        .collect()
        .await;
        format!("{first}|{second}|{third}")
    };
    let task = tokio::spawn(send_sync(client.attach(collected)));
    assert_eq!(task.await.unwrap(), "t0 t1 |t0 t1 t2 |ab");
    client.flush(Duration::from_secs(5));
    let observations = memory.observations();
    assert_eq!(observations.len(), 3);
    assert!(observations.iter().all(|o| o.details().output.is_some()));
}

// The bound the user meets in practice: a boxed `Send + Sync` future.
#[allow(dead_code)]
fn boxed(n: u32) -> std::pin::Pin<Box<dyn Future<Output = u32> + Send + Sync>> {
    Box::pin(workflow(n))
}
