//! `observe sessions`, a 5,000-observation `observe trace` and `observe traces` on 1M
//! observations, from a PostgreSQL store and from the same traces in a SQLite file, each a whole run of the
//! `observe` process (start, connect and check the schema, query, print). Figures are in
//! BENCHMARKS.md.
//!
//! The SQLite file is the `ui` bench's ([`store_1m`]); it is copied row for row into a
//! PostgreSQL server started for the run as the tests start theirs (Debian's `postgresql`
//! package, a new cluster in a temporary directory), then analyzed.
//!
//! ```text
//! cargo bench -p observe-cli --bench pg_readers -- --warm-up-time 1 --measurement-time 3
//! ```

#[path = "../tests/it/pg_load.rs"]
mod pg_load;
#[path = "../../observe-store/tests/pg_support/mod.rs"]
mod pg_support;
mod store_1m;

use std::process::Command;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use store_1m::{big_trace_id, store, BIG_TRACE};

/// Runs `observe --db DB args...`; what it printed, which must be a success.
fn observe(db: &str, args: &[&str]) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run observe");
    assert!(
        out.status.success(),
        "observe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len()
}

fn readers(c: &mut Criterion) {
    let file = store();
    let server = pg_support::PgServer::start();
    let started = Instant::now();
    let mut client = server.connect();
    pg_load::copy_store(&file, &mut client);
    client.batch_execute("ANALYZE").expect("analyze");
    eprintln!(
        "copied {} into PostgreSQL in {:.1?}",
        file.display(),
        started.elapsed()
    );
    let stores = [
        ("postgres", server.url()),
        ("sqlite", file.to_str().unwrap().to_owned()),
    ];
    let trace = big_trace_id();
    // What each command prints, so a broken read cannot bench fast.
    for (_, db) in &stores {
        assert!(observe(db, &["--json", "trace", &trace]) > BIG_TRACE as usize * 100);
        assert!(observe(db, &["sessions"]) > 50 * 40);
        assert!(observe(db, &["traces"]) > 50 * 40);
    }
    let mut group = c.benchmark_group("cli_1m_observations");
    group.sample_size(20);
    for (name, db) in &stores {
        group.bench_function(format!("{name}/sessions"), |b| {
            b.iter(|| observe(db, &["sessions"]))
        });
        group.bench_function(format!("{name}/trace_5000_observations"), |b| {
            b.iter(|| observe(db, &["trace", &trace]))
        });
        group.bench_function(format!("{name}/traces"), |b| {
            b.iter(|| observe(db, &["traces"]))
        });
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
