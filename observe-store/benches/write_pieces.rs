//! Throughput of `StoreExporter::write_pieces` (what `observe serve` writes every request
//! with) beside `StoreExporter::write` (the library's batch path) on the same spans.
//!
//! A request holds 512 spans (`support/spans.rs`). Three cases, each writing into a file of
//! its own that grows from sample to sample:
//!
//! - `batch`: the spans as one library `Batch`;
//! - `complete`: one complete piece per span (`From<&Observation>`, as OTLP gives them);
//! - `create_update`: two pieces per span, as Langfuse's legacy ingestion API sends them:
//!   a create (ids, parent, name, type, start, input, trace attributes) and an update of the
//!   same id (end, output, model, usage, cost), both in the same request.
//!
//! Requests are built before the clock starts; only the write is timed, as the benchmarking
//! thread's time on a CPU (`/proc/thread-self/schedstat`): on a shared machine the wall
//! clock measures the other processes too. Run:
//! `cargo bench -p observe-store --bench write_pieces` (criterion prints `elem/s`, one
//! element being one span).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use observe_store::StoreExporter;

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_now;
#[path = "support/spans.rs"]
mod spans;
use spans::{complete, create_update, Stream, REQUEST};

/// How a case writes one request of spans.
#[derive(Clone, Copy)]
enum Case {
    Batch,
    Complete,
    CreateUpdate,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Batch => "batch",
            Case::Complete => "complete",
            Case::CreateUpdate => "create_update",
        }
    }

    /// Writes `iters` requests, each built before the clock starts; the time spent writing.
    fn timed(self, store: &mut StoreExporter, stream: &mut Stream, iters: u64) -> Duration {
        let mut spent = Duration::ZERO;
        for _ in 0..iters {
            let batch = stream.batch();
            let pieces = match self {
                Case::Batch => Vec::new(),
                Case::Complete => complete(&batch),
                Case::CreateUpdate => create_update(&batch),
            };
            let start = cpu_now();
            match self {
                Case::Batch => store.write(&batch).expect("write"),
                Case::Complete | Case::CreateUpdate => {
                    let report = store.write_pieces(Some("bench"), &pieces).expect("write");
                    assert!(report.refused.is_empty(), "{:?}", report.refused);
                }
            }
            spent += cpu_now() - start;
        }
        spent
    }
}

fn write_pieces(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_pieces");
    group.throughput(Throughput::Elements(REQUEST as u64));
    group.sample_size(20);
    // Every sample as long as the others: the CPU clock advances in scheduler ticks, which a
    // sample of one or two requests could fall between.
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(8));
    let dir = tempfile::tempdir().expect("tempdir");
    for (seed, case) in [Case::Batch, Case::Complete, Case::CreateUpdate]
        .into_iter()
        .enumerate()
    {
        let mut store =
            StoreExporter::open(dir.path().join(format!("{}.db", case.name()))).expect("open");
        let mut stream = Stream::new(seed as u64 + 1);
        group.bench_function(case.name(), |b| {
            b.iter_custom(|iters| case.timed(&mut store, &mut stream, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, write_pieces);
criterion_main!(benches);
