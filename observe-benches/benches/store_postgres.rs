//! Insert throughput of the PostgreSQL store, in observations per second from one process,
//! beside `store_throughput` (SQLite): the same batches ([`store_stream`], 512
//! observations of seven-observation traces that straddle batches), written by
//! `PgExporter::write` into a PostgreSQL server started for the run as the tests start
//! theirs (Debian's `postgresql` package, a new cluster in a temporary directory, `fsync=off`
//! as a test server; the unix socket or loopback TCP).
//!
//! Two cases:
//!
//! - `fresh`: the tables are emptied before each sample;
//! - `filled`: the database already holds [`FILLED`] observations (written untimed first).
//!
//! The batches are built before the clock starts; only `write` is timed (a transaction per
//! batch, committed).
//!
//! Run: `cargo bench -p observe-benches --features postgres --bench store_postgres`.

#[path = "../../observe-store/tests/pg_support/mod.rs"]
mod pg_support;
mod store_stream;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observe_runtime::export::store::postgres::{PgExporter, PgSettings};
use store_stream::{Stream, BATCH};

/// Observations already in the database for the `filled` case.
const FILLED: u64 = 1_000_000;

fn timed_writes(store: &mut PgExporter, stream: &mut Stream, iters: u64) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let batch = stream.batch();
        let start = Instant::now();
        store.write(&batch).expect("write");
        spent += start.elapsed();
    }
    spent
}

fn store_postgres(c: &mut Criterion) {
    let server = pg_support::PgServer::start();
    let url = format!("{}?sslmode=disable", server.url());
    let settings = PgSettings::from_url_with_env(&url, |_| None).expect("settings");
    let mut store = PgExporter::connect(settings).expect("connect");
    let mut admin = server.connect();

    let mut group = c.benchmark_group("store_postgres");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    let mut samples = 0u64;
    group.bench_function("fresh", |b| {
        b.iter_custom(|iters| {
            samples += 1;
            admin
                .batch_execute("TRUNCATE traces, observations, scores")
                .expect("empty the tables");
            let mut stream = Stream::new(samples);
            timed_writes(&mut store, &mut stream, iters)
        })
    });

    let mut stream = Stream::new(u64::from(u32::MAX));
    for _ in 0..FILLED / BATCH as u64 {
        store.write(&stream.batch()).expect("fill");
    }
    // The totals are kept by adding each batch's new rows; over traces that straddle
    // batches they must equal the totals computed from the stored observations.
    let drifted: i64 = admin
        .query_one(
            "SELECT count(*) FROM traces t JOIN (SELECT trace_seq, min(start_ns) AS s,
                max(end_ns) AS e, count(*) AS n, sum(calculated_total_cost) AS c
                FROM observations GROUP BY trace_seq) a ON a.trace_seq = t.seq
            WHERE (t.start_ns, t.end_ns, t.observation_count::bigint) <> (a.s, a.e, a.n)
                OR abs(t.calculated_total_cost - a.c) > 1e-9 * greatest(1, abs(a.c))",
            &[],
        )
        .expect("compare the totals")
        .get(0);
    assert_eq!(
        drifted, 0,
        "traces whose totals differ from their observations"
    );
    admin.batch_execute("VACUUM ANALYZE").expect("vacuum");
    group.bench_function("filled", |b| {
        b.iter_custom(|iters| timed_writes(&mut store, &mut stream, iters))
    });
    group.finish();
}

criterion_group!(benches, store_postgres);
criterion_main!(benches);
