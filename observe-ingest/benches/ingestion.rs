//! Throughput of the legacy ingestion API's decoder (`observe_ingest::ingestion`), alone and
//! with the store write `observe serve` does after it: batches of 512 events shaped as the
//! Langfuse Python SDK 2.x sends them (per trace: `trace-create`, `span-create`,
//! `generation-create` with usage and chat messages, `span-update`).
//!
//! `cargo bench -p observe-ingest --bench ingestion`; throughput is in events per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use observe_ingest::ingestion::decode_ingestion;
use observe_store::StoreExporter;
use serde_json::{json, Value};

/// Events per request, as the SDKs batch them by default.
const BATCH: usize = 512;

/// One request of `BATCH` events; `round` keeps ids unique across requests.
fn request(round: usize) -> Vec<u8> {
    let mut batch: Vec<Value> = Vec::with_capacity(BATCH);
    for t in 0..BATCH / 4 {
        let trace = format!("trace-{round}-{t}");
        let span = format!("{trace}-span");
        let generation = format!("{trace}-gen");
        let at = |ms: u32| format!("2026-12-07T17:52:56.{:03}{:03}Z", ms % 1000, t % 1000);
        batch.push(
            json!({"id": format!("{trace}-e1"), "type": "trace-create", "timestamp": at(1),
            "body": {"id": trace, "timestamp": at(1), "name": "support-chat", "userId": "user-42",
                     "sessionId": format!("session-{}", t % 16), "release": "rel-7",
                     "input": {"question": "Where is my order?"},
                     "metadata": {"channel": "web", "attempt": 1}, "tags": ["support", "beta"],
                     "environment": "staging"}}),
        );
        batch.push(
            json!({"id": format!("{trace}-e2"), "type": "span-create", "timestamp": at(2),
            "body": {"id": span, "traceId": trace, "name": "retrieve", "startTime": at(2),
                     "metadata": {"index": "orders"}, "input": {"query": "order status"},
                     "environment": "staging"}}),
        );
        batch.push(json!({"id": format!("{trace}-e3"), "type": "generation-create",
            "timestamp": at(3),
            "body": {"id": generation, "traceId": trace, "parentObservationId": span,
                     "name": "answer", "startTime": at(3), "endTime": at(40),
                     "completionStartTime": at(20), "model": "gpt-4o-mini",
                     "modelParameters": {"temperature": 0.2, "max_tokens": 256},
                     "input": [{"role": "system", "content": "You answer questions about orders."},
                               {"role": "user", "content": "Where is my order 17? It was due on Monday."}],
                     "output": {"role": "assistant",
                                "content": "Order 17 left the warehouse yesterday and arrives tomorrow."},
                     "usage": {"input": 1000, "output": 200, "unit": "TOKENS"},
                     "metadata": {"attempt": 1}, "environment": "staging"}}));
        batch.push(
            json!({"id": format!("{trace}-e4"), "type": "span-update", "timestamp": at(50),
            "body": {"id": span, "traceId": trace, "endTime": at(50),
                     "output": ["doc-1", "doc-2"]}}),
        );
    }
    serde_json::to_vec(&json!({"batch": batch, "metadata": {"sdk": "python"}})).unwrap()
}

fn decode(c: &mut Criterion) {
    let body = request(0);
    let mut group = c.benchmark_group("ingestion");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_512", |b| {
        b.iter(|| {
            let outcome = decode_ingestion(black_box(&body)).unwrap();
            assert!(outcome.errors.is_empty());
            outcome
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let mut store = StoreExporter::open(dir.path().join("bench.db")).unwrap();
    let mut round = 0;
    group.bench_function("decode_and_write_512", |b| {
        b.iter_batched(
            || {
                round += 1;
                request(round)
            },
            |body| {
                let outcome = decode_ingestion(&body).unwrap();
                store.write_pieces(Some("bench"), &outcome.pieces).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
