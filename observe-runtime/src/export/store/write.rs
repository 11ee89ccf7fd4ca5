//! The insert path: one transaction per batch, cached prepared statements, and one trace
//! upsert per trace of the batch (not per observation).
//!
//! Structured values reach SQLite as the JSON text the runtime already holds
//! ([`Json`](crate::model::Json)); nothing is parsed again here.

use std::collections::HashMap;
use std::fmt::Write as _;

use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, TransactionBehavior};

use crate::export::Batch;
use crate::model::{Metadata, Observation, Score, ScoreValue, Timestamp, TraceAttributes, TraceId};

const INSERT_OBSERVATION: &str = "INSERT INTO observations (
    id, trace_id, parent_observation_id, type, name, level, status_message,
    start_time, end_time, start_ns, end_ns, latency_ms, completion_start_time,
    model, model_parameters, usage_details, cost_details, calculated_total_cost,
    input, output, metadata, prompt_name, prompt_version, version)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, (?11 - ?10) / 1e6, ?12,
    ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
ON CONFLICT(id) DO NOTHING";

/// Scalars: the newer snapshot wins unless the row already holds the root's (final) ones
/// and the incoming batch has no root. Metadata merges by key, tags are a union.
const UPSERT_TRACE: &str = "INSERT INTO traces (
    id, name, user_id, session_id, timestamp, end_time, start_ns, end_ns, latency_ms,
    calculated_total_cost, observation_count, metadata, tags, version, release,
    environment, public, input, output, has_root, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (?8 - ?7) / 1e6, ?9, ?10, ?11, ?12, ?13, ?14,
    ?15, ?16, ?17, ?18, ?19, ?20)
ON CONFLICT(id) DO UPDATE SET
    name = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.name, excluded.name) ELSE COALESCE(excluded.name, traces.name) END,
    user_id = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.user_id, excluded.user_id) ELSE COALESCE(excluded.user_id, traces.user_id) END,
    session_id = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.session_id, excluded.session_id) ELSE COALESCE(excluded.session_id, traces.session_id) END,
    version = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.version, excluded.version) ELSE COALESCE(excluded.version, traces.version) END,
    release = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.release, excluded.release) ELSE COALESCE(excluded.release, traces.release) END,
    environment = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.environment, excluded.environment) ELSE COALESCE(excluded.environment, traces.environment) END,
    public = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.public, excluded.public) ELSE COALESCE(excluded.public, traces.public) END,
    input = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.input, excluded.input) ELSE COALESCE(excluded.input, traces.input) END,
    output = CASE WHEN traces.has_root AND NOT excluded.has_root
        THEN COALESCE(traces.output, excluded.output) ELSE COALESCE(excluded.output, traces.output) END,
    metadata = CASE WHEN traces.has_root AND NOT excluded.has_root
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
    observation_count = traces.observation_count + excluded.observation_count,
    has_root = MAX(traces.has_root, excluded.has_root),
    updated_at = excluded.updated_at";

const INSERT_SCORE: &str = "INSERT INTO scores (
    id, trace_id, observation_id, session_id, name, data_type, value, string_value, comment, timestamp)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT(id) DO NOTHING";

/// What one batch contributes to one trace row.
struct TraceAggregate<'a> {
    start: Timestamp,
    end: Timestamp,
    cost: f64,
    count: i64,
    /// The attributes to write: the root's if the batch holds it, else the latest-ended
    /// observation's (snapshots only grow, so the latest holds the others).
    attributes: &'a TraceAttributes,
    attributes_end: Timestamp,
    root: Option<&'a Observation>,
}

/// Registers the merge functions the trace upsert uses.
pub(crate) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("observe_merge_objects", 2, flags, |ctx| {
        let base: Option<String> = ctx.get(0)?;
        let overlay: Option<String> = ctx.get(1)?;
        Ok(merge_objects(base.as_deref(), overlay.as_deref()))
    })?;
    conn.create_scalar_function("observe_union_arrays", 2, flags, |ctx| {
        let first: Option<String> = ctx.get(0)?;
        let second: Option<String> = ctx.get(1)?;
        Ok(union_arrays(first.as_deref(), second.as_deref()))
    })
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

/// Writes batches into one connection.
pub(crate) struct Writer {
    /// Scratch text reused across rows.
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    metadata: String,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer {
            scratch: Scratch::default(),
        }
    }

    /// Writes a whole batch in one transaction; nothing of it is kept on error.
    pub(crate) fn write(&mut self, conn: &mut Connection, batch: &Batch) -> rusqlite::Result<()> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = Timestamp::now().to_rfc3339();
        let mut traces: HashMap<TraceId, TraceAggregate<'_>> = HashMap::new();
        {
            let mut insert = tx.prepare_cached(INSERT_OBSERVATION)?;
            for o in &batch.observations {
                if self.insert_observation(&mut insert, o)? == 0 {
                    continue; // already stored: a retried batch
                }
                aggregate(&mut traces, o);
            }
        }
        {
            let mut upsert = tx.prepare_cached(UPSERT_TRACE)?;
            for (id, agg) in &traces {
                self.upsert_trace(&mut upsert, *id, agg, &now)?;
            }
        }
        if !batch.scores.is_empty() {
            let mut insert = tx.prepare_cached(INSERT_SCORE)?;
            for s in &batch.scores {
                insert_score(&mut insert, s)?;
            }
        }
        tx.commit()
    }

    fn insert_observation(
        &mut self,
        stmt: &mut rusqlite::CachedStatement<'_>,
        o: &Observation,
    ) -> rusqlite::Result<usize> {
        let mut id = [0u8; 16];
        let mut trace_id = [0u8; 32];
        let mut parent = [0u8; 16];
        let d = o.details();
        let metadata = if d.metadata.is_empty() {
            None
        } else {
            write_metadata(&mut self.scratch.metadata, &d.metadata);
            Some(self.scratch.metadata.as_str())
        };
        let usage = d.usage.as_ref().and_then(|u| serde_json::to_string(u).ok());
        let cost = d.cost.as_ref().and_then(|c| serde_json::to_string(c).ok());
        stmt.execute(params![
            hex(o.id.0 as u128, &mut id),
            hex(o.trace_id.0, &mut trace_id),
            o.parent_id.map(|p| hex(p.0 as u128, &mut parent)),
            o.kind.as_str(),
            o.name.as_ref(),
            o.level.as_str(),
            d.status_message.as_deref(),
            o.start.to_rfc3339(),
            o.end.to_rfc3339(),
            nanos(o.start),
            nanos(o.end),
            d.completion_start_time.map(Timestamp::to_rfc3339),
            d.model.as_deref(),
            d.model_parameters.as_ref().map(|j| j.as_str()),
            usage,
            cost,
            o.total_cost(),
            d.input.as_ref().map(|j| j.as_str()),
            d.output.as_ref().map(|j| j.as_str()),
            metadata,
            d.prompt_name.as_deref(),
            d.prompt_version,
            d.version.as_deref(),
        ])
    }

    fn upsert_trace(
        &mut self,
        stmt: &mut rusqlite::CachedStatement<'_>,
        id: TraceId,
        agg: &TraceAggregate<'_>,
        now: &str,
    ) -> rusqlite::Result<usize> {
        let mut hex_id = [0u8; 32];
        let a = agg.attributes;
        let root_details = agg.root.map(|r| r.details());
        let name = a
            .name
            .as_deref()
            .or_else(|| agg.root.map(|r| r.name.as_ref()));
        let input = a
            .input
            .as_ref()
            .or_else(|| root_details.and_then(|d| d.input.as_ref()));
        let output = a
            .output
            .as_ref()
            .or_else(|| root_details.and_then(|d| d.output.as_ref()));
        write_metadata(&mut self.scratch.metadata, &a.metadata);
        let tags = serde_json::to_string(&a.tags).unwrap_or_else(|_| "[]".to_owned());
        stmt.execute(params![
            hex(id.0, &mut hex_id),
            name,
            a.user_id.as_deref(),
            a.session_id.as_deref(),
            agg.start.to_rfc3339(),
            agg.end.to_rfc3339(),
            nanos(agg.start),
            nanos(agg.end),
            agg.cost,
            agg.count,
            self.scratch.metadata.as_str(),
            tags,
            a.version.as_deref(),
            a.release.as_deref(),
            a.environment.as_deref(),
            a.public,
            input.map(|j| j.as_str()),
            output.map(|j| j.as_str()),
            agg.root.is_some(),
            now,
        ])
    }
}

fn aggregate<'a>(traces: &mut HashMap<TraceId, TraceAggregate<'a>>, o: &'a Observation) {
    let agg = traces.entry(o.trace_id).or_insert_with(|| TraceAggregate {
        start: o.start,
        end: o.end,
        cost: 0.0,
        count: 0,
        attributes: &o.trace,
        attributes_end: o.end,
        root: None,
    });
    agg.start = agg.start.min(o.start);
    agg.end = agg.end.max(o.end);
    agg.cost += o.total_cost();
    agg.count += 1;
    if o.is_root() {
        agg.root = Some(o);
        agg.attributes = &o.trace;
    } else if agg.root.is_none() && o.end >= agg.attributes_end {
        agg.attributes = &o.trace;
        agg.attributes_end = o.end;
    }
}

fn insert_score(stmt: &mut rusqlite::CachedStatement<'_>, s: &Score) -> rusqlite::Result<usize> {
    let mut trace_id = [0u8; 32];
    let mut obs_id = [0u8; 16];
    let (data_type, value, text) = match &s.value {
        ScoreValue::Numeric(v) => ("NUMERIC", Some(*v), None),
        ScoreValue::Categorical(c) => ("CATEGORICAL", None, Some(c.as_str())),
        ScoreValue::Boolean(b) => (
            "BOOLEAN",
            Some(if *b { 1.0 } else { 0.0 }),
            Some(if *b { "True" } else { "False" }),
        ),
    };
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
        s.timestamp.to_rfc3339(),
    ])
}

/// Nanoseconds as SQLite's signed integer (saturating; 2262 is far off).
fn nanos(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)
}

/// Lowercase hex of the low `N / 2` bytes of `value`, into `buf`.
fn hex<const N: usize>(value: u128, buf: &mut [u8; N]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        let shift = 4 * (N - 1 - i);
        *b = DIGITS[((value >> shift) & 0xf) as usize];
    }
    // Every byte is an ASCII hex digit.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// The metadata as a JSON object, from the encoded values as they are.
fn write_metadata(out: &mut String, metadata: &Metadata) {
    out.clear();
    out.push('{');
    for (i, (key, value)) in metadata.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match serde_json::to_string(key) {
            Ok(k) => out.push_str(&k),
            Err(_) => out.push_str("\"\""),
        }
        out.push(':');
        let _ = write!(out, "{}", value.as_str());
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_display() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 16];
        let t = TraceId(0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(hex(t.0, &mut a), t.to_string());
        let s = crate::model::SpanId(0xb7ad6b7169203331);
        assert_eq!(hex(s.0 as u128, &mut b), s.to_string());
    }

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
