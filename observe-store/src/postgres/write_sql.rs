//! The statements of the PostgreSQL writer ([`super::write`]): the session's staging tables,
//! the `COPY` statements, the traces' upsert, and the merge of observations into traces
//! that were already stored.

use crate::write_rules::TRACE_SCALARS;

/// The observation columns a batch's rows give, in the order the rows are written: the
/// staging table's and, for observations of traces new to the store, `observations`' own.
const OBSERVATION_COLUMNS: &str = "id, trace_id, parent_observation_id, type, name, level,
    status_message, start_time, end_time, start_ns, end_ns, completion_start_time, model,
    model_parameters, usage_details, cost_details, calculated_total_cost, input, output,
    metadata, prompt_name, prompt_version, version, cost_computed, latency_ms, trace_seq";

/// The trace columns a batch's rows give, in order: the attributes, the times and the
/// totals of the batch's observations of the trace.
const TRACE_COLUMNS: &str = "id, name, user_id, session_id, \"timestamp\", end_time, start_ns,
    end_ns, metadata, tags, version, release, environment, public, input, output, has_root,
    calculated_total_cost, computed_cost, observation_count";

/// The score columns a batch's rows give, in order: the staging table's.
const SCORE_COLUMNS: &str = "id, trace_id, observation_id, session_id, name, data_type, value,
    string_value, comment, \"timestamp\"";

/// A statement (never run) whose result columns are `columns` of `table`: preparing it
/// tells the types a binary `COPY` into them must give.
pub(super) fn column_types(table: &str, columns: &str) -> String {
    format!("SELECT {columns} FROM {table}")
}

/// The staging table of trace rows and its columns.
pub(super) const STAGED_TRACES: (&str, &str) = ("observe_in_traces", TRACE_COLUMNS);

/// The staging table of observations of traces already stored, and its columns.
pub(super) const STAGED_OBSERVATIONS: (&str, &str) =
    ("observe_in_observations", OBSERVATION_COLUMNS);

/// The store's observations, and the columns a batch's rows give.
pub(super) const NEW_OBSERVATIONS: (&str, &str) = ("observations", OBSERVATION_COLUMNS);

/// The staging table of scores and its columns.
pub(super) const STAGED_SCORES: (&str, &str) = ("observe_in_scores", SCORE_COLUMNS);

/// The session's staging tables: the store's columns, none of its constraints, emptied at
/// every commit. Made once per connection.
pub(super) fn staging() -> String {
    format!(
        "CREATE TEMP TABLE IF NOT EXISTS observe_in_traces ON COMMIT DELETE ROWS AS
    SELECT {TRACE_COLUMNS} FROM traces WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS observe_in_observations ON COMMIT DELETE ROWS AS
    SELECT {OBSERVATION_COLUMNS} FROM observations WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS observe_merged_traces (trace_seq bigint)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS observe_in_scores ON COMMIT DELETE ROWS AS
    SELECT {SCORE_COLUMNS} FROM scores WITH NO DATA;
"
    )
}

/// Streams rows in binary into `columns` of `table`.
fn copy_binary((table, columns): (&str, &str)) -> String {
    format!("COPY {table} ({columns}) FROM STDIN (FORMAT binary)")
}

/// Streams the batch's trace rows into staging.
pub(super) fn copy_traces() -> String {
    copy_binary(STAGED_TRACES)
}

/// Streams observations of traces already stored into staging, to be merged.
pub(super) fn copy_observations() -> String {
    copy_binary(STAGED_OBSERVATIONS)
}

/// Streams observations of traces this transaction inserted straight into the store: none
/// of them can be stored yet (their trace's `seq` was handed out by this transaction), so
/// they need no conflict check, no staging and no second pass.
pub(super) fn copy_new_observations() -> String {
    copy_binary(NEW_OBSERVATIONS)
}

/// Streams the batch's scores into staging.
pub(super) fn copy_scores() -> String {
    copy_binary(STAGED_SCORES)
}

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

/// Moves the staged traces into the store in trace-id order and returns each one's `seq`
/// and whether this statement inserted it.
///
/// A trace inserted takes the batch's totals as they are (all its observations are new); a
/// trace already stored keeps its totals here, and the observations' merge adds to them.
pub(super) fn upsert_traces() -> String {
    let mut sql = format!(
        "INSERT INTO traces AS t ({TRACE_COLUMNS}, latency_ms, updated_at)
SELECT {TRACE_COLUMNS}, (end_ns - start_ns) / 1e6, now()
FROM observe_in_traces ORDER BY id
ON CONFLICT (id) DO UPDATE SET\n"
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
    updated_at = excluded.updated_at
RETURNING t.id, t.seq, t.xmax = 0 AS inserted"
    ));
    sql
}

/// Merges the staged observations (of traces already stored) and brings their traces'
/// totals up to date.
pub(super) fn merge_observations() -> String {
    let mut sql = format!(
        "WITH moved AS (
INSERT INTO observations AS o ({OBSERVATION_COLUMNS})
SELECT i.id, i.trace_id, i.parent_observation_id, i.type, i.name, i.level, i.status_message,
    i.start_time, i.end_time, i.start_ns, i.end_ns, i.completion_start_time, i.model,
    i.model_parameters, i.usage_details, i.cost_details, i.calculated_total_cost, i.input,
    i.output, i.metadata, i.prompt_name, i.prompt_version, i.version, i.cost_computed,
    (i.end_ns - i.start_ns) / 1e6, t.seq
FROM observe_in_observations i JOIN traces t ON t.id = i.trace_id
ORDER BY t.seq, i.id
ON CONFLICT (trace_seq, id) DO UPDATE SET\n"
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
",
    );
    sql
}

/// Moves the staged scores into the store; a score already stored stays as it is.
pub(super) fn insert_scores() -> String {
    format!(
        "INSERT INTO scores ({SCORE_COLUMNS})
SELECT {SCORE_COLUMNS} FROM observe_in_scores ORDER BY id
ON CONFLICT (id) DO NOTHING;
"
    )
}
