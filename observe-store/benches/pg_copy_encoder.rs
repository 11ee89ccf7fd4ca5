//! The PostgreSQL writer's binary `COPY` encoder (`observe_store::postgres::copy_binary`)
//! beside tokio-postgres's own, `postgres::binary_copy::BinaryCopyInWriter`, on the same
//! rows: 512 observations as the writer sends them (hex ids, names, two timestamps, the
//! nanosecond times, usage and metadata as `jsonb`, a small JSON input and output as `text`,
//! cost, flags), each batch one `COPY` into a temporary table of the store's column types
//! on a real server (started as the tests start theirs, `pg_support`).
//!
//! What is timed is the client's side only: this thread's time on a CPU
//! (`/proc/thread-self/schedstat`) from the first field encoded to the end of the `COPY`
//! (the synchronous client drives its connection on the calling thread, so sending is
//! counted; waiting for the server is not). Before timing, both encoders fill a table each
//! and the bench checks the two tables hold the same rows, so the two do the same work.
//!
//! Run: `cargo bench -p observe-store --features postgres --bench pg_copy_encoder`
//! (criterion's "time" is CPU time per batch of 512 here).

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

#[path = "support/cpu_time.rs"]
mod cpu_time;

use std::error::Error;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observe_model::model::Timestamp;
use observe_store::postgres::copy_binary::BinaryRows;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, Statement};

use cpu_time::cpu_now;

/// Rows per `COPY`: the writer's batch.
const BATCH: usize = 512;

/// The columns, of the store's `observations` types.
const COLUMNS: &str = "id, trace_id, parent_observation_id, type, name, level, start_time,
    end_time, start_ns, end_ns, usage_details, calculated_total_cost, input, output, metadata,
    prompt_version, cost_computed";

const TABLE: &str = "(id text NOT NULL, trace_id text NOT NULL, parent_observation_id text,
    type text NOT NULL, name text NOT NULL, level text NOT NULL, start_time timestamptz,
    end_time timestamptz, start_ns bigint NOT NULL, end_ns bigint NOT NULL,
    usage_details jsonb, calculated_total_cost double precision NOT NULL, input text,
    output text, metadata jsonb, prompt_version integer, cost_computed boolean NOT NULL)";

/// One observation's values, owned, built before the clock starts.
struct Row {
    id: String,
    trace_id: String,
    parent: Option<String>,
    kind: &'static str,
    name: String,
    start: Timestamp,
    end: Timestamp,
    usage: Option<String>,
    cost: f64,
    input: String,
    output: String,
    metadata: String,
    prompt_version: Option<i32>,
}

/// Observations like the store benches' stream: traces of seven, one span in four a
/// generation with usage and cost.
fn rows() -> Vec<Row> {
    (0..BATCH)
        .map(|n| {
            let trace = n / 7;
            let start = Timestamp(1_765_000_000_000_000_000 + n as u64 * 1_000_123);
            let generation = n % 4 == 3;
            Row {
                id: format!(
                    "{:016x}",
                    0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n as u64 + 1)
                ),
                trace_id: format!("{:032x}", 0x2545_f491_4f6c_dd1du128 * (trace as u128 + 1)),
                parent: (n % 7 != 0).then(|| format!("{:016x}", trace * 7 + 1)),
                kind: if generation { "GENERATION" } else { "SPAN" },
                name: format!("step-{}", n % 7),
                start,
                end: Timestamp(start.0 + 734_567),
                usage: generation
                    .then(|| format!(r#"{{"input":{},"output":48,"total":{}}}"#, n, n + 48)),
                cost: if generation {
                    0.000_123 * n as f64
                } else {
                    0.0
                },
                input: format!(r#"{{"query":"what is in document {n}?","k":5}}"#),
                output: format!(r#"{{"answer":"document {n} holds the figures","score":0.{n}}}"#),
                metadata: format!(r#"{{"analysis_id":"a{n}","content_length":{}}}"#, n % 5000),
                prompt_version: generation.then_some(3),
            }
        })
        .collect()
}

/// Our encoder: every field into one buffer, sent whole.
fn copy_ours(client: &mut Client, copy: &Statement, buf: &mut BinaryRows, rows: &[Row]) {
    buf.clear();
    for r in rows {
        buf.ascii(&r.id);
        buf.ascii(&r.trace_id);
        match &r.parent {
            Some(p) => buf.ascii(p),
            None => buf.null(),
        }
        buf.ascii(r.kind);
        buf.text(&r.name);
        buf.ascii("DEFAULT");
        buf.time(r.start);
        buf.time(r.end);
        buf.int(r.start.0 as i64);
        buf.int(r.end.0 as i64);
        buf.opt_json(r.usage.as_deref());
        buf.float(r.cost);
        buf.text(&r.input);
        buf.text(&r.output);
        buf.json(&r.metadata);
        buf.opt_int(r.prompt_version.map(i64::from));
        buf.bool(r.usage.is_some());
        buf.end_row();
    }
    let mut writer = client.copy_in(copy).expect("start the COPY");
    writer.write_all(buf.finish()).expect("send the rows");
    writer.finish().expect("end the COPY");
}

/// JSON text sent as `jsonb`, as the writer holds it (the crate's own `Json` would
/// serialize a value again).
#[derive(Debug)]
struct JsonbText<'a>(&'a str);

impl ToSql for JsonbText<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        // jsonb's binary form: a version byte, then the JSON text.
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(t.0)
}

/// tokio-postgres's encoder: a row of `ToSql` values at a time.
fn copy_crate(client: &mut Client, copy: &Statement, types: &[Type], rows: &[Row]) {
    let writer = client.copy_in(copy).expect("start the COPY");
    let mut writer = BinaryCopyInWriter::new(writer, types);
    for r in rows {
        let (start, end) = (system_time(r.start), system_time(r.end));
        let (start_ns, end_ns) = (r.start.0 as i64, r.end.0 as i64);
        let usage = r.usage.as_deref().map(JsonbText);
        let metadata = JsonbText(&r.metadata);
        let computed = r.usage.is_some();
        writer
            .write(&[
                &r.id,
                &r.trace_id,
                &r.parent,
                &r.kind,
                &r.name,
                &"DEFAULT",
                &start,
                &end,
                &start_ns,
                &end_ns,
                &usage,
                &r.cost,
                &r.input,
                &r.output,
                &metadata,
                &r.prompt_version,
                &computed,
            ])
            .expect("encode a row");
    }
    writer.finish().expect("end the COPY");
}

fn copy_statement(client: &mut Client, table: &str) -> Statement {
    client
        .prepare(&format!(
            "COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .expect("prepare the COPY")
}

fn pg_copy_encoder(c: &mut Criterion) {
    let server = pg_support::PgServer::start();
    let mut client = server.connect();
    // Emptied at each COPY's commit: the server's side stays the same from batch to batch.
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE copy_bench {TABLE} ON COMMIT DELETE ROWS;
             CREATE TEMP TABLE copied_ours {TABLE}; CREATE TEMP TABLE copied_crate {TABLE};"
        ))
        .expect("make the tables");
    let types: Vec<Type> = client
        .prepare(&format!("SELECT {COLUMNS} FROM copy_bench"))
        .expect("read the column types")
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    let rows = rows();
    let mut buf = BinaryRows::new(types.clone());

    let ours = copy_statement(&mut client, "copied_ours");
    copy_ours(&mut client, &ours, &mut buf, &rows);
    let theirs = copy_statement(&mut client, "copied_crate");
    copy_crate(&mut client, &theirs, &types, &rows);
    let differ: i64 = client
        .query_one(
            "SELECT count(*) FROM ((TABLE copied_ours EXCEPT ALL TABLE copied_crate)
                UNION ALL (TABLE copied_crate EXCEPT ALL TABLE copied_ours)) d",
            &[],
        )
        .expect("compare the encoders' rows")
        .get(0);
    assert_eq!(differ, 0, "the two encoders stored different rows");

    let copy = copy_statement(&mut client, "copy_bench");
    let mut group = c.benchmark_group("pg_copy_encoder");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    group.bench_function("binary_rows", |b| {
        b.iter_custom(|iters| {
            let start = cpu_now();
            for _ in 0..iters {
                copy_ours(&mut client, &copy, &mut buf, &rows);
            }
            cpu_now() - start
        })
    });
    group.bench_function("binary_copy_in_writer", |b| {
        b.iter_custom(|iters| {
            let start = cpu_now();
            for _ in 0..iters {
                copy_crate(&mut client, &copy, &types, &rows);
            }
            cpu_now() - start
        })
    });
    group.finish();
}

criterion_group!(benches, pg_copy_encoder);
criterion_main!(benches);
