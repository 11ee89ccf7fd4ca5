//! The insert path: one transaction per batch (or per group of queued batches), statements prepared once, and one trace row
//! written per trace of the batch (not per observation), its latency, cost and count summed
//! here in Rust.
//!
//! A batch is written in three passes. Its observations are grouped by trace (and a
//! repeated observation dropped), and each trace is looked up by id: one that already has a
//! row (it straddles batches, or the batch is retried) keeps its `seq`; a new one gets the
//! next `seq`, above every `seq` any trace or observation of the file holds. The
//! observations are then inserted in batch order, those of new traces many rows to a
//! statement (none of them can be there already), those of known traces one by one, a row
//! already stored being skipped. Last, each trace's row is inserted, or merged with the row
//! there, with the sums of the observations that were stored.
//!
//! No row is left out unseen. A row SQLite refuses (a broken constraint, a value too big)
//! is counted in the [`Refused`] the write returns, with SQLite's reason, and the rest of
//! the batch is written; a trace row refused takes its observations with it, as they would
//! have no trace. Any other failure (I/O, a full disk) rolls the whole batch back.
//!
//! Structured values reach SQLite as the JSON text the runtime already holds
//! ([`Json`](observe_model::model::Json)); nothing is parsed again here. Nothing is allocated per
//! row either: ids, timestamps and the few values that need encoding (metadata, usage,
//! cost, tags) are formatted into buffers the [`Writer`] reuses, and strings are bound in
//! place ([`raw::Statement`]).

use std::collections::{HashMap, HashSet};
use std::mem::ManuallyDrop;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, TransactionBehavior};
use rustc_hash::FxBuildHasher;

use super::raw;
use super::text::{encode, hex, hex_into, nanos, text, write_metadata, TimeText, RFC3339_LEN};
use crate::observation_insert::{insert_observations_sql, OnConflict, OBSERVATION_PARAMS};
use crate::pricing::PriceList;
use crate::write_rules::{computed_cost, is_row_failure, NEXT_SEQ, TRACE_SCALARS};
use observe_model::export::Batch;
use observe_model::model::{Cost, Observation, Score, SpanId, Timestamp, TraceId};

/// Observations per multi-row insert: a statement's fixed cost (opening its cursors,
/// finishing, resetting) is paid once for this many rows.
const CHUNK: usize = 16;

/// Values bound per trace row.
const TRACE_PARAMS: usize = 22;

/// `INSERT INTO traces ... VALUES` and one row of parameters, bound in
/// [`TraceText::values`] order (`seq`, then `computed_cost`, last), then `on_conflict`.
///
/// One row per statement: with many, SQLite would keep a statement journal, as the
/// explicit `seq` could fail its integer check half-way through the rows.
fn insert_trace_sql(on_conflict: &str) -> String {
    format!(
        "INSERT INTO traces (
    id, name, user_id, session_id, timestamp, end_time, start_ns, end_ns, latency_ms,
    calculated_total_cost, observation_count, metadata, tags, version, release,
    environment, public, input, output, has_root, updated_at, seq, computed_cost)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (?8 - ?7) / 1e6, ?9, ?10, ?11, ?12, ?13, ?14,
    ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)
{on_conflict}"
    )
}

const FIND_TRACE: &str = "SELECT seq FROM traces WHERE id = ?1";

/// When the stored row's attributes win over the incoming ones.
const STORED_WINS: &str = "traces.has_root AND NOT excluded.has_root";

/// The merge of a trace row into the stored one: scalars as [`TRACE_SCALARS`] says,
/// metadata by key (the winner's keys on top), tags as a union; times, cost and count
/// from both.
fn upsert_trace_sql() -> String {
    let mut sql = String::from("ON CONFLICT(id) DO UPDATE SET\n");
    for c in TRACE_SCALARS {
        sql.push_str(&format!(
            "    {c} = CASE WHEN {STORED_WINS} THEN COALESCE(traces.{c}, excluded.{c}) \
             ELSE COALESCE(excluded.{c}, traces.{c}) END,\n"
        ));
    }
    sql.push_str(&format!(
        "    metadata = CASE WHEN {STORED_WINS}
        THEN observe_merge_objects(excluded.metadata, traces.metadata)
        ELSE observe_merge_objects(traces.metadata, excluded.metadata) END,
    tags = observe_union_arrays(traces.tags, excluded.tags),
    timestamp = CASE WHEN excluded.start_ns < traces.start_ns
        THEN excluded.timestamp ELSE traces.timestamp END,
    end_time = CASE WHEN excluded.end_ns > traces.end_ns OR traces.end_time IS NULL
        THEN excluded.end_time ELSE traces.end_time END,
    start_ns = MIN(traces.start_ns, excluded.start_ns),
    end_ns = MAX(traces.end_ns, excluded.end_ns),
    latency_ms = (MAX(traces.end_ns, excluded.end_ns) - MIN(traces.start_ns, excluded.start_ns)) / 1e6,
    calculated_total_cost = traces.calculated_total_cost + excluded.calculated_total_cost,
    computed_cost = traces.computed_cost + excluded.computed_cost,
    observation_count = traces.observation_count + excluded.observation_count,
    has_root = MAX(traces.has_root, excluded.has_root),
    updated_at = excluded.updated_at"
    ));
    sql
}

const INSERT_SCORE: &str = "INSERT INTO scores (
    id, trace_id, observation_id, session_id, name, data_type, value, string_value, comment, timestamp)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT(id) DO NOTHING";

/// What some observations of the batch contribute to their trace's row.
struct Sums {
    start: Timestamp,
    end: Timestamp,
    cost: f64,
    /// The part of `cost` computed from usage.
    computed: f64,
    count: i64,
    /// The observation (index in the batch) whose attributes to write: the root if it is
    /// among them, else the latest-ended one (snapshots only grow, so the latest holds the
    /// others).
    attributes: usize,
    attributes_end: Timestamp,
    /// The root, if it is among them.
    root: Option<usize>,
}

impl Sums {
    fn new(index: usize, o: &Observation) -> Self {
        Sums {
            start: o.start,
            end: o.end,
            cost: 0.0,
            computed: 0.0,
            count: 0,
            attributes: index,
            attributes_end: o.end,
            root: None,
        }
    }

    /// Adds the observation at `index`, which belongs to this trace, with the cost computed
    /// for it (if any).
    fn add(&mut self, index: usize, o: &Observation, computed: Option<&Cost>) {
        self.start = self.start.min(o.start);
        self.end = self.end.max(o.end);
        match computed {
            Some(c) => {
                self.cost += c.total();
                self.computed += c.total();
            }
            None => self.cost += o.total_cost(),
        }
        self.count += 1;
        if o.is_root() {
            self.root = Some(index);
            self.attributes = index;
        } else if self.root.is_none() && o.end >= self.attributes_end {
            self.attributes = index;
            self.attributes_end = o.end;
        }
    }
}

/// Marks the end of a list in [`Plan`].
const NONE: u32 = u32::MAX;

/// One trace of the batch.
struct TraceEntry {
    id: TraceId,
    /// Where `id` in hex, as stored, is in [`Plan::ids`].
    hex_at: usize,
    /// Its observations, as a list through [`Plan::next`], in batch order.
    first: u32,
    last: u32,
    /// Its row's `seq`, once known.
    seq: i64,
    /// Whether its row was there before this batch.
    existed: bool,
    /// Whether its row could not be written (its observations are refused with it).
    refused: bool,
}

/// How one batch is written; kept between batches to reuse its memory.
#[derive(Default)]
struct Plan {
    traces: Vec<TraceEntry>,
    /// The traces' ids in hex, one after another.
    ids: String,
    /// Where each trace's entry is...
    by_id: HashMap<TraceId, u32, FxBuildHasher>,
    /// ...and the entries in trace-id order, so that the trace rows are visited front to
    /// back.
    order: Vec<u32>,
    /// For each observation of the batch, its trace's entry, or [`NONE`] when the batch
    /// already holds the same observation.
    slot: Vec<u32>,
    /// For each observation, the next one of its trace, or [`NONE`].
    next: Vec<u32>,
    /// For each observation, whether it was stored (not already there).
    inserted: Vec<bool>,
    /// Observations seen in the batch.
    seen: HashSet<(TraceId, SpanId), FxBuildHasher>,
    /// Observations to merge into a row already stored (by an earlier batch, or earlier in
    /// this one), with their trace's entry.
    merges: Vec<(usize, u32)>,
    /// For each observation, the cost computed from its usage when it has usage, a model
    /// the price list knows, and no cost given.
    priced: Vec<Option<Cost>>,
}

impl Plan {
    /// Groups the batch's observations by trace.
    fn build(&mut self, batch: &Batch, prices: &PriceList) {
        self.traces.clear();
        self.ids.clear();
        self.by_id.clear();
        self.order.clear();
        self.slot.clear();
        self.next.clear();
        self.inserted.clear();
        self.seen.clear();
        self.merges.clear();
        self.priced.clear();
        self.priced.extend(
            batch
                .observations
                .iter()
                .map(|o| computed_cost(o.details.as_deref()?, prices)),
        );
        let n = batch.observations.len();
        self.next.resize(n, NONE);
        self.inserted.resize(n, false);
        for (i, o) in batch.observations.iter().enumerate() {
            if !self.seen.insert((o.trace_id, o.id)) {
                self.slot.push(NONE);
                if let Some(&slot) = self.by_id.get(&o.trace_id) {
                    self.merges.push((i, slot));
                }
                continue;
            }
            // A batch holds fewer than u32::MAX observations (the pipeline's batches hold
            // hundreds).
            let at = i as u32;
            let traces = &mut self.traces;
            let ids = &mut self.ids;
            let slot = *self.by_id.entry(o.trace_id).or_insert_with(|| {
                let mut hex_id = [0; 32];
                let hex_at = ids.len();
                ids.push_str(hex(o.trace_id.0, &mut hex_id));
                traces.push(TraceEntry {
                    id: o.trace_id,
                    hex_at,
                    first: at,
                    last: NONE,
                    seq: 0,
                    existed: false,
                    refused: false,
                });
                (traces.len() - 1) as u32
            });
            self.slot.push(slot);
            if let Some(entry) = self.traces.get_mut(slot as usize) {
                if let Some(prev) = self.next.get_mut(entry.last as usize) {
                    *prev = at;
                }
                entry.last = at;
            }
        }
        self.order.extend(0..self.traces.len() as u32);
        let traces = &self.traces;
        self.order
            .sort_unstable_by_key(|&t| traces.get(t as usize).map(|e| e.id));
    }

    /// The trace entry of observation `i`; `None` for a repeat within the batch.
    fn entry_of(&self, i: usize) -> Option<&TraceEntry> {
        self.slot.get(i).and_then(|&t| self.traces.get(t as usize))
    }

    /// Records whether observation `i` was stored by this batch.
    fn set_inserted(&mut self, i: usize, stored: bool) {
        if let Some(flag) = self.inserted.get_mut(i) {
            *flag = stored;
        }
    }

    /// The cost computed for observation `i`, if any.
    fn computed(&self, i: usize) -> Option<&Cost> {
        self.priced.get(i).and_then(Option::as_ref)
    }

    /// The trace's id in hex.
    fn hex(&self, entry: &TraceEntry) -> &str {
        self.ids
            .get(entry.hex_at..entry.hex_at + 32)
            .unwrap_or_default()
    }

    /// The sums of the trace's observations (only those stored by this batch when
    /// `stored_only`); `None` when there are none.
    fn sums(&self, batch: &Batch, entry: &TraceEntry, stored_only: bool) -> Option<Sums> {
        let mut sums: Option<Sums> = None;
        let mut at = entry.first;
        while let Some(o) = batch.observations.get(at as usize) {
            let i = at as usize;
            if !stored_only || self.inserted.get(i).copied().unwrap_or(false) {
                sums.get_or_insert_with(|| Sums::new(i, o))
                    .add(i, o, self.computed(i));
            }
            at = self.next.get(i).copied().unwrap_or(NONE);
        }
        sums
    }
}

/// Registers the merge functions the trace upsert uses.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("observe_merge_objects", 2, flags, |ctx| {
        Ok(merge_objects(
            arg_text(ctx.get_raw(0)),
            arg_text(ctx.get_raw(1)),
        ))
    })?;
    conn.create_scalar_function("observe_union_arrays", 2, flags, |ctx| {
        Ok(union_arrays(
            arg_text(ctx.get_raw(0)),
            arg_text(ctx.get_raw(1)),
        ))
    })
}

/// A function argument as text, without copying it; anything else is `None`.
fn arg_text(value: ValueRef<'_>) -> Option<&str> {
    match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// Top-level keys of `overlay` replace those of `base`; text that is not a JSON object
/// counts as empty.
fn merge_objects(base: Option<&str>, overlay: Option<&str>) -> String {
    use serde_json::{Map, Value};
    let parse = |text: Option<&str>| match text.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    let mut merged = parse(base);
    merged.extend(parse(overlay));
    Value::Object(merged).to_string()
}

/// The union of two JSON arrays, first-seen order.
fn union_arrays(first: Option<&str>, second: Option<&str>) -> String {
    use serde_json::Value;
    let parse = |text: Option<&str>| match text.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Array(items))) => items,
        _ => Vec::new(),
    };
    let mut items = parse(first);
    for item in parse(second) {
        if !items.contains(&item) {
            items.push(item);
        }
    }
    Value::Array(items).to_string()
}

/// Rows of a batch the store could not write, and why the first could not. The rest of the
/// batch is written; the exporter reports these as refused, so they are counted, not lost.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Refused {
    /// Records (observations and scores) not stored.
    pub(crate) records: usize,
    /// SQLite's reason for the first.
    pub(crate) first_reason: Option<String>,
}

impl Refused {
    fn add(&mut self, records: usize, what: &str, reason: &rusqlite::Error) {
        self.records += records;
        if self.first_reason.is_none() {
            self.first_reason = Some(format!("{what}: {reason}"));
        }
    }
}

/// `Ok(Some(n))` for `n` rows stored, `Ok(None)` for a row refused (added to `refused`), the
/// error for any other failure.
fn row_result(
    result: rusqlite::Result<usize>,
    refused: &mut Refused,
    what: &str,
) -> rusqlite::Result<Option<usize>> {
    match result {
        Ok(n) => Ok(Some(n)),
        Err(e) if is_row_failure(&e) => {
            refused.add(1, what, &e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Writes batches into one connection, which it owns together with its statements.
pub(crate) struct Writer {
    /// Holds the [`raw::Statement`]s prepared on `conn`; finalized by `Writer`'s `Drop`,
    /// before `conn` closes, as [`raw::Statement::prepare`] requires.
    batch: ManuallyDrop<BatchWriter>,
    conn: Connection,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: `batch` is dropped once, here, and never used again: `self` is being
        // dropped. Its statements are finalized while `conn` is still open (a field is
        // dropped only after this function returns).
        unsafe { ManuallyDrop::drop(&mut self.batch) };
    }
}

/// The statements and the reused buffers of the insert path.
struct BatchWriter {
    statements: Statements,
    plan: Plan,
    /// Formatted values of the observations being bound...
    rows: Vec<RowText>,
    /// ...and of a trace row.
    trace_row: TraceText,
    clock: TimeText,
    /// Prices generations that have usage and no cost.
    prices: std::sync::Arc<PriceList>,
}

/// The statements, bound without copies.
struct Statements {
    /// [`CHUNK`] observations of new traces.
    insert_chunk: raw::Statement,
    /// One observation, skipped if it is there already.
    insert_one: raw::Statement,
    /// A trace row, skipped if its trace has a row already.
    insert_trace: raw::Statement,
    find_trace: raw::Statement,
    next_seq: raw::Statement,
    /// A trace row merged into the one there.
    merge_trace: raw::Statement,
}

impl Writer {
    /// Takes over `conn`, whose schema is current, and prepares the statements; `prices`
    /// prices generations that have usage and no cost.
    pub(crate) fn new(
        conn: Connection,
        prices: std::sync::Arc<PriceList>,
    ) -> rusqlite::Result<Self> {
        register_functions(&conn)?;
        // Room for the statements of pieces (`pieces/`) beside the batch path's own.
        conn.set_prepared_statement_cache_capacity(32);
        let merge_trace = insert_trace_sql(&upsert_trace_sql());
        let observations = |rows, conflict| insert_observations_sql(rows, conflict);
        // SAFETY: the statements live in the returned `Writer`, whose `Drop` finalizes them
        // before its connection is closed.
        let statements = unsafe {
            Statements {
                insert_chunk: raw::Statement::prepare(
                    &conn,
                    &observations(CHUNK, OnConflict::IgnoreChecked),
                )?,
                insert_one: raw::Statement::prepare(
                    &conn,
                    &observations(1, OnConflict::SkipStored),
                )?,
                insert_trace: raw::Statement::prepare(
                    &conn,
                    &insert_trace_sql("ON CONFLICT(id) DO NOTHING"),
                )?,
                find_trace: raw::Statement::prepare(&conn, FIND_TRACE)?,
                next_seq: raw::Statement::prepare(&conn, NEXT_SEQ)?,
                merge_trace: raw::Statement::prepare(&conn, &merge_trace)?,
            }
        };
        Ok(Writer {
            batch: ManuallyDrop::new(BatchWriter {
                statements,
                plan: Plan::default(),
                rows: (0..CHUNK).map(|_| RowText::default()).collect(),
                trace_row: TraceText::default(),
                clock: TimeText::default(),
                prices,
            }),
            conn,
        })
    }

    /// Replaces the price list.
    pub(crate) fn set_prices(&mut self, prices: std::sync::Arc<PriceList>) {
        self.batch.prices = prices;
    }

    /// Runs `f` in one transaction on the writer's connection, with its price list;
    /// commits when `f` returns `Ok`, rolls back otherwise.
    pub(crate) fn with_transaction<T>(
        &mut self,
        f: impl FnOnce(&Connection, &PriceList) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx, &self.batch.prices)?;
        tx.commit()?;
        Ok(out)
    }

    /// Writes a whole batch in one transaction: every row, less those refused (counted in
    /// the result, with the first reason); nothing of it on error.
    pub(crate) fn write(&mut self, batch: &Batch) -> rusqlite::Result<Refused> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let refused = self.batch.write(batch, &tx)?;
        tx.commit()?;
        Ok(refused)
    }

    /// Writes several batches in one transaction, each as [`Writer::write`] would: the
    /// commit's fixed cost (the WAL frames of the indexes' pages each commit rewrites) is
    /// paid once for all of them. The rows refused in all are summed; nothing of any of
    /// them on error.
    pub(crate) fn write_many(&mut self, batches: &[&Batch]) -> rusqlite::Result<Refused> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut refused = Refused::default();
        for batch in batches {
            let more = self.batch.write(batch, &tx)?;
            refused.records += more.records;
            if refused.first_reason.is_none() {
                refused.first_reason = more.first_reason;
            }
        }
        tx.commit()?;
        Ok(refused)
    }
}

impl BatchWriter {
    fn write(&mut self, batch: &Batch, conn: &Connection) -> rusqlite::Result<Refused> {
        self.plan.build(batch, &self.prices);
        let mut now = [0u8; RFC3339_LEN];
        let now = Timestamp::now().write_rfc3339(&mut now);
        let mut refused = Refused::default();
        self.insert_traces(batch, now, &mut refused)?;
        self.insert_observations(batch, &mut refused)?;
        self.merge_traces(batch, now)?;
        self.merge_observations(batch, conn)?;
        insert_scores(conn, &batch.scores, &mut refused)?;
        Ok(refused)
    }

    /// Step 1: a row for each new trace, with all its observations (none of them can be
    /// stored yet); a trace that has a row keeps it, and its `seq`.
    ///
    /// New traces are numbered in the order the batch first names them, so that their
    /// observations, inserted in batch order, append to the index in order; their rows are
    /// inserted in id order, which walks the id index front to back.
    fn insert_traces(
        &mut self,
        batch: &Batch,
        now: &str,
        refused: &mut Refused,
    ) -> rusqlite::Result<()> {
        if self.plan.traces.is_empty() {
            return Ok(());
        }
        let first = self.statements.next_seq.query_i64(&[])?.unwrap_or(1);
        let plan = &mut self.plan;
        for &t in &plan.order {
            let Some(entry) = plan.traces.get(t as usize) else {
                continue;
            };
            let placed = first + i64::from(t);
            let outcome = insert_trace(
                &mut self.statements,
                plan,
                &mut self.trace_row,
                &mut self.clock,
                batch,
                entry,
                placed,
                now,
            );
            let seq = match outcome {
                Ok(seq) => Some(seq),
                Err(e) if is_row_failure(&e) => {
                    // Its observations would have no trace: they are refused with it.
                    let count = plan.sums(batch, entry, false).map_or(0, |s| s.count);
                    refused.add(count as usize, "trace row", &e);
                    None
                }
                Err(e) => return Err(e),
            };
            if let Some(entry) = plan.traces.get_mut(t as usize) {
                entry.refused = seq.is_none();
                entry.existed = seq.is_some_and(|seq| seq != placed);
                entry.seq = seq.unwrap_or(0);
            }
        }
        Ok(())
    }

    /// Step 2: the observations, in batch order; those of new traces [`CHUNK`] rows to a
    /// statement, those of known traces one by one, a row already stored being skipped.
    fn insert_observations(
        &mut self,
        batch: &Batch,
        refused: &mut Refused,
    ) -> rusqlite::Result<()> {
        let mut pending = [0usize; CHUNK];
        let mut waiting = 0;
        for i in 0..batch.observations.len() {
            let Some(entry) = self.plan.entry_of(i) else {
                continue; // the batch holds it twice
            };
            if entry.refused {
                continue; // counted with its trace
            }
            if entry.existed {
                // It may be stored already: stored now only if the insert changed a row;
                // else it merges into the row there.
                let stored = self.insert_one(batch, i, refused)?;
                self.plan.set_inserted(i, stored == Some(1));
                if stored == Some(0) {
                    if let Some(&slot) = self.plan.slot.get(i) {
                        self.plan.merges.push((i, slot));
                    }
                }
                continue;
            }
            // A new trace's: it cannot be there.
            if let Some(slot) = pending.get_mut(waiting) {
                *slot = i;
                waiting += 1;
            }
            if waiting == CHUNK {
                self.insert_new(batch, &pending, refused)?;
                waiting = 0;
            }
        }
        self.insert_each(batch, pending.get(..waiting).unwrap_or_default(), refused)
    }

    /// Inserts the observations of new traces at `pending` with one statement; when it did
    /// not store them all, inserts them again one by one (those stored are skipped), so that
    /// the ones that cannot be stored are refused with their reason.
    fn insert_new(
        &mut self,
        batch: &Batch,
        pending: &[usize; CHUNK],
        refused: &mut Refused,
    ) -> rusqlite::Result<()> {
        let outcome = insert_chunk(
            &mut self.statements.insert_chunk,
            &mut self.rows,
            &mut self.clock,
            batch,
            &self.plan,
            pending,
        );
        match outcome {
            Ok(CHUNK) => {
                for &i in pending {
                    self.plan.set_inserted(i, true);
                }
                Ok(())
            }
            // Fewer rows stored, or one refused and the statement undone (a trigger's
            // `RAISE(ABORT)`): row by row, the refused ones say why.
            Ok(_) => self.insert_each(batch, pending, refused),
            Err(e) if is_row_failure(&e) => self.insert_each(batch, pending, refused),
            Err(e) => Err(e),
        }
    }

    fn insert_each(
        &mut self,
        batch: &Batch,
        pending: &[usize],
        refused: &mut Refused,
    ) -> rusqlite::Result<()> {
        for &i in pending {
            let stored = self.insert_one(batch, i, refused)?;
            self.plan.set_inserted(i, stored.is_some());
        }
        Ok(())
    }

    /// Inserts observation `i` alone: `Some(rows stored)` (0 when it was there already), or
    /// `None` when refused.
    fn insert_one(
        &mut self,
        batch: &Batch,
        i: usize,
        refused: &mut Refused,
    ) -> rusqlite::Result<Option<usize>> {
        let (Some(o), Some(entry), Some(row)) = (
            batch.observations.get(i),
            self.plan.entry_of(i),
            self.rows.first_mut(),
        ) else {
            return Ok(Some(0));
        };
        let result = row.insert(
            &mut self.statements.insert_one,
            &mut self.clock,
            o,
            self.plan.computed(i),
            self.plan.hex(entry),
            entry.seq,
        );
        row_result(result, refused, "observation")
    }

    /// Step 3: traces that had a row merge in what this batch stored (a retried batch
    /// stores nothing).
    fn merge_traces(&mut self, batch: &Batch, now: &str) -> rusqlite::Result<()> {
        let plan = &self.plan;
        for &t in &plan.order {
            let Some(entry) = plan.traces.get(t as usize).filter(|e| e.existed) else {
                continue;
            };
            let row = &mut self.trace_row;
            if let Some(sums) = plan.sums(batch, entry, true) {
                row.format(batch, &sums, &mut self.clock);
                let mut values = [raw::Value::Null; TRACE_PARAMS];
                row.values(batch, plan.hex(entry), &sums, now, None, &mut values);
                self.statements.merge_trace.execute(&values)?;
            }
        }
        Ok(())
    }
}

impl BatchWriter {
    /// Step 4: observations already stored merge into their row (the fields they give
    /// replace the stored ones), and their traces' totals are counted again, so a merged
    /// observation counts once. A retried batch comes here; a live one seldom does.
    fn merge_observations(&mut self, batch: &Batch, conn: &Connection) -> rusqlite::Result<()> {
        if self.plan.merges.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let mut traces = Vec::new();
        for &(i, slot) in &self.plan.merges {
            let (Some(o), Some(entry)) = (
                batch.observations.get(i),
                self.plan.traces.get(slot as usize),
            ) else {
                continue;
            };
            if entry.refused {
                continue;
            }
            let trace_id = self.plan.hex(entry);
            crate::pieces::merge_observation(conn, trace_id, entry.seq, o, &self.prices, now)?;
            if !traces.contains(&entry.seq) {
                traces.push(entry.seq);
            }
        }
        for seq in traces {
            crate::pieces::refresh_trace(conn, seq)?;
        }
        Ok(())
    }
}

/// Inserts the scores; one already stored (a retried batch) is skipped.
fn insert_scores(
    conn: &Connection,
    scores: &[Box<Score>],
    refused: &mut Refused,
) -> rusqlite::Result<()> {
    if scores.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(INSERT_SCORE)?;
    for s in scores {
        row_result(insert_score(&mut insert, s), refused, "score")?;
    }
    Ok(())
}

/// Inserts the row of the trace `entry`, with all its observations of the batch, as
/// `seq` `next` (free), unless its trace has a row already; returns the `seq` of its row.
#[allow(clippy::too_many_arguments)]
fn insert_trace(
    statements: &mut Statements,
    plan: &Plan,
    row: &mut TraceText,
    clock: &mut TimeText,
    batch: &Batch,
    entry: &TraceEntry,
    next: i64,
    now: &str,
) -> rusqlite::Result<i64> {
    let id = plan.hex(entry);
    if let Some(sums) = plan.sums(batch, entry, false) {
        row.format(batch, &sums, clock);
        let mut values = [raw::Value::Null; TRACE_PARAMS];
        row.values(batch, id, &sums, now, Some(next), &mut values);
        if statements.insert_trace.execute(&values)? == 1 {
            return Ok(next);
        }
    }
    Ok(statements
        .find_trace
        .query_i64(&[id.into()])?
        .unwrap_or(next))
}

/// Inserts the [`CHUNK`] observations at `pending` (of new traces) with one statement;
/// returns the rows stored.
fn insert_chunk(
    stmt: &mut raw::Statement,
    rows: &mut [RowText],
    clock: &mut TimeText,
    batch: &Batch,
    plan: &Plan,
    pending: &[usize; CHUNK],
) -> rusqlite::Result<usize> {
    let observation = |i: usize| Some((&**batch.observations.get(i)?, plan.entry_of(i)?));
    for (row, &i) in rows.iter_mut().zip(pending) {
        if let Some((o, _)) = observation(i) {
            row.format(o, plan.computed(i), clock);
        }
    }
    let mut values = [raw::Value::Null; OBSERVATION_PARAMS * CHUNK];
    for ((row, &i), out) in rows
        .iter()
        .zip(pending)
        .zip(values.chunks_exact_mut(OBSERVATION_PARAMS))
    {
        if let Some((o, entry)) = observation(i) {
            row.values(o, plan.computed(i), plan.hex(entry), entry.seq, out);
        }
    }
    stmt.execute(&values)
}

/// An observation's values that need formatting, in buffers kept while its row is bound.
struct RowText {
    /// Its id, parent id, start, end and completion start, side by side (one UTF-8 check
    /// for all).
    ascii: [u8; ROW_ASCII],
    metadata: String,
    usage: Vec<u8>,
    cost: Vec<u8>,
}

/// Where [`RowText::ascii`] holds what.
const ROW_ID: std::ops::Range<usize> = 0..16;
const ROW_PARENT: std::ops::Range<usize> = 16..32;
const ROW_START: std::ops::Range<usize> = 32..32 + RFC3339_LEN;
const ROW_END: std::ops::Range<usize> = ROW_START.end..ROW_START.end + RFC3339_LEN;
const ROW_COMPLETION: std::ops::Range<usize> = ROW_END.end..ROW_END.end + RFC3339_LEN;
const ROW_ASCII: usize = ROW_COMPLETION.end;

impl Default for RowText {
    fn default() -> Self {
        RowText {
            ascii: [b'0'; ROW_ASCII],
            metadata: String::new(),
            usage: Vec::new(),
            cost: Vec::new(),
        }
    }
}

impl RowText {
    /// Formats what `o` needs formatted; `computed` is the cost computed for it.
    fn format(&mut self, o: &Observation, computed: Option<&Cost>, clock: &mut TimeText) {
        let ascii = &mut self.ascii;
        hex_into(u128::from(o.id.0), &mut ascii[ROW_ID]);
        if let Some(p) = o.parent_id {
            hex_into(u128::from(p.0), &mut ascii[ROW_PARENT]);
        }
        clock.format_into(o.start, &mut ascii[ROW_START]);
        clock.format_into(o.end, &mut ascii[ROW_END]);
        let d = o.details();
        if let Some(t) = d.completion_start_time {
            clock.format_into(t, &mut ascii[ROW_COMPLETION]);
        }
        if !d.metadata.is_empty() {
            write_metadata(&mut self.metadata, &d.metadata);
        }
        self.usage.clear();
        if let Some(u) = &d.usage {
            encode(&mut self.usage, u);
        }
        self.cost.clear();
        if let Some(c) = d.cost.as_ref().or(computed) {
            encode(&mut self.cost, c);
        }
    }

    /// The row's values, in [`insert_observations_sql`] order, into `out` (which has
    /// [`OBSERVATION_PARAMS`] places); after [`RowText::format`] on the same observation.
    fn values<'a>(
        &'a self,
        o: &'a Observation,
        computed: Option<&Cost>,
        trace_id: &'a str,
        trace_seq: i64,
        out: &mut [raw::Value<'a>],
    ) {
        let [id, trace_id_value, parent, kind, name, level, status, start, end, start_ns, end_ns, completion, model, parameters, usage, cost, total_cost, input, output, metadata, prompt_name, prompt_version, version, seq, cost_computed, project] =
            out
        else {
            return;
        };
        let d = o.details();
        // Empty when absent or when encoding failed (no JSON text is empty).
        let json = |buf: &'a [u8]| std::str::from_utf8(buf).ok().filter(|t| !t.is_empty());
        let ascii = text(&self.ascii);
        let part = |range: std::ops::Range<usize>| ascii.get(range).unwrap_or_default();
        *id = part(ROW_ID).into();
        *trace_id_value = trace_id.into();
        *parent = o.parent_id.map(|_| part(ROW_PARENT)).into();
        *kind = super::schema::stored_type(o.kind).into();
        *name = o.name.as_ref().into();
        *level = o.level.as_str().into();
        *status = d.status_message.as_deref().into();
        *start = part(ROW_START).into();
        *end = part(ROW_END).into();
        *start_ns = nanos(o.start).into();
        *end_ns = nanos(o.end).into();
        *completion = d.completion_start_time.map(|_| part(ROW_COMPLETION)).into();
        *model = d.model.as_deref().into();
        *parameters = d.model_parameters.as_ref().map(|j| j.as_str()).into();
        *usage = json(&self.usage).into();
        *cost = json(&self.cost).into();
        *total_cost = computed.map_or_else(|| o.total_cost(), Cost::total).into();
        *input = d.input.as_ref().map(|j| j.as_str()).into();
        *output = d.output.as_ref().map(|j| j.as_str()).into();
        *metadata = (!d.metadata.is_empty())
            .then_some(self.metadata.as_str())
            .into();
        *prompt_name = d.prompt_name.as_deref().into();
        *prompt_version = d.prompt_version.into();
        *version = d.version.as_deref().into();
        *seq = trace_seq.into();
        *cost_computed = (d.cost.is_none() && computed.is_some()).into();
        // The library's own writes belong to no project.
        *project = raw::Value::Null;
    }

    /// Inserts `o` alone with `stmt` (one row of [`insert_observations_sql`]); the rows
    /// it stored (0 when it was there already).
    fn insert(
        &mut self,
        stmt: &mut raw::Statement,
        clock: &mut TimeText,
        o: &Observation,
        computed: Option<&Cost>,
        trace_id: &str,
        trace_seq: i64,
    ) -> rusqlite::Result<usize> {
        self.format(o, computed, clock);
        let mut values = [raw::Value::Null; OBSERVATION_PARAMS];
        self.values(o, computed, trace_id, trace_seq, &mut values);
        stmt.execute(&values)
    }
}

/// A trace row's values that need formatting, in buffers kept while the row is bound.
struct TraceText {
    /// Its start and end, side by side.
    ascii: [u8; 2 * RFC3339_LEN],
    metadata: String,
    tags: Vec<u8>,
}

impl Default for TraceText {
    fn default() -> Self {
        TraceText {
            ascii: [b'0'; 2 * RFC3339_LEN],
            metadata: String::new(),
            tags: Vec::new(),
        }
    }
}

impl TraceText {
    /// Formats what a trace row with `sums` needs formatted.
    fn format(&mut self, batch: &Batch, sums: &Sums, clock: &mut TimeText) {
        let (start, end) = self.ascii.split_at_mut(RFC3339_LEN);
        clock.format_into(sums.start, start);
        clock.format_into(sums.end, end);
        self.metadata.clear();
        self.tags.clear();
        if let Some(source) = batch.observations.get(sums.attributes) {
            let a = &*source.trace;
            write_metadata(&mut self.metadata, &a.metadata);
            encode(&mut self.tags, &a.tags);
        }
    }

    /// The row's values, in [`insert_trace_sql`] order, into `out` (which has
    /// [`TRACE_PARAMS`] places); after [`TraceText::format`] with the same sums. `seq`
    /// `None` lets SQLite pick one.
    #[allow(clippy::too_many_arguments)]
    fn values<'a>(
        &'a self,
        batch: &'a Batch,
        trace_id: &'a str,
        sums: &Sums,
        now: &'a str,
        seq: Option<i64>,
        out: &mut [raw::Value<'a>],
    ) {
        let root = sums.root.and_then(|i| batch.observations.get(i));
        let a = batch.observations.get(sums.attributes).map(|o| &*o.trace);
        let root_details = root.map(|r| r.details());
        let name = a
            .and_then(|a| a.name.as_deref())
            .or_else(|| root.map(|r| r.name.as_ref()));
        let input = a
            .and_then(|a| a.input.as_ref())
            .or_else(|| root_details.and_then(|d| d.input.as_ref()));
        let output = a
            .and_then(|a| a.output.as_ref())
            .or_else(|| root_details.and_then(|d| d.output.as_ref()));
        let metadata = if self.metadata.is_empty() {
            "{}"
        } else {
            self.metadata.as_str()
        };
        let tags = std::str::from_utf8(&self.tags)
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or("[]");
        let ascii = text(&self.ascii);
        let (start, end) = (
            ascii.get(..RFC3339_LEN).unwrap_or_default(),
            ascii.get(RFC3339_LEN..).unwrap_or_default(),
        );
        let row: [raw::Value<'a>; TRACE_PARAMS] = [
            trace_id.into(),
            name.into(),
            a.and_then(|a| a.user_id.as_deref()).into(),
            a.and_then(|a| a.session_id.as_deref()).into(),
            start.into(),
            end.into(),
            nanos(sums.start).into(),
            nanos(sums.end).into(),
            sums.cost.into(),
            sums.count.into(),
            metadata.into(),
            tags.into(),
            a.and_then(|a| a.version.as_deref()).into(),
            a.and_then(|a| a.release.as_deref()).into(),
            a.and_then(|a| a.environment.as_deref()).into(),
            a.and_then(|a| a.public).into(),
            input.map(|j| j.as_str()).into(),
            output.map(|j| j.as_str()).into(),
            root.is_some().into(),
            now.into(),
            seq.into(),
            sums.computed.into(),
        ];
        for (slot, value) in out.iter_mut().zip(row) {
            *slot = value;
        }
    }
}

fn insert_score(stmt: &mut rusqlite::CachedStatement<'_>, s: &Score) -> rusqlite::Result<usize> {
    let mut trace_id = [0u8; 32];
    let mut obs_id = [0u8; 16];
    let mut timestamp = [0u8; RFC3339_LEN];
    let (data_type, value, text) = (
        s.value.data_type(),
        s.value.as_number(),
        s.value.string_value(),
    );
    stmt.execute(params![
        s.id,
        hex(s.trace_id.0, &mut trace_id),
        s.observation_id.map(|o| hex(o.0 as u128, &mut obs_id)),
        s.session_id.as_deref(),
        s.name,
        data_type,
        value,
        text,
        s.comment.as_deref(),
        s.timestamp.write_rfc3339(&mut timestamp),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_objects_by_key_and_arrays_as_union() {
        assert_eq!(
            merge_objects(Some(r#"{"a":1,"b":2}"#), Some(r#"{"b":3,"c":4}"#)),
            r#"{"a":1,"b":3,"c":4}"#
        );
        assert_eq!(merge_objects(None, Some("not json")), "{}");
        assert_eq!(
            union_arrays(Some(r#"["x","y"]"#), Some(r#"["y","z"]"#)),
            r#"["x","y","z"]"#
        );
    }
}
