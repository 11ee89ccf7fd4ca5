//! `observe push --spool`: what an application left in its spool reaches a collector (a real
//! loopback HTTP server), once; a dead collector leaves it on disk and the command fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use observe_export::spool::{open_slot, SpoolOptions};
use observe_model::export::Batch;
use observe_model::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;

/// What a collector received: each request's header lines and body.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A collector that answers every request with 200 and counts the requests.
fn collector() -> (String, Arc<AtomicUsize>) {
    let (url, count, _) = recording_collector();
    (url, count)
}

/// [`collector`], keeping what each request held.
fn recording_collector() -> (String, Arc<AtomicUsize>, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen: Seen = Arc::default();
    let (c, s) = (count.clone(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            s.lock().unwrap().push((head, body));
            c.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{}",
            );
        }
    });
    (url, count, seen)
}

fn spool_records(root: &Path, batches: u64, per_batch: u64) {
    let mut spool = open_slot(root, "otlp", SpoolOptions::default()).unwrap();
    let trace = std::sync::Arc::new(TraceAttributes::default());
    for b in 0..batches {
        let batch = Batch {
            observations: (0..per_batch)
                .map(|i| {
                    Box::new(Observation {
                        trace_id: TraceId(u128::from(b) + 1),
                        id: SpanId(b * 1000 + i + 1),
                        parent_id: None,
                        name: "spooled".into(),
                        kind: ObservationType::Span,
                        level: Level::Default,
                        start: Timestamp(1),
                        end: Timestamp(2),
                        details: None,
                        trace: trace.clone(),
                    })
                })
                .collect(),
            scores: Vec::new(),
        };
        spool.append(&batch, false).unwrap();
    }
    spool.sync().unwrap();
}

fn push(root: &Path, endpoint: &str) -> (bool, serde_json::Value) {
    push_with(root, endpoint, &[], &[])
}

fn push_with(
    root: &Path,
    endpoint: &str,
    vars: &[(&str, &str)],
    args: &[&str],
) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .args(["--json", "push"])
        .args(args)
        .arg("--spool")
        .arg(root)
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .env_remove("OTEL_SERVICE_NAME")
        .envs(vars.iter().copied())
        .env_remove("LANGFUSE_PUBLIC_KEY")
        .env_remove("LANGFUSE_SECRET_KEY")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.success(), json)
}

#[test]
fn push_spool_delivers_what_was_spooled_once_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    spool_records(dir.path(), 5, 4);
    let (url, requests) = collector();
    let (ok, json) = push(dir.path(), &url);
    assert!(ok, "{json}");
    assert_eq!(json[0]["destination"], "otlp");
    assert_eq!(json[0]["delivered"], 20, "{json}");
    assert_eq!(json[0]["remaining"], 0, "{json}");
    assert_eq!(requests.load(Ordering::SeqCst), 5);
    let (ok, json) = push(dir.path(), &url);
    assert!(ok, "{json}");
    assert_eq!(json[0]["delivered"], 0, "pushed again: nothing new {json}");
    assert_eq!(requests.load(Ordering::SeqCst), 5);
}

#[test]
fn push_spool_to_a_dead_collector_keeps_everything_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    spool_records(dir.path(), 2, 3);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The retry deadline is observe push's, as for the store's traces.
    let (ok, json) = push_with(
        dir.path(),
        &format!("http://127.0.0.1:{port}/v1/traces"),
        &[],
        &["--retry-deadline", "300ms"],
    );
    assert!(!ok);
    assert_eq!(json[0]["delivered"], 0, "{json}");
    assert_eq!(json[0]["remaining"], 6, "{json}");
}

#[test]
fn push_spool_to_a_collector_sends_the_decoded_headers_and_the_service_name() {
    let dir = tempfile::tempdir().unwrap();
    spool_records(dir.path(), 1, 2);
    let (url, _, seen) = recording_collector();
    let (ok, json) = push_with(
        dir.path(),
        &url,
        &[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-team=two%20words,x-id=a%2Cb",
            ),
            ("OTEL_SERVICE_NAME", "spool-service-7"),
        ],
        &[],
    );
    assert!(ok, "{json}");
    assert_eq!(json[0]["delivered"], 2, "{json}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (head, body) = &seen[0];
    let head = head.to_ascii_lowercase();
    assert!(head.contains("x-team: two words\r\n"), "{head}");
    assert!(head.contains("x-id: a,b\r\n"), "{head}");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut raw)
        .unwrap();
    let request = <ExportTraceServiceRequest as prost::Message>::decode(&raw[..]).unwrap();
    let service: Vec<String> = request
        .resource_spans
        .iter()
        .filter_map(|r| r.resource.as_ref())
        .flat_map(|r| &r.attributes)
        .filter(|kv| kv.key == "service.name")
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(service, vec!["spool-service-7".to_owned()]);
}
