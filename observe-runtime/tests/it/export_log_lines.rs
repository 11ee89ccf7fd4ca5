//! What the HTTP destinations say when a server refuses: each line true to what happens
//! (a refusal is not retried, a redirect is not a server error), warnings said once per
//! episode, and records the ingestion API refuses named with the server's reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::export_support::logs::{at, lines_of};
use crate::export_support::*;
use observe_runtime::export::http::HttpOptions;
use observe_runtime::export::ingestion::IngestionExporter;
use observe_runtime::export::otlp::OtlpExporter;
use observe_runtime::export::{Batch, Exporter};
use observe_runtime::{Client, Trace};
use serde_json::{json, Value};
use tracing::Level;

const PK: &str = "pk-lf-logs";
const SK: &str = "sk-lf-logs";

/// `traces` traces of one span each, with a session, a user and a tag; the first span's
/// input is `big` bytes long.
fn batch(traces: usize, big: usize) -> Batch {
    let (client, memory) = Client::in_memory();
    for i in 0..traces {
        let trace = client.trace(
            Trace::new(format!("t{i}"))
                .session_id("s1")
                .user_id("u1")
                .tags(["tag"]),
        );
        let mut span = trace.span("step");
        let input = if i == 0 { noise(big) } else { "x".into() };
        span.update(observe_runtime::ObservationUpdate::new().input(&input));
        span.end();
        trace.end();
    }
    client.flush(FLUSH);
    Batch {
        observations: memory.observations().into_iter().map(Box::new).collect(),
        scores: vec![],
    }
}

/// `n` characters that do not compress (the OTLP body is gzipped).
fn noise(n: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

fn otlp(server: &Server) -> OtlpExporter {
    OtlpExporter::langfuse(
        &server.base_url,
        PK,
        SK,
        retry_options(Duration::from_secs(30)),
    )
    .unwrap()
}

fn assert_no_retry_said(lines: &[String]) {
    for line in lines {
        assert!(!line.contains("retrying"), "{line}");
    }
}

#[test]
fn a_401_is_not_said_to_be_retried() {
    let server = Server::start(|_, _| Reply::status(401));
    let mut exporter = otlp(&server);
    let (result, lines) = lines_of(Level::DEBUG, || exporter.export(&batch(2, 1)));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    assert_no_retry_said(&lines);
    assert_eq!(server.received().len(), 1, "a 401 is not retried");
}

#[test]
fn a_redirect_to_another_origin_is_said_to_be_one_not_a_server_error() {
    let elsewhere = Server::accepting();
    let location = format!("{}/api/public/otel/v1/traces", elsewhere.base_url);
    let server = Server::start(move |_, _| Reply::status(307).header("Location", &location));
    let mut exporter = otlp(&server);
    let (result, lines) = lines_of(Level::DEBUG, || exporter.export(&batch(2, 1)));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("307"), "{err}");
    assert!(err.contains("redirect"), "{err}");
    assert!(
        err.contains(&elsewhere.base_url),
        "names where it points: {err}"
    );
    assert!(!err.contains("server error"), "{err}");
    assert_no_retry_said(&lines);
    for line in &lines {
        assert!(!line.contains("server error"), "{line}");
    }
    assert!(
        elsewhere.received().is_empty(),
        "not followed to another origin"
    );
}

#[test]
fn halving_after_a_413_warns_once_and_says_no_retry() {
    let server = Server::start(faults::too_large_above(50_000));
    let mut exporter = otlp(&server);
    let (results, lines) = lines_of(Level::INFO, || {
        // Two batches, each with one record too large on its own: many halves refused.
        [
            exporter.export(&batch(40, 200_000)),
            exporter.export(&batch(40, 200_000)),
        ]
    });
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(err.failed_of(40), 1, "only the large record fails: {err}");
    }
    assert!(server.received().len() > 4, "the batches were halved");
    assert_no_retry_said(&lines);
    let warnings = at(&lines, "WARN");
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(warnings[0].contains("413"), "{}", warnings[0]);
    // Halves taken between refusals are not an outage that ended.
    assert!(
        !lines.iter().any(|l| l.contains("sending again")),
        "{lines:#?}"
    );
}

/// An ingestion API refusing every `trace-create` (and the spans named `bad`) with a
/// reason, while `refusing` is set; taking everything otherwise.
fn refusing_traces(refusing: Arc<AtomicBool>) -> impl Fn(&Received, usize) -> Reply {
    move |r, _| {
        let events = r.json()["batch"].as_array().cloned().unwrap_or_default();
        let refuse = refusing.load(Ordering::SeqCst);
        let (bad, good): (Vec<Value>, Vec<Value>) = events
            .into_iter()
            .partition(|e| refuse && (e["type"] == "trace-create" || e["body"]["name"] == "bad"));
        let errors: Vec<Value> = bad
            .iter()
            .map(|e| {
                json!({"id": e["id"], "status": 400, "message": "Invalid request data",
                       "error": format!("{} refused: sessionId too long", e["type"])})
            })
            .collect();
        Reply::json(
            207,
            json!({
                "successes": good.iter().map(|e| json!({"id": e["id"], "status": 201})).collect::<Vec<_>>(),
                "errors": errors,
            }),
        )
    }
}

#[test]
fn refused_trace_creates_are_warned_once_per_kind_per_episode_with_the_reason() {
    let refusing = Arc::new(AtomicBool::new(true));
    let server = Server::start(refusing_traces(refusing.clone()));
    let mut exporter =
        IngestionExporter::new(&server.base_url, PK, SK, HttpOptions::default()).unwrap();
    let mut with_bad = batch(3, 1);
    with_bad.observations[0].name = "bad".into();

    let (_, lines) = lines_of(Level::WARN, || {
        // Two batches refused: one episode.
        let _ = exporter.export(&batch(3, 1));
        let _ = exporter.export(&with_bad);
    });
    let warnings = at(&lines, "WARN");
    let traces: Vec<_> = warnings
        .iter()
        .filter(|l| l.contains("`trace-create`"))
        .collect();
    assert_eq!(traces.len(), 1, "{lines:#?}");
    assert!(
        traces[0].contains("sessionId too long"),
        "the server's reason: {}",
        traces[0]
    );
    assert!(traces[0].contains("session"), "{}", traces[0]);
    let spans: Vec<_> = warnings
        .iter()
        .filter(|l| l.contains("`span-create`"))
        .collect();
    assert_eq!(spans.len(), 1, "a kind of its own: {lines:#?}");
    assert_eq!(warnings.len(), 2, "{lines:#?}");

    // A request taken whole ends the episode; the next refusal is said again.
    let (_, lines) = lines_of(Level::WARN, || {
        refusing.store(false, Ordering::SeqCst);
        exporter.export(&batch(1, 1)).unwrap();
        refusing.store(true, Ordering::SeqCst);
        let _ = exporter.export(&batch(2, 1));
    });
    let warnings = at(&lines, "WARN");
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(warnings[0].contains("`trace-create`"), "{}", warnings[0]);
}
