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
//!
//! With `OBSERVE_BENCH_PG_URL` set to a database's URL, the bench writes there instead of
//! starting a server (its `traces`, `observations` and `scores` tables are emptied): to
//! measure a server tuned as a team runs it, or to read its `pg_stat_statements`.
//! `OBSERVE_BENCH_PG_CONNECTIONS` sets how many connections the exporter writes a batch
//! with (its default unless set), to compare one with several in the same run conditions.

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

/// The server written to: one given by `OBSERVE_BENCH_PG_URL`, or one started for the run
/// (kept until the end).
fn server() -> (String, Option<pg_support::PgServer>) {
    match std::env::var("OBSERVE_BENCH_PG_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = pg_support::PgServer::start();
            (format!("{}?sslmode=disable", server.url()), Some(server))
        }
    }
}

fn store_postgres(c: &mut Criterion) {
    let (url, _server) = server();
    let settings = PgSettings::from_url_with_env(&url, |_| None).expect("settings");
    let mut store = PgExporter::new(settings);
    if let Some(n) = std::env::var("OBSERVE_BENCH_PG_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        store = store.with_connections(n);
    }
    eprintln!("{store:?}");
    store.write(&Default::default()).expect("connect");
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect as admin");
    admin
        .batch_execute("TRUNCATE traces, observations, scores")
        .expect("empty the tables");

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
    let server_before: Vec<(i32, Duration)> = writer_backends(&mut admin)
        .into_iter()
        .map(|pid| (pid, process_cpu_of(pid)))
        .collect();
    let (mut batches, mut client) = (0u64, Duration::ZERO);
    for _ in 0..FILLED / BATCH as u64 {
        let batch = stream.batch();
        let before = process_cpu();
        store.write(&batch).expect("fill");
        client += process_cpu().saturating_sub(before);
        batches += 1;
    }
    // A connection opened during the fill counts from its start.
    let backends = writer_backends(&mut admin);
    let server: Duration = backends
        .iter()
        .map(|&pid| {
            let before = server_before.iter().find(|b| b.0 == pid).map(|b| b.1);
            process_cpu_of(pid).saturating_sub(before.unwrap_or_default())
        })
        .sum();
    cpu_report(batches, client, server, backends.len());
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

/// The server processes serving the exporter's connections: the other client backends on
/// the bench's database.
fn writer_backends(admin: &mut postgres::Client) -> Vec<i32> {
    admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("find the writer's server processes")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// CPU time this process has used (user and system).
fn process_cpu() -> Duration {
    // SAFETY: `getrusage` writes the struct it is given and nothing else; a zeroed
    // `rusage` is a valid value of it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// CPU time a server process has used (user and system), from `/proc` (the server runs on
/// this machine); zero when it cannot be read.
fn process_cpu_of(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields 14 and 15 (utime, stime) in clock ticks, counted after the command's `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: `sysconf` reads a configuration value and has no other effect.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// Prints the CPU time the fill's writes cost per batch on each side (the bench process's
/// counted around `write` alone, not while it builds the batches): a figure the load of the
/// machine changes far less than the wall clock.
fn cpu_report(batches: u64, client: Duration, server: Duration, backends: usize) {
    let per_batch = |d: Duration| d.as_secs_f64() * 1e3 / batches.max(1) as f64;
    let (client, server) = (per_batch(client), per_batch(server));
    eprintln!(
        "fill: {batches} batches of {BATCH}; CPU per batch: bench process {client:.2} ms, \
         server ({backends} processes) {server:.2} ms; {:.0} observations per CPU second",
        BATCH as f64 * 1e3 / (client + server)
    );
}

criterion_group!(benches, store_postgres);
criterion_main!(benches);
