//! The insert path into PostgreSQL: one transaction per batch, its rows streamed with `COPY`
//! (by statements prepared once per connection).
//!
//! - Trace rows first, one per trace of the batch, staged and upserted in trace-id order
//!   with the SQLite store's merge rules (see [`crate::StoreExporter`]): scalars from the
//!   incoming row unless the stored row holds the root's and the batch has none, metadata
//!   merged by key, tags as a union in first-seen order, `has_root` once set stays set.
//!   Taking the rows' locks in one order is what keeps writers in many processes, upserting
//!   the same traces at once, from deadlocking: a writer waits for the trace locks another
//!   holds, it never holds one that the other waits for. The upsert answers each trace's
//!   `seq` and whether it inserted the row.
//! - Observations of a trace the upsert inserted cannot be stored yet: they are copied
//!   straight into `observations`, and their trace was inserted with the batch's totals
//!   (times, latency, cost, count), so it is written once. Most of a batch goes this way:
//!   staging them and merging them would write each row twice and check each for a
//!   conflict.
//! - Observations of a trace already stored are staged and merged: one already stored (the
//!   batch is retried, or the same observation is sent again) takes the values given and
//!   keeps those absent. The trace's totals are added to from the batch's new rows (a long
//!   trace sent over many batches is not read again at each); when one of them merged into
//!   a stored observation, they are computed again from all its stored observations, so a
//!   retried or overlapping batch never counts twice. Those statements ride with the
//!   `COMMIT` on one round trip.
//!
//! Rows go in `COPY`'s binary format ([`super::copy_binary`]): the server reads each value
//! as it stores it and parses no text.
//!
//! A batch the server refuses for its data (a value out of range, a broken constraint) is
//! written again one record to a transaction, so that only the records refused are left
//! out, and counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{Cost, Observation, Score, SpanId, Timestamp, TraceId};
use postgres::{Client, Statement};
use rustc_hash::FxBuildHasher;

use super::copy_binary::BinaryRows;
use super::share::Share;
use super::write_sql;
use crate::pricing::PriceList;
use crate::text::{encode, hex, nanos, write_metadata};

/// What the observations of one trace in the batch give its row.
struct TraceSums {
    start: Timestamp,
    end: Timestamp,
    /// The observation (index in the batch) whose trace attributes to write: the root if
    /// the batch has it, else the latest-ended one (snapshots only grow).
    attributes: usize,
    root: Option<usize>,
    /// The batch's observations of the trace, their cost, and the part of it computed from
    /// the price list: the stored totals when the trace is new.
    count: i64,
    cost: f64,
    computed: f64,
}

/// An observation of the batch to be written: its index in the batch and the cost computed
/// for it from the price list (worked out once, for its row and its trace's totals).
struct Staged {
    index: usize,
    computed: Option<Cost>,
}

/// A trace of the batch as the upsert left it: its `seq`, and whether the upsert inserted it.
#[derive(Clone, Copy)]
struct Upserted {
    seq: i64,
    inserted: bool,
}

/// Records of a batch the server refused for their data, and its reason for the first.
#[derive(Debug, Default)]
pub(super) struct Refused {
    pub(super) records: usize,
    pub(super) first_reason: Option<String>,
}

/// The statements prepared once per connection: a statement given as text is prepared
/// again at every call, a round trip each, and the upsert would be planned again.
#[derive(Clone)]
struct Prepared {
    copy_traces: Statement,
    copy_observations: Statement,
    copy_new_observations: Statement,
    copy_scores: Statement,
    upsert_traces: Statement,
}

/// Writes batches; kept between batches to reuse its buffers.
pub(super) struct PgWriter {
    prices: Arc<PriceList>,
    /// The merge of staged observations, sent with the `COMMIT` on one round trip only when
    /// there are some (on this loaded path every round trip is a wait for the scheduler).
    merge_observations: String,
    insert_scores: String,
    /// What is sent to end a batch's transaction.
    commit: String,
    prepared: Option<Prepared>,
    traces: BinaryRows,
    /// Observations of traces already stored (merged from staging).
    observations: BinaryRows,
    /// Observations of traces the batch's upsert inserted (copied straight in).
    new_observations: BinaryRows,
    scores: BinaryRows,
    staged: Vec<Staged>,
    upserted: HashMap<TraceId, Upserted, FxBuildHasher>,
    metadata: String,
    json: Vec<u8>,
}

impl PgWriter {
    pub(super) fn new(prices: Arc<PriceList>) -> Self {
        PgWriter {
            prices,
            merge_observations: write_sql::merge_observations(),
            insert_scores: write_sql::insert_scores(),
            commit: String::new(),
            prepared: None,
            traces: BinaryRows::default(),
            observations: BinaryRows::default(),
            new_observations: BinaryRows::default(),
            scores: BinaryRows::default(),
            staged: Vec::new(),
            upserted: HashMap::default(),
            metadata: String::new(),
            json: Vec::new(),
        }
    }

    /// The price list observations without a cost are priced from.
    pub(super) fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// The price list, to share with another writer.
    pub(super) fn prices_arc(&self) -> &Arc<PriceList> {
        &self.prices
    }

    /// Replaces the price list.
    pub(super) fn set_prices(&mut self, prices: Arc<PriceList>) {
        self.prices = prices;
    }

    /// Makes the connection's staging tables, prepares its statements and learns the
    /// types its `COPY` rows must give (once per connection, after migrating).
    pub(super) fn prepare(&mut self, client: &mut Client) -> Result<(), postgres::Error> {
        self.prepared = None;
        client.batch_execute(&write_sql::staging())?;
        let mut rows_for = |(table, columns): (&str, &str)| {
            let statement = client.prepare(&write_sql::column_types(table, columns))?;
            let types = statement.columns().iter().map(|c| c.type_().clone());
            Ok::<_, postgres::Error>(BinaryRows::new(types.collect()))
        };
        self.traces = rows_for(write_sql::STAGED_TRACES)?;
        self.observations = rows_for(write_sql::STAGED_OBSERVATIONS)?;
        self.new_observations = rows_for(write_sql::NEW_OBSERVATIONS)?;
        self.scores = rows_for(write_sql::STAGED_SCORES)?;
        self.prepared = Some(Prepared {
            copy_traces: client.prepare(&write_sql::copy_traces())?,
            copy_observations: client.prepare(&write_sql::copy_observations())?,
            copy_new_observations: client.prepare(&write_sql::copy_new_observations())?,
            copy_scores: client.prepare(&write_sql::copy_scores())?,
            upsert_traces: client.prepare(&write_sql::upsert_traces())?,
        });
        Ok(())
    }

    /// Writes the records of the batch `share` takes in one transaction. When the server
    /// refuses their data, writes them again record by record and returns those refused;
    /// any other failure is returned with nothing of them written.
    pub(super) fn write(
        &mut self,
        client: &mut Client,
        batch: &Batch,
        share: Share<'_>,
    ) -> Result<Refused, postgres::Error> {
        match self.write_all(client, batch, share) {
            Ok(()) => Ok(Refused::default()),
            Err(e) if is_data_error(&e) => self.write_each(client, batch, share),
            Err(e) => Err(e),
        }
    }

    fn write_each(
        &mut self,
        client: &mut Client,
        batch: &Batch,
        share: Share<'_>,
    ) -> Result<Refused, postgres::Error> {
        let mut refused = Refused::default();
        let singles = batch
            .observations
            .iter()
            .filter(|o| share.takes(o.trace_id))
            .map(|o| Batch {
                observations: vec![o.clone()],
                scores: Vec::new(),
            })
            .chain(
                batch
                    .scores
                    .iter()
                    .filter(|s| share.takes(s.trace_id))
                    .map(|s| Batch {
                        observations: Vec::new(),
                        scores: vec![s.clone()],
                    }),
            );
        for single in singles {
            match self.write_all(client, &single, Share::ALL) {
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

    fn write_all(
        &mut self,
        client: &mut Client,
        batch: &Batch,
        share: Share<'_>,
    ) -> Result<(), postgres::Error> {
        let prepared = match &self.prepared {
            Some(p) => p.clone(),
            None => {
                self.prepare(client)?;
                match &self.prepared {
                    Some(p) => p.clone(),
                    None => return Ok(()),
                }
            }
        };
        self.stage(batch, share);
        client.batch_execute("BEGIN")?;
        let written = self.copy_and_merge(client, &prepared, batch);
        if written.is_err() && !client.is_closed() {
            // The merge failed before its `COMMIT`: the transaction is open and aborted.
            // A failure of the rollback itself shows again on the next use of the connection.
            let _ = client.batch_execute("ROLLBACK");
        }
        written
    }

    /// Upserts the traces, streams the observations and scores and moves those staged,
    /// committing; run inside `BEGIN`.
    fn copy_and_merge(
        &mut self,
        client: &mut Client,
        prepared: &Prepared,
        batch: &Batch,
    ) -> Result<(), postgres::Error> {
        self.upserted.clear();
        if !self.traces.is_empty() {
            copy_in(client, &prepared.copy_traces, &mut self.traces)?;
            for row in client.query(&prepared.upsert_traces, &[])? {
                let id: &str = row.try_get(0)?;
                let upserted = Upserted {
                    seq: row.try_get(1)?,
                    inserted: row.try_get(2)?,
                };
                // Every id was written by `stage_trace` as 32 hex digits.
                if let Ok(id) = u128::from_str_radix(id, 16) {
                    self.upserted.insert(TraceId(id), upserted);
                }
            }
        }
        self.stage_observations(batch);
        for (statement, rows) in [
            (&prepared.copy_new_observations, &mut self.new_observations),
            (&prepared.copy_observations, &mut self.observations),
            (&prepared.copy_scores, &mut self.scores),
        ] {
            if !rows.is_empty() {
                copy_in(client, statement, rows)?;
            }
        }
        self.commit.clear();
        if !self.observations.is_empty() {
            self.commit.push_str(&self.merge_observations);
        }
        if !self.scores.is_empty() {
            self.commit.push_str(&self.insert_scores);
        }
        self.commit.push_str("COMMIT;\n");
        client.batch_execute(&self.commit)
    }

    /// Works out each trace's row and totals and formats the trace and score rows into their
    /// `COPY` buffers; the observations wait for the upsert, which tells where each goes.
    fn stage(&mut self, batch: &Batch, share: Share<'_>) {
        self.traces.clear();
        self.scores.clear();
        self.staged.clear();
        let mut seen: HashSet<(TraceId, SpanId), FxBuildHasher> = HashSet::default();
        let mut traces: BTreeMap<TraceId, TraceSums> = BTreeMap::new();
        for (i, o) in batch.observations.iter().enumerate() {
            if !share.takes(o.trace_id) {
                continue;
            }
            // A repeat within the batch: the first is kept, as the SQLite store does.
            if !seen.insert((o.trace_id, o.id)) {
                continue;
            }
            let computed = o
                .details
                .as_deref()
                .and_then(|d| crate::write_rules::computed_cost(d, &self.prices));
            let cost = observation_cost(o, computed.as_ref());
            let sums = traces.entry(o.trace_id).or_insert(TraceSums {
                start: o.start,
                end: o.end,
                attributes: i,
                root: None,
                count: 0,
                cost: 0.0,
                computed: 0.0,
            });
            let latest = batch
                .observations
                .get(sums.attributes)
                .map_or(Timestamp(0), |a| a.end);
            sums.start = sums.start.min(o.start);
            sums.end = sums.end.max(o.end);
            sums.count += 1;
            sums.cost += cost;
            if cost_computed(o, computed.as_ref()) {
                sums.computed += cost;
            }
            if o.is_root() {
                sums.root = Some(i);
                sums.attributes = i;
            } else if sums.root.is_none() && o.end >= latest {
                sums.attributes = i;
            }
            self.staged.push(Staged { index: i, computed });
        }
        for (id, sums) in &traces {
            self.stage_trace(batch, *id, sums);
        }
        for s in batch.scores.iter().filter(|s| share.takes(s.trace_id)) {
            self.stage_score(s);
        }
    }

    /// Formats the batch's observations: those of traces the upsert inserted to be copied
    /// straight in, the others to be staged and merged.
    fn stage_observations(&mut self, batch: &Batch) {
        self.observations.clear();
        self.new_observations.clear();
        let staged = std::mem::take(&mut self.staged);
        for s in &staged {
            if let Some(o) = batch.observations.get(s.index) {
                let upserted = self.upserted.get(&o.trace_id).copied();
                self.stage_observation(o, s.computed.as_ref(), upserted);
            }
        }
        self.staged = staged;
    }

    fn stage_observation(
        &mut self,
        o: &Observation,
        computed: Option<&Cost>,
        upserted: Option<Upserted>,
    ) {
        let d = o.details();
        let (mut id, mut trace, mut parent) = ([0u8; 16], [0u8; 32], [0u8; 16]);
        let r = match upserted {
            Some(u) if u.inserted => &mut self.new_observations,
            _ => &mut self.observations,
        };
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
        r.time(o.start);
        r.time(o.end);
        r.int(nanos(o.start));
        r.int(nanos(o.end));
        r.opt_time(d.completion_start_time);
        r.opt_text(d.model.as_deref());
        r.opt_json(d.model_parameters.as_ref().map(|j| j.as_str()));
        r.opt_json(d.usage.as_ref().and_then(|u| encode(&mut self.json, u)));
        r.opt_json(
            d.cost
                .as_ref()
                .or(computed)
                .and_then(|c| encode(&mut self.json, c)),
        );
        r.float(observation_cost(o, computed));
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
        r.bool(cost_computed(o, computed));
        // The latency as the server computes it, `(end_ns - start_ns) / 1e6`: both round
        // the exact quotient once, so they agree.
        r.float((nanos(o.end) - nanos(o.start)) as f64 / 1e6);
        match upserted {
            Some(u) => r.int(u.seq),
            None => r.null(),
        }
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
        let mut hex_id = [0u8; 32];
        let metadata = write_metadata(&mut self.metadata, &a.metadata);
        let r = &mut self.traces;
        r.ascii(hex(id.0, &mut hex_id));
        r.opt_text(name);
        r.opt_text(a.user_id.as_deref());
        r.opt_text(a.session_id.as_deref());
        r.time(sums.start);
        r.time(sums.end);
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
        r.float(sums.cost);
        r.float(sums.computed);
        r.int(sums.count);
        r.end_row();
    }

    fn stage_score(&mut self, s: &Score) {
        let (mut trace, mut obs) = ([0u8; 32], [0u8; 16]);
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
        r.time(s.timestamp);
        r.end_row();
    }
}

/// Streams one buffer of rows by a prepared `COPY`.
fn copy_in(
    client: &mut Client,
    statement: &Statement,
    rows: &mut BinaryRows,
) -> Result<(), postgres::Error> {
    let mut copy = client.copy_in(statement)?;
    // An I/O error here is the connection's; `finish` reports it as the server saw it.
    let _ = copy.write_all(rows.finish());
    copy.finish()?;
    Ok(())
}

/// The observation's `calculated_total_cost`: the cost it was given, else the one computed.
fn observation_cost(o: &Observation, computed: Option<&Cost>) -> f64 {
    computed.map_or_else(|| o.total_cost(), Cost::total)
}

/// Whether the observation's cost was computed from the price list (none was given).
fn cost_computed(o: &Observation, computed: Option<&Cost>) -> bool {
    o.details().cost.is_none() && computed.is_some()
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
