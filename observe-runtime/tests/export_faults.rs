//! The delivery promise under faults, against a real loopback server that misbehaves: every
//! record the pipeline accepted ends counted as exactly one of exported, failed or dropped,
//! per destination (`accepted = exported + failed + dropped + pending`, and `pending` is 0
//! after shutdown); a destination that is down costs the others nothing; `flush` and
//! `shutdown` return by their deadline. Times asserted are correctness bounds with a generous
//! margin for a slow machine, not speed measurements.

mod export_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use export_support::faults::*;
use export_support::*;
use observe_runtime::export::http::HttpOptions;
use observe_runtime::export::ingestion::IngestionExporter;
use observe_runtime::export::memory::InMemory;
use observe_runtime::export::otlp::OtlpExporter;
use observe_runtime::export::store::{sql, Store, StoreExporter};
use observe_runtime::export::Exporter;
use observe_runtime::model::ObservationType;
use observe_runtime::{
    Client, DestinationStats, FlushReport, ObservationUpdate, PipelineSettings, ScoreRequest, Trace,
};

const PK: &str = "pk-lf-fault";
const SK: &str = "sk-lf-fault";

/// Slack over a deadline: the time to count and return, on a slow, shared machine.
const MARGIN: Duration = Duration::from_secs(3);

fn options(deadline: Duration) -> HttpOptions {
    retry_options(deadline)
}

fn otlp(url: &str, deadline: Duration) -> OtlpExporter {
    OtlpExporter::langfuse(url, PK, SK, options(deadline)).unwrap()
}

fn ingestion(url: &str) -> IngestionExporter {
    IngestionExporter::new(url, PK, SK, options(Duration::from_secs(10))).unwrap()
}

fn fast_settings() -> PipelineSettings {
    PipelineSettings {
        max_batch_records: 16,
        flush_interval: Duration::from_millis(20),
        ..PipelineSettings::default()
    }
}

/// A client with the fast settings, exporting to `exporter` alone.
fn client_to(exporter: impl Exporter) -> Client {
    Client::builder()
        .settings(fast_settings())
        .exporter(exporter)
        .build()
}

/// `traces` traces of one root and one child span each.
fn produce(client: &Client, traces: usize) {
    for i in 0..traces {
        let trace = client.trace(Trace::new(format!("t{i}")));
        trace.span("child").end();
        trace.end();
    }
}

fn destination<'a>(report: &'a FlushReport, name: &str) -> &'a DestinationStats {
    report
        .stats
        .destination(name)
        .unwrap_or_else(|| panic!("no destination {name}: {report:?}"))
}

/// The conservation law, for every destination, with nothing pending.
fn assert_settled(report: &FlushReport) {
    for d in &report.stats.destinations {
        assert!(d.balanced(), "{d:?}");
        assert_eq!(d.pending, 0, "{d:?}");
    }
    assert_eq!(report.pending, 0, "{report:?}");
}

#[test]
fn langfuse_down_store_up_the_store_receives_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let client = Client::builder()
        .settings(fast_settings())
        .exporter(otlp(&refused_url(), Duration::from_secs(30)))
        .exporter(StoreExporter::open(&path).unwrap())
        .build();
    produce(&client, 300);
    let started = Instant::now();
    let report = client.shutdown(Duration::from_secs(2));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2) + MARGIN, "took {took:?}");
    assert_settled(&report);
    let store = destination(&report, "store");
    assert_eq!((store.accepted, store.exported), (600, 600), "{report:?}");
    let langfuse = destination(&report, "langfuse-otlp");
    assert_eq!(langfuse.accepted, 600);
    assert_eq!(langfuse.exported, 0);
    assert_eq!(langfuse.failed + langfuse.dropped, 600, "{report:?}");
    let store = Store::open(&path).unwrap();
    let rows = sql::query(&store, "SELECT count(*) FROM observations").unwrap();
    assert_eq!(
        rows.rows,
        [[sql::Value::Integer(600)]],
        "every observation is in the store"
    );
}

#[test]
fn shutdown_returns_by_its_deadline_once_with_a_server_that_hangs() {
    let server = Server::start(|_, _| Reply::hang());
    let memory = InMemory::new();
    let client = Client::builder()
        .settings(fast_settings())
        .exporter(otlp(&server.base_url, Duration::from_secs(60)))
        .exporter(memory.clone())
        .build();
    produce(&client, 50);
    let guard = client
        .clone()
        .install_global()
        .shutdown_timeout(Duration::from_secs(1));
    let started = Instant::now();
    drop(guard);
    // The guard shut down; the client's own drop must not wait again.
    drop(client.clone());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1) + MARGIN, "took {took:?}");
    let report = client.shutdown(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(1) + MARGIN,
        "a second shutdown waited"
    );
    assert_settled(&report);
    let hung = destination(&report, "langfuse-otlp");
    assert_eq!(hung.exported, 0);
    assert_eq!(hung.failed + hung.dropped, 100, "{report:?}");
    assert_eq!(destination(&report, "memory").exported, 100, "{report:?}");
    assert_eq!(memory.observations().len(), 100);
    assert!(
        !server.received().is_empty(),
        "the request was made and hung"
    );
}

#[test]
fn retries_are_counted_while_the_outage_lasts() {
    let server = Server::start(|_, _| Reply::status(503));
    let client = client_to(otlp(&server.base_url, Duration::from_secs(60)));
    produce(&client, 1);
    // Well inside the 60 s retry deadline of the batch, the retries already show.
    let until = Instant::now() + Duration::from_secs(30);
    while client.stats().retried < 3 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = client.stats();
    assert!(stats.retried >= 3, "{stats:?}");
    assert_eq!(stats.destinations[0].pending, 2, "{stats:?}");
    let report = client.shutdown(Duration::from_millis(500));
    assert_settled(&report);
    assert_eq!(
        report.stats.failed + report.stats.dropped(),
        2,
        "{report:?}"
    );
}

#[test]
fn transient_faults_are_retried_and_nothing_is_lost() {
    for (what, server) in [
        ("5xx for 3 requests", Server::start(failing_first(3, 503))),
        (
            "429 with Retry-After",
            Server::start(throttling_first(1, 1)),
        ),
        ("closed mid-request", Server::start(closing_first(2))),
    ] {
        let client = client_to(otlp(&server.base_url, Duration::from_secs(30)));
        produce(&client, 10);
        let report = client.shutdown(FLUSH);
        assert_settled(&report);
        let d = &report.stats.destinations[0];
        assert_eq!(
            (d.exported, d.failed, d.dropped),
            (20, 0, 0),
            "{what}: {d:?}"
        );
        assert!(d.retried >= 1, "{what}: {d:?}");
        let ids: std::collections::HashSet<Vec<u8>> =
            server.spans().into_iter().map(|s| s.span_id).collect();
        assert_eq!(ids.len(), 20, "{what}: every span arrived");
    }
}

#[test]
fn bad_keys_fail_every_record_at_once_and_count_them() {
    let server = Server::start(|_, _| Reply::status(401));
    let client = client_to(otlp(&server.base_url, Duration::from_secs(30)));
    produce(&client, 10);
    let trace = client.trace(Trace::new("scored"));
    trace.score(ScoreRequest::new("quality", 1.0));
    trace.end();
    let started = Instant::now();
    let report = client.shutdown(FLUSH);
    assert!(started.elapsed() < MARGIN, "a 401 is not retried");
    assert_settled(&report);
    let d = &report.stats.destinations[0];
    assert_eq!((d.accepted, d.failed, d.retried), (22, 22, 0), "{d:?}");
}

#[test]
fn a_207_counts_each_refused_record_failed_and_the_rest_exported() {
    let server = Server::start(refusing_named("bad"));
    let client = client_to(ingestion(&server.base_url));
    let trace = client.trace(Trace::new("t"));
    for i in 0..10 {
        trace.span(if i % 3 == 0 { "bad" } else { "good" }).end();
    }
    trace.end();
    let report = client.shutdown(FLUSH);
    assert_settled(&report);
    let d = &report.stats.destinations[0];
    // 4 spans named "bad" (0, 3, 6, 9) are refused; 6 good ones and the root are taken.
    assert_eq!((d.accepted, d.exported, d.failed), (11, 7, 4), "{d:?}");
}

/// A trace with nine small spans and one of `big` bytes of input.
fn one_oversized(client: &Client, big: usize) {
    let trace = client.trace(Trace::new("t"));
    for i in 0..9 {
        trace.span(format!("small{i}")).end();
    }
    let mut s = trace.span("huge");
    s.update(ObservationUpdate::new().input(&"x".repeat(big)));
    s.end();
    trace.end();
}

#[test]
fn a_413_splits_the_batch_so_only_the_oversized_record_fails() {
    // OTLP (uncompressed, so the body's size is the records' size) and the ingestion API.
    let otlp_server = Server::start(too_large_above(50_000));
    let ingestion_server = Server::start(too_large_above(50_000));
    let settings = PipelineSettings {
        max_batch_records: 64,
        ..fast_settings()
    };
    let client = Client::builder()
        .settings(settings)
        .exporter(otlp(&otlp_server.base_url, Duration::from_secs(10)).gzip(false))
        .exporter(ingestion(&ingestion_server.base_url))
        .build();
    one_oversized(&client, 200_000);
    let report = client.shutdown(FLUSH);
    assert_settled(&report);
    for name in ["langfuse-otlp", "langfuse-ingestion"] {
        let d = destination(&report, name);
        assert_eq!(
            (d.accepted, d.exported, d.failed),
            (11, 10, 1),
            "{name}: {d:?}"
        );
    }
    // What the servers took (they refused the larger bodies).
    let taken = |server: &Server| -> Vec<Received> {
        server
            .received()
            .into_iter()
            .filter(|r| r.raw_body.len() <= 50_000)
            .collect()
    };
    let mut names: Vec<String> = taken(&otlp_server)
        .iter()
        .flat_map(|r| r.otlp().resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .map(|s| s.name)
        .collect();
    names.sort();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(!names.contains(&"huge".to_owned()));
    let sent = taken(&ingestion_server)
        .iter()
        .flat_map(|r| r.json()["batch"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "span-create")
        .count();
    assert_eq!(sent, 10);
}

#[test]
fn typed_observations_refused_by_an_older_server_go_again_as_spans() {
    // A Langfuse v2 server: no `agent-create`, `tool-create`...
    let server = Server::start(|r, _| {
        let events = r.json()["batch"].as_array().cloned().unwrap_or_default();
        let known = [
            "trace-create",
            "span-create",
            "generation-create",
            "event-create",
        ];
        let (good, bad): (Vec<_>, Vec<_>) = events
            .iter()
            .partition(|e| known.contains(&e["type"].as_str().unwrap_or("")));
        Reply::json(
            207,
            serde_json::json!({
                "successes": good.iter().map(|e| serde_json::json!({"id": e["id"], "status": 201})).collect::<Vec<_>>(),
                "errors": bad.iter().map(|e| serde_json::json!({"id": e["id"], "status": 400, "message": "Invalid event type"})).collect::<Vec<_>>(),
            }),
        )
    });
    let client = client_to(ingestion(&server.base_url));
    let trace = client.trace(Trace::new("t"));
    trace.observation(ObservationType::Agent, "planner").end();
    trace.observation(ObservationType::Tool, "search").end();
    trace.end();
    let report = client.shutdown(FLUSH);
    assert_settled(&report);
    let d = &report.stats.destinations[0];
    assert_eq!((d.accepted, d.exported, d.failed), (3, 3, 0), "{d:?}");
    let resent: Vec<String> = server
        .events()
        .iter()
        .filter(|e| e["type"] == "span-create")
        .filter_map(|e| {
            e["body"]["metadata"]["observation_type"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(resent, ["agent", "tool"]);
}

#[test]
fn with_the_setting_typed_observations_go_as_spans_at_once() {
    let server = Server::accepting();
    let client = client_to(ingestion(&server.base_url).legacy_types(true));
    let trace = client.trace(Trace::new("t"));
    trace.observation(ObservationType::Tool, "search").end();
    trace.end();
    let report = client.shutdown(FLUSH);
    assert_settled(&report);
    let types: Vec<String> = server
        .events()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(!types.contains(&"tool-create".to_owned()), "{types:?}");
    assert_eq!(server.to("/api/public/ingestion").len(), 1);
}

#[test]
fn records_racing_shutdown_are_counted_and_pending_reaches_zero() {
    for _ in 0..5 {
        let client = client_to(InMemory::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (client, stop) = (client.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        client.trace(Trace::new("racing")).end();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        let report = client.shutdown(FLUSH);
        assert_settled(&report);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let produced: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
        let after = client.stats();
        let d = &after.destinations[0];
        assert_eq!(d.accepted, produced, "{after:?}");
        assert!(d.balanced() && d.pending == 0, "{after:?}");
    }
}

#[test]
fn the_byte_budget_bounds_what_is_held_when_a_destination_hangs() {
    let server = Server::start(|_, _| Reply::hang());
    let settings = PipelineSettings {
        max_queue_bytes: 2 * 1024 * 1024,
        ..fast_settings()
    };
    let client = Client::builder()
        .settings(settings)
        .exporter(otlp(&server.base_url, Duration::from_secs(60)))
        .build();
    produce_inputs(&client, 1_000, 20_000);
    let stats = client.stats();
    let d = &stats.destinations[0];
    // 20 MB offered, 2 MB allowed: at most ~100 of the 20 KB records are held.
    assert!(d.pending <= 2 * 110, "{stats:?}");
    assert!(stats.dropped() >= 1_500, "{stats:?}");
    let report = client.shutdown(Duration::from_millis(500));
    assert_settled(&report);
}

#[test]
fn the_byte_budget_is_read_from_the_environment() {
    use observe_runtime::config::Config;
    let config = Config::from_vars(vars(&[("OBSERVE_MAX_QUEUE_BYTES", "1048576")])).unwrap();
    assert_eq!(
        config.value("OBSERVE_MAX_QUEUE_BYTES").as_deref(),
        Some("1048576")
    );
    let err = Config::from_vars(vars(&[("OBSERVE_MAX_QUEUE_BYTES", "lots")])).unwrap_err();
    assert!(err.to_string().contains("OBSERVE_MAX_QUEUE_BYTES"), "{err}");
    assert_eq!(
        Config::from_vars(vars(&[]))
            .unwrap()
            .value("OBSERVE_MAX_QUEUE_BYTES"),
        Some(PipelineSettings::default().max_queue_bytes.to_string())
    );
}
