//! The readers as whole commands on 1M observations: `observe sessions`, `session <id>`,
//! `traces`, a 5,000-observation `trace`, `report slow-users` and `query` of the seed's
//! users query, each a whole run of the `observe` process (start, connect and check the
//! schema, query, print), from a PostgreSQL store and from the same traces in a SQLite
//! file. Figures are in BENCHMARKS.md.
//!
//! The SQLite file is the `ui` bench's ([`store_1m`]); it is copied row for row into a
//! PostgreSQL server started for the run as the tests start theirs (Debian's `postgresql`
//! package, a new cluster in a temporary directory), then analyzed.
//!
//! Two measures of each command: criterion's wall clock, and, before it, the CPU time
//! one run costs (a table on stderr): the `observe` process's own (user + system, from
//! `/proc/self/stat`'s reaped-children times) and, on PostgreSQL, the server's (its
//! backends', reaped by the postmaster: `/proc/<postmaster>/stat`). CPU time holds under
//! the load of a shared machine where the wall clock does not.
//!
//! ```text
//! cargo bench -p observe-cli --features postgres --bench pg_readers -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```

#[path = "../tests/it/pg_load.rs"]
mod pg_load;
#[path = "../../observe-store/tests/pg_support/mod.rs"]
mod pg_support;
mod store_1m;

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use store_1m::{big_trace_id, store, BIG_TRACE, TRACES};

/// Runs of each command the CPU table averages.
const CPU_RUNS: u32 = 10;

/// The seed's query (a), performance by user (what `observe report users` prints), over
/// the bench store's traces: they are from January 2026, so its window ("the last 30
/// days", which finds none of them now) starts at the store's first day instead.
const SEED_QUERY: &str = "\
SELECT user_id,
       COUNT(*) AS traces,
       AVG(latency_ms) AS avg_latency_ms,
       SUM(calculated_total_cost) AS total_cost
FROM traces
WHERE timestamp >= '2026-01-01T00:00:00Z'::timestamptz
GROUP BY user_id
ORDER BY total_cost DESC";

/// One command the bench times: its name, its arguments, and the fewest rows (lines of
/// `--jsonl`, or bytes of the table for the trees) that show it read what it should.
struct Case {
    name: &'static str,
    args: Vec<String>,
    check: Check,
}

enum Check {
    /// At least this many rows in `--jsonl` output.
    Rows(usize),
    /// At least this many bytes printed (the trees have no `--jsonl` form of rows).
    Bytes(usize),
}

fn cases() -> Vec<Case> {
    let owned = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect();
    // A session of one ordinary trace, in the middle of the store.
    let session = format!("session_{:06}", TRACES / 2);
    vec![
        // The floor every command stands on: start, connect, check the schema, one
        // statement that reads nothing, print.
        Case {
            name: "start_up_floor",
            args: owned(&["query", "SELECT 1 AS one"]),
            check: Check::Rows(1),
        },
        Case {
            name: "sessions",
            args: owned(&["sessions"]),
            check: Check::Rows(50),
        },
        Case {
            name: "session",
            args: owned(&["session", &session]),
            check: Check::Bytes(10 * 30),
        },
        Case {
            name: "traces",
            args: owned(&["traces"]),
            check: Check::Rows(50),
        },
        Case {
            name: "trace_5000_observations",
            args: owned(&["trace", &big_trace_id()]),
            check: Check::Bytes(BIG_TRACE as usize * 40),
        },
        // The seed's report (d): the only one of the four without a time window, so the
        // one that finds the January store's rows.
        Case {
            name: "report_slow_users",
            args: owned(&["report", "slow-users"]),
            check: Check::Rows(1_000),
        },
        Case {
            name: "query_seed_users",
            args: owned(&["query", SEED_QUERY]),
            check: Check::Rows(1_000),
        },
    ]
}

/// Runs `observe --db DB [--jsonl] args...`; what it printed, which must be a success.
fn observe(db: &str, jsonl: bool, args: &[String]) -> Vec<u8> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_observe"));
    command.arg("--db").arg(db);
    if jsonl {
        command.arg("--jsonl");
    }
    let out = command.args(args).output().expect("run observe");
    assert!(
        out.status.success(),
        "observe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Fails unless `case` printed what it should from `db`: a broken or empty read must not
/// bench fast.
fn check(db: &str, case: &Case) {
    match case.check {
        Check::Rows(at_least) => {
            let out = observe(db, true, &case.args);
            let rows = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
            assert!(
                rows >= at_least,
                "{} on {db}: {rows} rows, expected at least {at_least}",
                case.name
            );
        }
        Check::Bytes(at_least) => {
            let printed = observe(db, false, &case.args).len();
            assert!(
                printed >= at_least,
                "{} on {db}: {printed} bytes, expected at least {at_least}",
                case.name
            );
        }
    }
}

/// Clock ticks per second of `/proc`'s CPU times.
fn ticks_per_second() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

/// The CPU time (user + system, in ticks) of `pid`'s children it has reaped.
fn reaped_children_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // The fields after the command name (in parentheses, which may hold spaces).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    // cutime and cstime are fields 16 and 17 of stat(5); the list starts at field 3.
    fields[13].parse::<u64>().unwrap() + fields[14].parse::<u64>().unwrap()
}

/// The postmaster's process id: the parent of `client`'s backend.
fn postmaster_pid(client: &mut postgres::Client) -> String {
    let backend: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let status = std::fs::read_to_string(format!("/proc/{backend}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .expect("PPid in status")
        .trim()
        .to_owned()
}

/// Waits until no other client backend is connected, so that every backend the runs
/// started has ended and been reaped (its CPU counted in the postmaster's children's).
fn backends_gone(client: &mut postgres::Client) {
    loop {
        let others: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0);
        if others == 0 {
            // The postmaster reaps on SIGCHLD, just after the backend leaves the list.
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Per run of `case` on `db`: the median wall clock, and the mean CPU of the client and
/// (with `server`: the postmaster's pid and a client to watch it) of the server, in ms.
fn cpu_per_run(
    db: &str,
    case: &Case,
    server: Option<(&str, &mut postgres::Client)>,
    tick_ms: f64,
) -> (f64, f64, Option<f64>) {
    let me = std::process::id().to_string();
    let mut server = server;
    if let Some((_, client)) = server.as_mut() {
        backends_gone(client);
    }
    let client_before = reaped_children_ticks(&me);
    let server_before = server.as_ref().map(|(pid, _)| reaped_children_ticks(pid));
    let mut walls = Vec::new();
    for _ in 0..CPU_RUNS {
        let started = Instant::now();
        observe(db, false, &case.args);
        walls.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let client_ms =
        (reaped_children_ticks(&me) - client_before) as f64 * tick_ms / f64::from(CPU_RUNS);
    let server_ms = server.map(|(pid, client)| {
        backends_gone(client);
        (reaped_children_ticks(pid) - server_before.unwrap()) as f64 * tick_ms / f64::from(CPU_RUNS)
    });
    walls.sort_by(f64::total_cmp);
    (walls[walls.len() / 2], client_ms, server_ms)
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
    let postmaster = postmaster_pid(&mut client);
    let stores = [
        ("postgres", server.url()),
        ("sqlite", file.to_str().unwrap().to_owned()),
    ];
    let cases = cases();
    for (_, db) in &stores {
        for case in &cases {
            check(db, case);
        }
    }

    let tick_ms = 1000.0 / ticks_per_second();
    eprintln!("\nper run, {CPU_RUNS} runs each (CPU in ms; wall: the runs' median)");
    eprintln!("| command | store | wall median | client CPU | server CPU |");
    eprintln!("| --- | --- | --- | --- | --- |");
    for case in &cases {
        for (name, db) in &stores {
            let watch = (*name == "postgres").then_some((postmaster.as_str(), &mut client));
            let (wall, own, server) = cpu_per_run(db, case, watch, tick_ms);
            let server = server.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"));
            eprintln!(
                "| {} | {name} | {wall:.1} | {own:.1} | {server} |",
                case.name
            );
        }
    }
    eprintln!();

    let mut group = c.benchmark_group("cli_1m_observations");
    group.sample_size(20);
    for (name, db) in &stores {
        for case in &cases {
            group.bench_function(format!("{name}/{}", case.name), |b| {
                b.iter(|| observe(db, false, &case.args))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
