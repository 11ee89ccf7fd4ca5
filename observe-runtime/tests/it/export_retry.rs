//! The retry rules of the HTTP exporters, against a real loopback server: only 429, 502,
//! 503, 504 and connection errors are retried, with backoff, honouring `Retry-After`, within
//! an overall deadline; every other status drops the batch at once with an error that says
//! what to check. Timings here test deadline semantics only, with generous margins.

use std::time::{Duration, Instant};

use crate::export_support::*;
use observe_runtime::config::Config;
use observe_runtime::export::http::HttpOptions;
use observe_runtime::export::ingestion::IngestionExporter;
use observe_runtime::export::otlp::OtlpExporter;
use observe_runtime::export::{Batch, ExportError, Exporter};
use observe_runtime::{Client, Trace};

const PK: &str = "pk-lf-retry";
const SK: &str = "sk-lf-retry";

fn options(deadline: Duration) -> HttpOptions {
    retry_options(deadline)
}

fn otlp(server_url: &str, deadline: Duration) -> OtlpExporter {
    OtlpExporter::langfuse(server_url, PK, SK, options(deadline)).unwrap()
}

fn batch() -> Batch {
    let (client, memory) = Client::in_memory();
    let trace = client.trace(Trace::new("t").session_id("s"));
    trace.span("child").end();
    trace.end();
    client.flush(FLUSH);
    Batch {
        observations: memory.observations().into_iter().map(Box::new).collect(),
        scores: vec![],
    }
}

#[test]
fn status_429_waits_as_retry_after_says_then_succeeds() {
    let server = Server::start(|_, i| {
        if i == 0 {
            Reply::status(429).header("Retry-After", "1")
        } else {
            Reply::status(200)
        }
    });
    let mut exporter = otlp(&server.base_url, Duration::from_secs(30));
    exporter.export(&batch()).expect("sent on the second try");
    assert_eq!(exporter.retries(), 1);
    let got = server.received();
    assert_eq!(got.len(), 2);
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(900), "waited only {gap:?}");
}

#[test]
fn a_retry_after_past_the_deadline_gives_up_at_once() {
    let server = Server::start(|_, _| Reply::status(429).header("Retry-After", "120"));
    let mut exporter = otlp(&server.base_url, Duration::from_secs(5));
    let started = Instant::now();
    match exporter.export(&batch()) {
        Err(ExportError::Unavailable { message, .. }) => {
            assert!(message.contains("retry after"), "{message}")
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.received().len(), 1);
}

#[test]
fn statuses_502_503_504_are_retried() {
    let server = Server::start(|_, i| match i {
        0 => Reply::status(502),
        1 => Reply::status(503),
        2 => Reply::status(504),
        _ => Reply::status(200),
    });
    let mut exporter = otlp(&server.base_url, Duration::from_secs(30));
    exporter.export(&batch()).expect("sent on the fourth try");
    assert_eq!(exporter.retries(), 3);
    assert_eq!(server.received().len(), 4);
    // Every attempt carries the same body.
    let bodies: Vec<_> = server.received().iter().map(|r| r.body()).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn other_statuses_are_not_retried_and_say_what_to_check() {
    for (status, hint) in [
        (400, "refused"),
        (401, "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY"),
        (403, "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY"),
        (404, "OBSERVE_LANGFUSE_API"),
        (500, "server error"),
    ] {
        let server = Server::start(move |_, _| Reply::status(status));
        let mut exporter = otlp(&server.base_url, Duration::from_secs(30));
        match exporter.export(&batch()) {
            Err(ExportError::Rejected { message, .. }) => {
                assert!(message.contains(&status.to_string()), "{message}");
                assert!(message.contains(hint), "{status}: {message}");
            }
            other => panic!("{status}: expected a rejection, got {other:?}"),
        }
        assert_eq!(exporter.retries(), 0, "{status}");
        assert_eq!(server.received().len(), 1, "{status}");
    }
}

#[test]
fn a_413_is_not_retried_but_split_down_to_single_records() {
    let server = Server::start(|_, _| Reply::status(413));
    let mut exporter = otlp(&server.base_url, Duration::from_secs(30));
    match exporter.export(&batch()) {
        Err(ExportError::TooLarge { message, .. }) => assert!(message.contains("413"), "{message}"),
        other => panic!("expected too large, got {other:?}"),
    }
    assert_eq!(exporter.retries(), 0);
    // The batch of two, then each half on its own.
    assert_eq!(server.received().len(), 3);
}

#[test]
fn the_ingestion_exporter_follows_the_same_rules() {
    let server = Server::start(|r, i| match i {
        0 => Reply::status(503),
        _ => accept_all(r),
    });
    let mut exporter =
        IngestionExporter::new(&server.base_url, PK, SK, options(Duration::from_secs(30))).unwrap();
    exporter.export(&batch()).expect("sent on the second try");
    assert_eq!(exporter.retries(), 1);

    let server = Server::start(|_, _| Reply::status(401));
    let mut exporter =
        IngestionExporter::new(&server.base_url, PK, SK, options(Duration::from_secs(30))).unwrap();
    let err = exporter.export(&batch()).unwrap_err().to_string();
    assert!(err.contains("LANGFUSE_SECRET_KEY"), "{err}");
    assert_eq!(server.received().len(), 1);
}

#[test]
fn a_refused_connection_is_retried_until_the_deadline() {
    let url = refused_url();
    let deadline = Duration::from_millis(1500);
    let mut exporter = otlp(&url, deadline);
    let started = Instant::now();
    match exporter.export(&batch()) {
        Err(ExportError::Unavailable { message, .. }) => {
            assert!(message.contains("gave up"), "{message}")
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(700),
        "gave up after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "ran {elapsed:?} past a 1.5 s deadline"
    );
    assert!(exporter.retries() >= 2, "{} retries", exporter.retries());
}

#[test]
fn the_pipeline_counts_retries_and_failures() {
    let server = Server::start(|_, i| match i {
        0 | 1 => Reply::status(503),
        _ => Reply::status(200),
    });
    let client = Config::new()
        .keys(PK, SK)
        .base_url(&server.base_url)
        .flush_interval(Duration::from_millis(50))
        .build_client()
        .unwrap()
        .unwrap();
    let trace = client.trace(Trace::new("t"));
    trace.span("a").end();
    trace.end();
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.retried, 2, "{report:?}");
    assert_eq!(report.stats.exported, 2, "{report:?}");
    assert_eq!(report.stats.failed, 0, "{report:?}");

    let refused = Config::new()
        .keys(PK, SK)
        .base_url(refused_url())
        .retry_deadline(Duration::from_millis(500))
        .flush_interval(Duration::from_millis(50))
        .build_client()
        .unwrap()
        .unwrap();
    refused.trace(Trace::new("lost")).end();
    let report = refused.flush(FLUSH);
    assert!(!report.timed_out);
    assert_eq!(report.stats.failed, 1, "{report:?}");
    assert_eq!(report.pending, 0, "{report:?}");
    assert!(report.stats.retried >= 1, "{report:?}");
}
