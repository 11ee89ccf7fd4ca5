//! The floor under `observe serve`'s writer: what SQLite itself takes per span to store the
//! rows `StoreExporter::write_pieces` stores, with nothing of the store's own work around it.
//!
//! Each case writes the same requests (`support/spans.rs`: 512 spans, 64 new traces) into
//! a file of its own, made by `StoreExporter::open` (so with today's schema), one
//! transaction per request, as the writer does:
//!
//! - `store`: `StoreExporter::write_pieces` with one complete piece per span, what the
//!   server runs (its checkpoints on the store's own thread, not counted);
//! - `floor`: the same rows, every column and text as the store formats them, formatted
//!   before the clock starts, inserted by one plain prepared `INSERT` per row (traces and
//!   observations) bound in place (`SQLITE_STATIC`), into the schema as it is;
//! - `floor-no-NAME`: the same with one secondary index or trigger of `traces` or
//!   `observations` dropped: the difference with `floor` is what that one costs per span;
//! - `bare`: with every secondary index and trigger of both tables dropped but the two
//!   unique keys the merge rules look rows up by (`traces_id`, `observations_trace`);
//! - `bare-nokeys`: with those dropped too (two tables appended to; not a usable store).
//!
//! Checkpoints run between requests, off the clock. Cases take turns, `ROUNDS` rounds of
//! `REQUESTS` requests each (environment, defaults 15 and 8), so that they share the
//! machine's state and files grow alike; the figure is the median over rounds of the
//! benchmarking thread's CPU time per span (`/proc/thread-self/schedstat`). With
//! `NO_MEMSTATUS=1` SQLite's memory statistics (a global mutex taken on every allocation)
//! are turned off first. Run: `cargo bench -p observe-store --bench insert_floor`.

use std::ffi::{c_int, CString};
use std::path::Path;
use std::ptr;
use std::time::Duration;

use observe_model::model::{Cost, Json, Observation, ObservationType, Timestamp};
use observe_model::piece::{ObservationPiece, Piece};
use observe_store::StoreExporter;
use rusqlite::{ffi, Connection};

#[path = "support/cpu_time.rs"]
mod cpu_time;
use cpu_time::cpu_now;
#[path = "support/spans.rs"]
mod spans;
use spans::{complete, Stream};

/// The observation columns the store writes, in its order (`observation_insert.rs`).
const INSERT_OBSERVATION: &str = "INSERT INTO observations (
    id, trace_id, parent_observation_id, type, name, level, status_message,
    start_time, end_time, start_ns, end_ns, latency_ms, completion_start_time,
    model, model_parameters, usage_details, cost_details, calculated_total_cost,
    input, output, metadata, prompt_name, prompt_version, version, trace_seq, cost_computed,
    project_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, (?11 - ?10) / 1e6, ?12, ?13, ?14, ?15,
    ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";

/// A new trace's columns, as the store writes them (`pieces/in_place.rs`).
const INSERT_TRACE: &str = "INSERT INTO traces (
    id, name, user_id, session_id, timestamp, end_time, start_ns, end_ns, latency_ms,
    calculated_total_cost, computed_cost, observation_count, metadata, tags, version, release,
    environment, public, input, output, has_root, updated_at, seq, project_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (?8 - ?7) / 1e6, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
    ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";

/// One value to bind.
#[derive(Clone)]
enum V {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<Option<String>> for V {
    fn from(t: Option<String>) -> Self {
        t.map_or(V::Null, V::Text)
    }
}

impl From<&str> for V {
    fn from(t: &str) -> Self {
        V::Text(t.to_owned())
    }
}

/// The rows of one request, every value formatted.
struct Request {
    traces: Vec<Vec<V>>,
    observations: Vec<Vec<V>>,
}

/// The rows the store writes for `observations` (whole traces), numbering their traces
/// from `next_seq`.
fn rows(observations: &[Box<Observation>], next_seq: &mut i64) -> Request {
    let updated = Timestamp::now().to_rfc3339();
    let mut request = Request {
        traces: Vec::new(),
        observations: Vec::new(),
    };
    for trace in observations.chunk_by(|a, b| a.trace_id == b.trace_id) {
        let seq = *next_seq;
        *next_seq += 1;
        let pieces: Vec<_> = trace.iter().map(|o| ObservationPiece::from(&**o)).collect();
        let mut cost = 0.0;
        for (o, p) in trace.iter().zip(&pieces) {
            let d = o.details.as_deref().expect("details");
            let total = d.cost.as_ref().map_or(0.0, Cost::total);
            cost += total;
            let json = |j: &Option<Json>| j.as_ref().map(|j| j.as_str().to_owned());
            request.observations.push(vec![
                V::from(&*p.id),
                V::from(&*p.trace_id),
                p.parent_id.as_deref().map(str::to_owned).into(),
                V::from(match o.kind {
                    ObservationType::Generation => "GENERATION",
                    _ => "SPAN",
                }),
                V::from(&*o.name),
                V::from("DEFAULT"),
                V::Null,
                V::Text(o.start.to_rfc3339()),
                V::Text(o.end.to_rfc3339()),
                V::Int(o.start.as_nanos() as i64),
                V::Int(o.end.as_nanos() as i64),
                V::Null,
                d.model.clone().into(),
                json(&d.model_parameters).into(),
                d.usage
                    .as_ref()
                    .map(|u| serde_json::to_string(u).expect("usage"))
                    .into(),
                d.cost
                    .as_ref()
                    .map(|c| serde_json::to_string(c).expect("cost"))
                    .into(),
                V::Real(total),
                json(&d.input).into(),
                json(&d.output).into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Int(seq),
                V::Int(0),
                V::from("bench"),
            ]);
        }
        let root = trace.iter().find(|o| o.parent_id.is_none()).expect("root");
        let rd = root.details.as_deref().expect("details");
        let a = &root.trace;
        let start = trace.iter().map(|o| o.start).min().expect("start");
        let end = trace.iter().map(|o| o.end).max().expect("end");
        request.traces.push(vec![
            V::from(&*pieces[0].trace_id),
            a.name.clone().into(),
            a.user_id.clone().into(),
            a.session_id.clone().into(),
            V::Text(start.to_rfc3339()),
            V::Text(end.to_rfc3339()),
            V::Int(start.as_nanos() as i64),
            V::Int(end.as_nanos() as i64),
            V::Real(cost),
            V::Real(0.0),
            V::Int(trace.len() as i64),
            V::Text(serde_json::to_string(&a.metadata).expect("metadata")),
            V::Text(serde_json::to_string(&a.tags).expect("tags")),
            V::Null,
            V::Null,
            V::Null,
            V::Null,
            rd.input.as_ref().map(|j| j.as_str().to_owned()).into(),
            rd.output.as_ref().map(|j| j.as_str().to_owned()).into(),
            V::Int(1),
            V::Text(updated.clone()),
            V::Int(seq),
            V::from("bench"),
        ]);
    }
    request
}

/// A statement prepared on a connection, binding text in place.
struct Stmt(*mut ffi::sqlite3_stmt);

impl Stmt {
    fn prepare(conn: &Connection, sql: &str) -> Stmt {
        let sql = CString::new(sql).expect("sql");
        let mut stmt = ptr::null_mut();
        // SAFETY: the handle is the live connection's; the statement is finalized (drop)
        // before the connection closes, as `Floor` drops its statements first.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(conn.handle(), sql.as_ptr(), -1, &mut stmt, ptr::null_mut())
        };
        assert_eq!(rc, ffi::SQLITE_OK, "prepare");
        Stmt(stmt)
    }

    /// Binds `values` (read in place while the statement runs), runs it, and clears them.
    fn run(&mut self, values: &[V]) {
        for (i, v) in values.iter().enumerate() {
            let at = i as c_int + 1;
            // SAFETY: `self.0` is a live statement; text is bound with SQLITE_STATIC and
            // stays borrowed until the bindings are cleared below, before this returns.
            let rc = unsafe {
                match v {
                    V::Null => ffi::sqlite3_bind_null(self.0, at),
                    V::Int(n) => ffi::sqlite3_bind_int64(self.0, at, *n),
                    V::Real(x) => ffi::sqlite3_bind_double(self.0, at, *x),
                    V::Text(t) => ffi::sqlite3_bind_text(
                        self.0,
                        at,
                        t.as_ptr().cast(),
                        t.len() as c_int,
                        ffi::SQLITE_STATIC(),
                    ),
                }
            };
            assert_eq!(rc, ffi::SQLITE_OK, "bind");
        }
        // SAFETY: as above; reset and clear leave no pointer into `values` behind.
        unsafe {
            let rc = ffi::sqlite3_step(self.0);
            assert_eq!(rc, ffi::SQLITE_DONE, "step");
            ffi::sqlite3_reset(self.0);
            ffi::sqlite3_clear_bindings(self.0);
        }
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: finalized once, while its connection is open (see `prepare`).
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// A floor case: plain inserts into a store file with some of its schema dropped.
struct Floor {
    // Declared before `conn`, so finalized before it closes.
    trace: Stmt,
    observation: Stmt,
    conn: Connection,
    next_seq: i64,
}

impl Floor {
    fn open(path: &Path, drop: &[&str]) -> Floor {
        drop_store(path);
        let conn = Connection::open(path).expect("open");
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .expect("wal");
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384;
             PRAGMA wal_autocheckpoint = 0;",
        )
        .expect("pragmas");
        for name in drop {
            let kind: String = conn
                .query_row(
                    "SELECT type FROM sqlite_master WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            conn.execute_batch(&format!("DROP {kind} {name}"))
                .expect("drop");
        }
        Floor {
            trace: Stmt::prepare(&conn, INSERT_TRACE),
            observation: Stmt::prepare(&conn, INSERT_OBSERVATION),
            conn,
            next_seq: 1,
        }
    }

    /// Writes `request` in one transaction; the CPU time it took. Never inlined, so that
    /// callgrind can count its instructions alone (`--toggle-collect=insert_floor::Floor::write`).
    #[inline(never)]
    fn write(&mut self, request: &Request) -> Duration {
        let start = cpu_now();
        self.conn.execute_batch("BEGIN").expect("begin");
        for t in &request.traces {
            self.trace.run(t);
        }
        for o in &request.observations {
            self.observation.run(o);
        }
        self.conn.execute_batch("COMMIT").expect("commit");
        let spent = cpu_now() - start;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        spent
    }
}

/// Makes the store file at `path` with today's schema, and closes it.
fn drop_store(path: &Path) {
    drop(StoreExporter::open(path).expect("store"));
}

/// The schema's secondary indexes and triggers on `traces` and `observations`, from a
/// fresh store: what the `floor-no-NAME` cases drop one at a time.
fn extras(dir: &Path) -> Vec<(String, String)> {
    let path = dir.join("schema.db");
    drop_store(&path);
    let conn = Connection::open(&path).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT type, name FROM sqlite_master
             WHERE tbl_name IN ('traces', 'observations') AND type IN ('index', 'trigger')
                 AND name NOT LIKE 'sqlite_autoindex%' ORDER BY tbl_name, type, name",
        )
        .expect("list");
    let mut rows = Vec::new();
    for row in stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
    {
        rows.push(row.expect("row"));
    }
    rows
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

enum Case {
    Store(Box<StoreExporter>),
    Floor(Floor),
}

fn main() {
    // `cargo bench` passes `--bench`; a filter is not supported.
    if std::env::var_os("NO_MEMSTATUS").is_some() {
        // SAFETY: before any connection is opened (SQLite is not initialized yet), on the
        // only thread of the process that uses SQLite.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
        assert_eq!(rc, ffi::SQLITE_OK, "SQLITE_CONFIG_MEMSTATUS");
        println!("SQLite's memory statistics off (NO_MEMSTATUS)");
    }
    let rounds = env("ROUNDS", 15);
    let per_round = env("REQUESTS", 8);
    let dir = tempfile::tempdir().expect("tempdir");
    let extras = extras(dir.path());
    let keys = ["traces_id", "observations_trace"];
    let all: Vec<&str> = extras.iter().map(|(_, n)| n.as_str()).collect();
    let optional: Vec<&str> = all.iter().copied().filter(|n| !keys.contains(n)).collect();
    println!("secondary indexes and triggers of traces and observations:");
    for (kind, name) in &extras {
        println!("  {kind} {name}");
    }
    let mut cases: Vec<(String, Case)> = vec![(
        "store".into(),
        Case::Store(Box::new(
            StoreExporter::open(dir.path().join("store.db")).expect("store"),
        )),
    )];
    cases.push((
        "floor".into(),
        Case::Floor(Floor::open(&dir.path().join("floor.db"), &[])),
    ));
    for name in &optional {
        let path = dir.path().join(format!("no-{name}.db"));
        cases.push((
            format!("floor-no-{name}"),
            Case::Floor(Floor::open(&path, &[name])),
        ));
    }
    cases.push((
        "bare".into(),
        Case::Floor(Floor::open(&dir.path().join("bare.db"), &optional)),
    ));
    cases.push((
        "bare-nokeys".into(),
        Case::Floor(Floor::open(&dir.path().join("nokeys.db"), &all)),
    ));
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        // Every case writes the same spans (each its own copy of the stream).
        for ((_, case), samples) in cases.iter_mut().zip(&mut samples) {
            let mut stream = Stream::new(round as u64 + 1);
            let mut spent = Duration::ZERO;
            let mut spans = 0;
            for _ in 0..per_round {
                let batch = stream.batch();
                spans += batch.observations.len();
                spent += match case {
                    Case::Store(store) => {
                        let pieces: Vec<Piece> = complete(&batch);
                        let start = cpu_now();
                        let report = store.write_pieces(Some("bench"), &pieces).expect("write");
                        let spent = cpu_now() - start;
                        assert!(report.refused.is_empty(), "{:?}", report.refused);
                        spent
                    }
                    Case::Floor(floor) => {
                        let request = rows(&batch.observations, &mut floor.next_seq);
                        floor.write(&request)
                    }
                };
            }
            samples.push(spent.as_nanos() as f64 / 1e3 / spans as f64);
        }
    }
    let median = |s: &mut Vec<f64>| {
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let floor = median(&mut samples[1].clone());
    println!(
        "{rounds} rounds of {per_round} requests of {} spans; CPU us per span, median [min, max]:",
        spans::REQUEST
    );
    for ((name, _), s) in cases.iter().zip(&mut samples) {
        let m = median(s);
        println!(
            "  {name:<40} {m:6.2} [{:.2}, {:.2}]  {:+6.2} against floor",
            s[0],
            s[s.len() - 1],
            m - floor
        );
    }
}
