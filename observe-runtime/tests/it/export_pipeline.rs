//! The pipeline in front of a real HTTP exporter whose server stalls: the bounded queue
//! drops and counts instead of blocking the producer, and `flush` and `shutdown` return by
//! their deadline reporting what is still pending. Timings test deadlines only, with
//! generous margins for a slow machine.

use std::time::{Duration, Instant};

use crate::export_support::*;
use observe_runtime::config::Config;
use observe_runtime::{Client, Trace};

const MARGIN: Duration = Duration::from_secs(3);

/// A client to a server that answers every request only after `stall`.
fn stalled_client(server: &Server, queue_capacity: usize) -> Client {
    Config::new()
        .keys("pk-lf-stall", "sk-lf-stall")
        .base_url(&server.base_url)
        .queue_capacity(queue_capacity)
        .flush_at(4)
        .flush_interval(Duration::from_millis(20))
        .timeout(Duration::from_secs(20))
        .build_client()
        .unwrap()
        .unwrap()
}

#[test]
fn a_full_queue_drops_and_counts_and_never_blocks_the_producer() {
    let server = Server::start(|_, _| Reply::status(200).delay(Duration::from_secs(2)));
    let client = stalled_client(&server, 8);
    let produced = 2_000u64;
    let started = Instant::now();
    for i in 0..produced {
        client.trace(Trace::new(format!("t{i}"))).end();
    }
    let producing = started.elapsed();
    // Blocking on the stalled server would take hundreds of seconds (2 s per 4 records).
    assert!(
        producing < Duration::from_secs(20),
        "producing took {producing:?}"
    );
    let stats = client.stats();
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    assert_eq!(
        stats.queued + stats.dropped_queue_full,
        produced,
        "{stats:?}"
    );
    // Bounded: what is held (pending) is at most the shared queue's 8, the destination's
    // own queue of 8, plus the batches of 4 in flight, one per 2 s stall. The rest was
    // dropped, at the shared queue or by the destination, and counted.
    let batches = 2 + producing.as_secs() / 2;
    assert!(
        stats.destinations[0].pending <= 8 + 8 + 4 * batches,
        "the queue is bounded: {stats:?}"
    );
    assert!(stats.destinations[0].balanced(), "{stats:?}");
    let report = client.shutdown(Duration::from_millis(200));
    // What the stalled destination still held at the deadline is counted too.
    assert!(report.stats.dropped() >= stats.dropped(), "{report:?}");
    let d = &report.stats.destinations[0];
    assert_eq!(d.pending, 0, "{report:?}");
    assert_eq!(d.exported + d.failed + d.dropped, produced, "{report:?}");
}

#[test]
fn flush_and_shutdown_return_by_their_deadline_reporting_pending() {
    let server = Server::start(|_, _| Reply::status(200).delay(Duration::from_secs(4)));
    let client = stalled_client(&server, 1024);
    for i in 0..3 {
        let trace = client.trace(Trace::new(format!("t{i}")));
        trace.span("child").end();
        trace.end();
    }

    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let report = client.flush(timeout);
    let took = started.elapsed();
    assert!(took < timeout + MARGIN, "flush took {took:?}");
    assert!(report.timed_out, "{report:?}");
    assert!(report.pending > 0, "{report:?}");
    assert_eq!(report.stats.exported, 0, "{report:?}");

    let started = Instant::now();
    let report = client.shutdown(timeout);
    let took = started.elapsed();
    assert!(took < timeout + MARGIN, "shutdown took {took:?}");
    assert!(report.timed_out, "{report:?}");
    // What was still pending at the deadline is counted, for the destination that held it.
    assert_eq!(report.pending, 0, "{report:?}");
    let d = &report.stats.destinations[0];
    assert_eq!((d.accepted, d.exported), (6, 0), "{report:?}");
    assert_eq!(d.failed + d.dropped, 6, "{report:?}");

    // A record after shutdown is dropped and counted, without waiting.
    client.trace(Trace::new("late")).end();
    assert!(client.stats().dropped_after_shutdown >= 1);
}

#[test]
fn flush_waits_for_a_slow_but_answering_server() {
    let server = Server::start(|r, _| accept_all(r).delay(Duration::from_millis(300)));
    let client = stalled_client(&server, 1024);
    for i in 0..10 {
        client.trace(Trace::new(format!("t{i}"))).end();
    }
    let report = client.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(report.stats.exported, 10, "{report:?}");
    assert_eq!(server.spans().len(), 10);
}
