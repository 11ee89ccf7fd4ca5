//! What `observe serve` does with a request once its body is read, without the HTTP: decode
//! (OTLP protobuf, OTLP/JSON or the legacy ingestion API, 512 spans) and write into the
//! SQLite store, in spans per second.
//! The load generator (`examples/ingest_load.rs`) measures the same over HTTP against a
//! running server. Figures are in BENCHMARKS.md ("observe serve ingest").
//!
//! ```text
//! cargo bench -p observe-cli --bench ingest -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! The bodies are encoded before the clock starts; `decode/*` times the decoder alone,
//! `decode_write/*` the decoder and the store's write as `observe serve` writes (the
//! records as pieces, `write_pieces` with a project), into a new file per sample. What is
//! timed is the benchmarking thread's time on a CPU (`/proc/thread-self/schedstat`), not
//! the wall clock: the machine is shared, and under load the wall clock measures the other
//! processes. The store's own background thread (its WAL checkpoints) is not counted; the
//! load generator's figures (wall clock, whole server) are the end-to-end ones.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use observe_ingest::ingestion::ingestion_route;
use observe_ingest::{decode_request, Encoding};
use observe_model::export::Batch;
use observe_model::piece::{ObservationPiece, Piece};
use observe_store::StoreExporter;

#[path = "support/ingest_traffic.rs"]
mod ingest_traffic;

use ingest_traffic::{Traffic, SPANS_PER_REQUEST};

#[path = "../../observe-store/benches/support/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_now;

/// Distinct requests cycled through (a trace's ids must not repeat within a sample
/// of a fresh file, or the write turns into updates).
const BODIES: usize = 64;

/// What is posted: the bodies of one request of [`SPANS_PER_REQUEST`] spans (the
/// ingestion API's may be split in several).
#[derive(Clone, Copy)]
enum Api {
    Otlp(Encoding),
    Ingestion,
}

impl Api {
    fn encode(self, batch: &Batch) -> Vec<Vec<u8>> {
        match self {
            Api::Otlp(Encoding::Protobuf) => vec![ingest_traffic::otlp_protobuf(batch)],
            Api::Otlp(Encoding::Json) => vec![ingest_traffic::otlp_json(batch)],
            Api::Ingestion => ingest_traffic::ingestion(batch),
        }
    }

    /// The decoded request as `observe serve`'s writer hands it to the store.
    fn decode(self, bodies: &[Vec<u8>]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for body in bodies {
            match self {
                Api::Otlp(encoding) => {
                    let decoded = decode_request(body, encoding).expect("a valid OTLP body");
                    assert!(decoded.refused.is_empty());
                    pieces.extend(
                        decoded
                            .observations
                            .into_iter()
                            .map(|o| Piece::Observation(ObservationPiece::from(o))),
                    );
                }
                Api::Ingestion => {
                    let answer = ingestion_route(body);
                    assert_eq!(answer.refused, 0, "{}", answer.body);
                    pieces.extend(answer.pieces);
                }
            }
        }
        pieces
    }
}

fn bodies(api: Api, seed: u64) -> Vec<Vec<Vec<u8>>> {
    let mut traffic = Traffic::new(seed);
    (0..BODIES).map(|_| api.encode(&traffic.batch())).collect()
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("serve_ingest");
    group.throughput(Throughput::Elements(SPANS_PER_REQUEST as u64));
    group.sample_size(20);
    // Every sample as long as the others: the CPU clock advances in scheduler ticks, which a
    // sample of one or two requests could fall between.
    group.sampling_mode(SamplingMode::Flat);
    let cases = [
        ("otlp_protobuf", Api::Otlp(Encoding::Protobuf)),
        ("otlp_json", Api::Otlp(Encoding::Json)),
        ("ingestion", Api::Ingestion),
    ];
    for (seed, (name, api)) in cases.iter().enumerate() {
        let bodies = bodies(*api, seed as u64 + 1);
        group.bench_function(format!("decode/{name}"), |b| {
            let mut next = bodies.iter().cycle();
            b.iter_custom(|iters| {
                let start = cpu_now();
                for _ in 0..iters {
                    drop(api.decode(next.next().expect("cycle")));
                }
                cpu_now() - start
            })
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = 0u64;
    for (name, api) in &cases {
        group.bench_function(format!("decode_write/{name}"), |b| {
            b.iter_custom(|iters| {
                files += 1;
                let path = dir.path().join(format!("ingest{files}.db"));
                let mut store = StoreExporter::open(&path).expect("open the store");
                // Fresh bodies for each sample, so no id repeats in this file.
                let mut traffic = Traffic::new(1_000 + files);
                let requests: Vec<Vec<Vec<u8>>> =
                    (0..iters).map(|_| api.encode(&traffic.batch())).collect();
                let start = cpu_now();
                for bodies in &requests {
                    let report = store
                        .write_pieces(Some("bench"), &api.decode(bodies))
                        .expect("write");
                    assert!(report.refused.is_empty(), "{:?}", report.refused);
                }
                let spent = cpu_now() - start;
                drop(store);
                let _ = std::fs::remove_file(&path);
                spent
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().measurement_time(Duration::from_secs(8))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ingest
}
criterion_main!(benches);
