//! What an observed stream costs per item, beside the same stream unobserved.
//!
//! Each case builds a stream of [`ITEMS`] small items and drains it, polling with a no-op
//! waker (every poll is ready), inside one open trace of a `Client` whose worker runs and
//! whose exporter counts and drops every batch. The `empty` cases measure the observation's
//! own open and close (a stream of no items), so that
//! `(observed - plain) - (observed_empty - plain_empty)` over [`ITEMS`] is the extra per item.
//!
//! Run: `cargo bench -p observe-benches --bench stream`.

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures::stream::{self, Stream};
use futures::task::noop_waker_ref;
use observe_runtime::{observe, Client, Trace};

mod common;
use common::Counting;

/// Items per stream.
const ITEMS: u64 = 100;

fn numbers(n: u64) -> impl Stream<Item = u64> {
    stream::iter(0..n)
}

fn words(n: u64) -> impl Stream<Item = &'static str> {
    stream::iter((0..n).map(|i| if i % 2 == 0 { "tok" } else { "en " }))
}

#[observe(capture_output = false)]
fn observed_off(n: u64) -> impl Stream<Item = u64> {
    numbers(n)
}

#[observe(capture_output = true)]
fn observed_json(n: u64) -> impl Stream<Item = u64> {
    numbers(n)
}

#[observe(capture_output = true)]
fn observed_text(n: u64) -> impl Stream<Item = &'static str> {
    words(n)
}

/// Polls `stream` to its end, every poll ready.
#[inline(never)]
fn drain<S: Stream>(stream: S) -> u64 {
    let mut stream = pin!(stream);
    let mut cx = Context::from_waker(noop_waker_ref());
    let mut seen = 0;
    while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
        black_box(item);
        seen += 1;
    }
    seen
}

fn streams(c: &mut Criterion) {
    let client = Client::builder()
        .exporter(Counting::default())
        .config(&observe_runtime::Config::new().capture_io(false))
        .build();
    let trace = client.trace(Trace::new("bench"));
    let root = trace.span("root");
    let mut g = c.benchmark_group("stream100");
    g.sample_size(50);
    for (label, n) in [("", ITEMS), ("_empty", 0)] {
        g.bench_function(format!("plain{label}"), |b| {
            b.iter(|| drain(numbers(black_box(n))))
        });
        g.bench_function(format!("observe_capture_off{label}"), |b| {
            root.in_scope(|| b.iter(|| drain(observed_off(black_box(n)))))
        });
        g.bench_function(format!("observe_capture_json{label}"), |b| {
            root.in_scope(|| b.iter(|| drain(observed_json(black_box(n)))))
        });
        g.bench_function(format!("plain_text{label}"), |b| {
            b.iter(|| drain(words(black_box(n))))
        });
        g.bench_function(format!("observe_capture_text{label}"), |b| {
            root.in_scope(|| b.iter(|| drain(observed_text(black_box(n)))))
        });
    }
    g.finish();
    root.end();
    trace.end();
    let stats = client.flush(Duration::from_secs(30)).stats;
    eprintln!(
        "observe: {} records queued, {} dropped (queue full)",
        stats.queued, stats.dropped_queue_full
    );
}

criterion_group!(benches, streams);
criterion_main!(benches);
