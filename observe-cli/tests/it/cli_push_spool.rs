//! `observe push --spool`: what an application left in its spool reaches a collector (a real
//! loopback HTTP server), once; a dead collector leaves it on disk and the command fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use observe_export::spool::{open_slot, SpoolOptions};
use observe_model::export::Batch;
use observe_model::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};

/// A collector that answers every request with 200 and counts the requests.
fn collector() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            c.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{}",
            );
        }
    });
    (url, count)
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
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .args(["--json", "push", "--spool"])
        .arg(root)
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
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
    let (ok, json) = push(dir.path(), &format!("http://127.0.0.1:{port}/v1/traces"));
    assert!(!ok);
    assert_eq!(json[0]["delivered"], 0, "{json}");
    assert_eq!(json[0]["remaining"], 6, "{json}");
}
