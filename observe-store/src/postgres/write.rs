//! The insert path into PostgreSQL: one transaction per batch, its rows streamed with `COPY`
//! into temporary tables (by statements prepared once per connection) and moved into the
//! store's tables by statements sent at once with the `COMMIT`: six round trips a batch.
//!
//! - Trace rows first, one per trace of the batch, upserted in trace-id order with the
//!   SQLite store's merge rules (see [`crate::StoreExporter`]): scalars from the incoming
//!   row unless the stored row holds the root's and the batch has none, metadata merged by
//!   key, tags as a union in first-seen order, `has_root` once set stays set. Taking the
//!   rows' locks in one order is what keeps writers in many processes, upserting the same
//!   traces at once, from deadlocking: a writer waits for the trace locks another holds, it
//!   never holds one that the other waits for.
//! - Observations next, joined to their trace's `seq`; one already stored (the batch is
//!   retried, or the same observation is sent again) is merged: the values given replace the
//!   stored ones, those absent keep them.
//! - Last, the trace's times, latency, cost and count: when all the batch's observations of
//!   the trace are new, its stored totals are added to from those rows alone (a long trace
//!   sent over many batches is not read again at each); when one of them merged into a
//!   stored observation, they are computed again from all its stored observations, so a
//!   retried or overlapping batch never counts twice.
//!
//! A batch the server refuses for its data (a value out of range, a broken constraint) is
//! written again one record to a transaction, so that only the records refused are left
//! out, and counted.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{Cost, Observation, Score, SpanId, Timestamp, TraceId};
use postgres::{Client, Statement};
use rustc_hash::FxBuildHasher;

use super::copy_text::CopyRows;
use crate::pricing::PriceList;
use crate::text::{encode, hex, nanos, write_metadata, TimeText, RFC3339_LEN};
use crate::write_rules::TRACE_SCALARS;

/// The session's staging tables: the store's columns, none of its constraints, emptied at
/// every commit. Made once per connection.
const STAGING: &str = "
CREATE TEMP TABLE IF NOT EXISTS observe_in_traces ON COMMIT DELETE ROWS AS
    SELECT id, name, user_id, session_id, \"timestamp\", end_time, start_ns, end_ns,
        metadata, tags, version, release, environment, public, input, output, has_root
    FROM traces WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS observe_in_observations ON COMMIT DELETE ROWS AS
    SELECT id, trace_id, parent_observation_id, type, name, level, status_message,
        start_time, end_time, start_ns, end_ns, completion_start_time, model,
        model_parameters, usage_details, cost_details, calculated_total_cost, input, output,
        metadata, prompt_name, prompt_version, version, cost_computed
    FROM observations WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS observe_merged_traces (trace_seq bigint)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS observe_in_scores ON COMMIT DELETE ROWS AS
    SELECT id, trace_id, observation_id, session_id, name, data_type, value, string_value,
        comment, \"timestamp\"
    FROM scores WITH NO DATA;
";

const COPY_TRACES: &str = "COPY observe_in_traces FROM STDIN";
const COPY_OBSERVATIONS: &str = "COPY observe_in_observations FROM STDIN";
const COPY_SCORES: &str = "COPY observe_in_scores FROM STDIN";

/// When the stored row's attributes win over the incoming ones.
const STORED_WINS: &str = "t.has_root AND NOT excluded.has_root";

/// The observation's columns a repeated send replaces only when it gives them.
const OBSERVATION_OPTIONAL: [&str; 14] = [
    "parent_observation_id",
    "status_message",
    "completion_start_time",
    "model",
    "model_parameters",
    "usage_details",
    "cost_details",
    "input",
    "output",
    "metadata",
    "prompt_name",
    "prompt_version",
    "version",
    "calculated_total_cost",
];

/// The observation's columns every send holds.
const OBSERVATION_REQUIRED: [&str; 9] = [
    "type",
    "name",
    "level",
    "start_time",
    "end_time",
    "start_ns",
    "end_ns",
    "latency_ms",
    "cost_computed",
];

/// The statements that move the staged rows into the store, sent as one.
fn merge_sql() -> String {
    let mut sql = String::from(
        "INSERT INTO traces AS t (id, name, user_id, session_id, \"timestamp\", end_time,
    start_ns, end_ns, latency_ms, metadata, tags, version, release, environment, public,
    input, output, has_root, updated_at)
SELECT id, name, user_id, session_id, \"timestamp\", end_time, start_ns, end_ns,
    (end_ns - start_ns) / 1e6, metadata, tags, version, release, environment, public,
    input, output, has_root, now()
FROM observe_in_traces ORDER BY id
ON CONFLICT (id) DO UPDATE SET\n",
    );
    for c in TRACE_SCALARS {
        sql.push_str(&format!(
            "    {c} = CASE WHEN {STORED_WINS} THEN COALESCE(t.{c}, excluded.{c}) \
             ELSE COALESCE(excluded.{c}, t.{c}) END,\n"
        ));
    }
    sql.push_str(&format!(
        "    metadata = CASE WHEN {STORED_WINS}
        THEN excluded.metadata || t.metadata ELSE t.metadata || excluded.metadata END,
    tags = ARRAY(SELECT tag FROM unnest(t.tags || excluded.tags) WITH ORDINALITY AS u(tag, n)
        GROUP BY tag ORDER BY min(n)),
    has_root = t.has_root OR excluded.has_root,
    updated_at = excluded.updated_at;
"
    ));
    sql.push_str(
        "WITH moved AS (
INSERT INTO observations AS o (id, trace_id, parent_observation_id, type, name, level,
    status_message, start_time, end_time, start_ns, end_ns, latency_ms, completion_start_time,
    model, model_parameters, usage_details, cost_details, calculated_total_cost, input, output,
    metadata, prompt_name, prompt_version, version, cost_computed, trace_seq)
SELECT i.id, i.trace_id, i.parent_observation_id, i.type, i.name, i.level, i.status_message,
    i.start_time, i.end_time, i.start_ns, i.end_ns, (i.end_ns - i.start_ns) / 1e6,
    i.completion_start_time, i.model, i.model_parameters, i.usage_details, i.cost_details,
    i.calculated_total_cost, i.input, i.output, i.metadata, i.prompt_name, i.prompt_version,
    i.version, i.cost_computed, t.seq
FROM observe_in_observations i JOIN traces t ON t.id = i.trace_id
ORDER BY t.seq, i.id
ON CONFLICT (trace_seq, id) DO UPDATE SET\n",
    );
    for c in OBSERVATION_REQUIRED {
        sql.push_str(&format!("    {c} = excluded.{c},\n"));
    }
    for (n, c) in OBSERVATION_OPTIONAL.iter().enumerate() {
        let tail = if n + 1 == OBSERVATION_OPTIONAL.len() {
            "\n"
        } else {
            ",\n"
        };
        if *c == "calculated_total_cost" {
            // A cost is given with its details; without them the stored cost stays.
            sql.push_str(&format!(
                "    {c} = CASE WHEN excluded.cost_details IS NULL THEN o.{c} ELSE excluded.{c} END{tail}"
            ));
        } else {
            sql.push_str(&format!("    {c} = COALESCE(excluded.{c}, o.{c}){tail}"));
        }
    }
    sql.push_str(
        // `xmax = 0` tells a row inserted from one merged into a stored row.
        "RETURNING o.trace_seq, o.xmax = 0 AS fresh, o.start_time, o.end_time, o.start_ns,
    o.end_ns, o.calculated_total_cost, o.cost_computed),
sums AS (SELECT trace_seq, bool_and(fresh) AS fresh, min(start_time) AS first_start,
        max(end_time) AS last_end, min(start_ns) AS start_ns, max(end_ns) AS end_ns,
        sum(calculated_total_cost) AS cost,
        sum(CASE WHEN cost_computed THEN calculated_total_cost ELSE 0 END) AS computed,
        count(*) AS n
    FROM moved GROUP BY trace_seq),
added AS (UPDATE traces t SET
    \"timestamp\" = CASE WHEN t.observation_count = 0 THEN s.first_start
        ELSE LEAST(t.\"timestamp\", s.first_start) END,
    end_time = CASE WHEN t.observation_count = 0 THEN s.last_end
        ELSE GREATEST(t.end_time, s.last_end) END,
    start_ns = CASE WHEN t.observation_count = 0 THEN s.start_ns
        ELSE LEAST(t.start_ns, s.start_ns) END,
    end_ns = CASE WHEN t.observation_count = 0 THEN s.end_ns
        ELSE GREATEST(t.end_ns, s.end_ns) END,
    latency_ms = (CASE WHEN t.observation_count = 0 THEN s.end_ns
        ELSE GREATEST(t.end_ns, s.end_ns) END
        - CASE WHEN t.observation_count = 0 THEN s.start_ns
        ELSE LEAST(t.start_ns, s.start_ns) END) / 1e6,
    calculated_total_cost = t.calculated_total_cost + s.cost,
    computed_cost = t.computed_cost + s.computed,
    observation_count = t.observation_count + s.n
    FROM sums s WHERE t.seq = s.trace_seq AND s.fresh)
INSERT INTO observe_merged_traces SELECT trace_seq FROM sums WHERE NOT fresh;
UPDATE traces t SET \"timestamp\" = a.first_start, end_time = a.last_end,
    start_ns = a.start_ns, end_ns = a.end_ns, latency_ms = (a.end_ns - a.start_ns) / 1e6,
    calculated_total_cost = a.cost, computed_cost = a.computed, observation_count = a.n
FROM (SELECT o.trace_seq, min(o.start_time) AS first_start, max(o.end_time) AS last_end,
        min(o.start_ns) AS start_ns, max(o.end_ns) AS end_ns,
        sum(o.calculated_total_cost) AS cost,
        sum(CASE WHEN o.cost_computed THEN o.calculated_total_cost ELSE 0 END) AS computed,
        count(*) AS n
    FROM observe_merged_traces m
    JOIN observations o ON o.trace_seq = m.trace_seq
    GROUP BY o.trace_seq) a
WHERE t.seq = a.trace_seq;
INSERT INTO scores (id, trace_id, observation_id, session_id, name, data_type, value,
    string_value, comment, \"timestamp\")
SELECT id, trace_id, observation_id, session_id, name, data_type, value, string_value,
    comment, \"timestamp\"
FROM observe_in_scores ORDER BY id
ON CONFLICT (id) DO NOTHING;
",
    );
    sql
}

/// What the observations of one trace in the batch give its row.
struct TraceSums {
    start: Timestamp,
    end: Timestamp,
    /// The observation (index in the batch) whose trace attributes to write: the root if
    /// the batch has it, else the latest-ended one (snapshots only grow).
    attributes: usize,
    root: Option<usize>,
}

/// Records of a batch the server refused for their data, and its reason for the first.
#[derive(Debug, Default)]
pub(super) struct Refused {
    pub(super) records: usize,
    pub(super) first_reason: Option<String>,
}

/// The `COPY` statements, prepared once per connection: a statement given as text is
/// prepared again at every call, a round trip each.
struct Copies {
    traces: Statement,
    observations: Statement,
    scores: Statement,
}

/// Writes batches; kept between batches to reuse its buffers.
pub(super) struct PgWriter {
    prices: Arc<PriceList>,
    /// The statements moving the staged rows, then `COMMIT`: the commit rides on the same
    /// round trip (on this loaded path every round trip is a wait for the scheduler).
    merge: String,
    copies: Option<Copies>,
    traces: CopyRows,
    observations: CopyRows,
    scores: CopyRows,
    clock: TimeText,
    metadata: String,
    json: Vec<u8>,
}

impl PgWriter {
    pub(super) fn new(prices: Arc<PriceList>) -> Self {
        PgWriter {
            prices,
            merge: merge_sql() + "COMMIT;\n",
            copies: None,
            traces: CopyRows::default(),
            observations: CopyRows::default(),
            scores: CopyRows::default(),
            clock: TimeText::default(),
            metadata: String::new(),
            json: Vec::new(),
        }
    }

    /// The price list observations without a cost are priced from.
    pub(super) fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// Replaces the price list.
    pub(super) fn set_prices(&mut self, prices: Arc<PriceList>) {
        self.prices = prices;
    }

    /// Makes the connection's staging tables and prepares its `COPY` statements (once per
    /// connection, after migrating).
    pub(super) fn prepare(&mut self, client: &mut Client) -> Result<(), postgres::Error> {
        self.copies = None;
        client.batch_execute(STAGING)?;
        self.copies = Some(Copies {
            traces: client.prepare(COPY_TRACES)?,
            observations: client.prepare(COPY_OBSERVATIONS)?,
            scores: client.prepare(COPY_SCORES)?,
        });
        Ok(())
    }

    /// Writes the batch in one transaction. When the server refuses its data, writes it again
    /// record by record and returns those refused; any other failure is returned with
    /// nothing of the batch written.
    pub(super) fn write(
        &mut self,
        client: &mut Client,
        batch: &Batch,
    ) -> Result<Refused, postgres::Error> {
        match self.write_all(client, batch) {
            Ok(()) => Ok(Refused::default()),
            Err(e) if is_data_error(&e) => self.write_each(client, batch),
            Err(e) => Err(e),
        }
    }

    fn write_each(
        &mut self,
        client: &mut Client,
        batch: &Batch,
    ) -> Result<Refused, postgres::Error> {
        let mut refused = Refused::default();
        let singles = batch
            .observations
            .iter()
            .map(|o| Batch {
                observations: vec![o.clone()],
                scores: Vec::new(),
            })
            .chain(batch.scores.iter().map(|s| Batch {
                observations: Vec::new(),
                scores: vec![s.clone()],
            }));
        for single in singles {
            match self.write_all(client, &single) {
                Ok(()) => {}
                Err(e) if is_data_error(&e) => {
                    refused.records += 1;
                    if refused.first_reason.is_none() {
                        refused.first_reason = Some(super::error::describe(&e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(refused)
    }

    fn write_all(&mut self, client: &mut Client, batch: &Batch) -> Result<(), postgres::Error> {
        if self.copies.is_none() {
            self.prepare(client)?;
        }
        self.stage(batch);
        client.batch_execute("BEGIN")?;
        let written = self.copy_and_merge(client);
        if written.is_err() && !client.is_closed() {
            // The merge failed before its `COMMIT`: the transaction is open and aborted.
            // A failure of the rollback itself shows again on the next use of the connection.
            let _ = client.batch_execute("ROLLBACK");
        }
        written
    }

    /// Streams the staged rows and moves them, committing; run inside `BEGIN`.
    fn copy_and_merge(&self, client: &mut Client) -> Result<(), postgres::Error> {
        let Some(copies) = &self.copies else {
            return Ok(());
        };
        for (statement, rows) in [
            (&copies.traces, &self.traces),
            (&copies.observations, &self.observations),
            (&copies.scores, &self.scores),
        ] {
            if rows.bytes().is_empty() {
                continue;
            }
            let mut copy = client.copy_in(statement)?;
            // An I/O error here is the connection's; `finish` reports it as the server saw it.
            let _ = copy.write_all(rows.bytes());
            copy.finish()?;
        }
        client.batch_execute(&self.merge)
    }

    /// Formats the batch's rows into the `COPY` buffers.
    fn stage(&mut self, batch: &Batch) {
        self.traces.clear();
        self.observations.clear();
        self.scores.clear();
        let mut seen: HashSet<(TraceId, SpanId), FxBuildHasher> = HashSet::default();
        let mut traces: BTreeMap<TraceId, TraceSums> = BTreeMap::new();
        for (i, o) in batch.observations.iter().enumerate() {
            // A repeat within the batch: the first is kept, as the SQLite store does.
            if !seen.insert((o.trace_id, o.id)) {
                continue;
            }
            self.stage_observation(o);
            let sums = traces.entry(o.trace_id).or_insert(TraceSums {
                start: o.start,
                end: o.end,
                attributes: i,
                root: None,
            });
            let latest = batch
                .observations
                .get(sums.attributes)
                .map_or(Timestamp(0), |a| a.end);
            sums.start = sums.start.min(o.start);
            sums.end = sums.end.max(o.end);
            if o.is_root() {
                sums.root = Some(i);
                sums.attributes = i;
            } else if sums.root.is_none() && o.end >= latest {
                sums.attributes = i;
            }
        }
        for (id, sums) in &traces {
            self.stage_trace(batch, *id, sums);
        }
        for s in &batch.scores {
            self.stage_score(s);
        }
    }

    fn time<'b>(&mut self, t: Timestamp, buf: &'b mut [u8; RFC3339_LEN]) -> &'b str {
        self.clock.format_into(t, buf);
        std::str::from_utf8(buf).unwrap_or_default()
    }

    fn stage_observation(&mut self, o: &Observation) {
        let d = o.details();
        let computed = o
            .details
            .as_deref()
            .and_then(|d| crate::write_rules::computed_cost(d, &self.prices));
        let (mut id, mut trace, mut parent) = ([0u8; 16], [0u8; 32], [0u8; 16]);
        let (mut start, mut end, mut completion) =
            ([0u8; RFC3339_LEN], [0u8; RFC3339_LEN], [0u8; RFC3339_LEN]);
        let start = self.time(o.start, &mut start);
        let end = self.time(o.end, &mut end);
        let completion = d
            .completion_start_time
            .map(|t| self.time(t, &mut completion));
        let r = &mut self.observations;
        r.ascii(hex(u128::from(o.id.0), &mut id));
        r.ascii(hex(o.trace_id.0, &mut trace));
        match o.parent_id {
            Some(p) => r.ascii(hex(u128::from(p.0), &mut parent)),
            None => r.null(),
        }
        r.ascii(crate::schema::stored_type(o.kind));
        r.text(&o.name);
        r.ascii(o.level.as_str());
        r.opt_text(d.status_message.as_deref());
        r.ascii(start);
        r.ascii(end);
        r.int(nanos(o.start));
        r.int(nanos(o.end));
        match completion {
            Some(c) => r.ascii(c),
            None => r.null(),
        }
        r.opt_text(d.model.as_deref());
        r.opt_json(d.model_parameters.as_ref().map(|j| j.as_str()));
        r.opt_json(d.usage.as_ref().and_then(|u| encode(&mut self.json, u)));
        r.opt_json(
            d.cost
                .as_ref()
                .or(computed.as_ref())
                .and_then(|c| encode(&mut self.json, c)),
        );
        r.float(
            computed
                .as_ref()
                .map_or_else(|| o.total_cost(), Cost::total),
        );
        r.opt_text(d.input.as_ref().map(|j| j.as_str()));
        r.opt_text(d.output.as_ref().map(|j| j.as_str()));
        if d.metadata.is_empty() {
            r.null();
        } else {
            r.json(write_metadata(&mut self.metadata, &d.metadata));
        }
        r.opt_text(d.prompt_name.as_deref());
        r.opt_int(d.prompt_version.and_then(prompt_version));
        r.opt_text(d.version.as_deref());
        r.bool(d.cost.is_none() && computed.is_some());
        r.end_row();
    }

    fn stage_trace(&mut self, batch: &Batch, id: TraceId, sums: &TraceSums) {
        let root = sums.root.and_then(|i| batch.observations.get(i));
        let Some(source) = batch.observations.get(sums.attributes) else {
            return;
        };
        let a = &*source.trace;
        let root_details = root.map(|r| r.details());
        let name = a.name.as_deref().or_else(|| root.map(|r| r.name.as_ref()));
        let input = a
            .input
            .as_ref()
            .or_else(|| root_details.and_then(|d| d.input.as_ref()));
        let output = a
            .output
            .as_ref()
            .or_else(|| root_details.and_then(|d| d.output.as_ref()));
        let (mut hex_id, mut start, mut end) = ([0u8; 32], [0u8; RFC3339_LEN], [0u8; RFC3339_LEN]);
        let start = self.time(sums.start, &mut start);
        let end = self.time(sums.end, &mut end);
        let metadata = write_metadata(&mut self.metadata, &a.metadata);
        let r = &mut self.traces;
        r.ascii(hex(id.0, &mut hex_id));
        r.opt_text(name);
        r.opt_text(a.user_id.as_deref());
        r.opt_text(a.session_id.as_deref());
        r.ascii(start);
        r.ascii(end);
        r.int(nanos(sums.start));
        r.int(nanos(sums.end));
        r.json(metadata);
        r.text_array(&a.tags);
        r.opt_text(a.version.as_deref());
        r.opt_text(a.release.as_deref());
        r.opt_text(a.environment.as_deref());
        r.opt_bool(a.public);
        r.opt_text(input.map(|j| j.as_str()));
        r.opt_text(output.map(|j| j.as_str()));
        r.bool(root.is_some());
        r.end_row();
    }

    fn stage_score(&mut self, s: &Score) {
        let (mut trace, mut obs, mut at) = ([0u8; 32], [0u8; 16], [0u8; RFC3339_LEN]);
        let at = self.time(s.timestamp, &mut at);
        let r = &mut self.scores;
        r.text(&s.id);
        r.ascii(hex(s.trace_id.0, &mut trace));
        match s.observation_id {
            Some(o) => r.ascii(hex(u128::from(o.0), &mut obs)),
            None => r.null(),
        }
        r.opt_text(s.session_id.as_deref());
        r.text(&s.name);
        r.ascii(s.value.data_type());
        match s.value.as_number() {
            Some(v) => r.float(v),
            None => r.null(),
        }
        r.opt_text(s.value.string_value());
        r.opt_text(s.comment.as_deref());
        r.ascii(at);
        r.end_row();
    }
}

/// A prompt version as the `integer` column takes it; one out of its range is dropped with
/// a warning (once), as the record itself is kept.
pub(super) fn prompt_version(v: i64) -> Option<i64> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if i32::try_from(v).is_ok() {
        return Some(v);
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            version = v,
            "observe store (PostgreSQL): a prompt version out of the integer range was left out"
        );
    }
    None
}

/// True when the server refused the statement for the values it was given (SQLSTATE class
/// 22, data exception; 23, integrity constraint violation; 54, a value past a limit, such as
/// a key too long for its index): the records at fault are refused and the rest written.
pub(super) fn is_data_error(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code().get(..2), Some("22" | "23" | "54")))
}
