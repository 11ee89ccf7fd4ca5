//! Trace rows for pieces on PostgreSQL: made or locked in id order, their attributes
//! merged, their time set by a trace piece, and their totals counted again from their
//! observations, each as the SQLite side does it (`crate::pieces::trace`).

use std::collections::{BTreeMap, HashMap};

use postgres::GenericClient;

use super::super::copy_text::{json_param, text_param};
use crate::text::{nanos, write_metadata};
use observe_model::model::{Json, Timestamp, TraceAttributes};

/// A trace row a request names.
pub(super) struct TraceRow {
    pub(super) seq: i64,
    /// The project it belongs to.
    pub(super) project: Option<String>,
    /// Whether this transaction made it.
    pub(super) created: bool,
}

/// Every trace is made if missing, and its row locked, by one statement in id order (the
/// order [`PgExporter`](crate::postgres::PgExporter) locks in too), so that writers
/// touching the same traces wait for each other rather than deadlock. The no-op update
/// takes the lock of a row already there and returns it.
const LOCK: &str = "INSERT INTO traces AS t (id, \"timestamp\", end_time, start_ns, end_ns,
    latency_ms, updated_at, project_id)
SELECT k.id, k.at::timestamptz, k.at::timestamptz, k.ns, k.ns, 0, $4::text::timestamptz, $5
FROM unnest($1::text[], $2::text[], $3::int8[]) AS k(id, at, ns)
ORDER BY k.id
ON CONFLICT (id) DO UPDATE SET updated_at = t.updated_at
RETURNING t.id, t.seq, t.project_id, t.xmax = 0";

/// Makes or locks the traces `first` names (each with the time a trace made takes).
pub(super) fn lock<'p>(
    tx: &mut impl GenericClient,
    first: &BTreeMap<&'p str, Timestamp>,
    project: Option<&str>,
    arrival: Timestamp,
) -> Result<HashMap<&'p str, TraceRow>, postgres::Error> {
    if first.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<String> = first.keys().map(|id| text_param(id).into_owned()).collect();
    let at: Vec<String> = first.values().map(|t| t.to_rfc3339()).collect();
    let ns: Vec<i64> = first.values().map(|t| nanos(*t)).collect();
    let rows = tx.query(
        LOCK,
        &[
            &ids,
            &at,
            &ns,
            &arrival.to_rfc3339(),
            &project.map(|p| text_param(p).into_owned()),
        ],
    )?;
    let mut by_id: HashMap<String, TraceRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_id.insert(
            row.try_get(0)?,
            TraceRow {
                seq: row.try_get(1)?,
                project: row.try_get(2)?,
                created: row.try_get(3)?,
            },
        );
    }
    // Keyed by the request's own text (an id holding a NUL was stored with it replaced).
    Ok(first
        .keys()
        .filter_map(|id| Some((*id, by_id.remove(&*text_param(id))?)))
        .collect())
}

/// Scalars given replace, metadata merges by key, tags are a union in first-seen order:
/// the rule of [`lay_over`](crate::pieces::trace::lay_over) applied to the stored row.
const MERGE: &str = "UPDATE traces t SET
    name = COALESCE(a.name, t.name), user_id = COALESCE(a.user_id, t.user_id),
    session_id = COALESCE(a.session_id, t.session_id), version = COALESCE(a.version, t.version),
    release = COALESCE(a.release, t.release),
    environment = COALESCE(a.environment, t.environment),
    public = COALESCE(a.public, t.public), input = COALESCE(a.input, t.input),
    output = COALESCE(a.output, t.output),
    metadata = t.metadata || a.metadata::jsonb,
    tags = ARRAY(SELECT tag FROM unnest(t.tags || a.tags) WITH ORDINALITY AS u(tag, n)
        GROUP BY tag ORDER BY min(n)),
    updated_at = $13::text::timestamptz
FROM (SELECT seq, name, user_id, session_id, version, release, environment, public, input,
        output, metadata, ARRAY(SELECT jsonb_array_elements_text(tags::jsonb)) AS tags
    FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[])
        AS k(seq, name, user_id, session_id, version, release, environment, public, input,
            output, metadata, tags)) a
WHERE t.seq = a.seq";

/// Merges each trace's attributes (those of the request laid over each other) into its
/// row. Nothing to merge, nothing written.
pub(super) fn merge_attributes(
    tx: &mut impl GenericClient,
    attributes: &BTreeMap<i64, TraceAttributes>,
    now: Timestamp,
) -> Result<(), postgres::Error> {
    let given: Vec<(i64, &TraceAttributes)> = attributes
        .iter()
        .filter(|(_, a)| **a != TraceAttributes::default())
        .map(|(seq, a)| (*seq, a))
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&TraceAttributes) -> Option<&str>| -> Vec<Option<String>> {
        given
            .iter()
            .map(|(_, a)| f(a).map(|v| text_param(v).into_owned()))
            .collect()
    };
    let seqs: Vec<i64> = given.iter().map(|(seq, _)| *seq).collect();
    let public: Vec<Option<bool>> = given.iter().map(|(_, a)| a.public).collect();
    let metadata: Vec<String> = given
        .iter()
        .map(|(_, a)| {
            let mut out = String::new();
            write_metadata(&mut out, &a.metadata);
            json_param(&out).into_owned()
        })
        .collect();
    let tags: Vec<String> = given
        .iter()
        .map(|(_, a)| {
            let replaced: Vec<String> = a.tags.iter().map(|t| text_param(t).into_owned()).collect();
            serde_json::to_string(&replaced).unwrap_or_else(|_| "[]".to_owned())
        })
        .collect();
    tx.execute(
        MERGE,
        &[
            &seqs,
            &text(|a| a.name.as_deref()),
            &text(|a| a.user_id.as_deref()),
            &text(|a| a.session_id.as_deref()),
            &text(|a| a.version.as_deref()),
            &text(|a| a.release.as_deref()),
            &text(|a| a.environment.as_deref()),
            &public,
            &text(|a| a.input.as_ref().map(Json::as_str)),
            &text(|a| a.output.as_ref().map(Json::as_str)),
            &metadata,
            &tags,
            &now.to_rfc3339(),
        ],
    )?;
    Ok(())
}

/// Gives each trace of `starts` its time while it has no observation (a `trace-create`
/// names its own time; once observations arrive, theirs count).
pub(super) fn set_start(
    tx: &mut impl GenericClient,
    starts: &BTreeMap<i64, Timestamp>,
) -> Result<(), postgres::Error> {
    if starts.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = starts.keys().copied().collect();
    let at: Vec<String> = starts.values().map(|t| t.to_rfc3339()).collect();
    let ns: Vec<i64> = starts.values().map(|t| nanos(*t)).collect();
    tx.execute(
        "UPDATE traces t SET \"timestamp\" = a.at::timestamptz, end_time = a.at::timestamptz,
            start_ns = a.ns, end_ns = a.ns, latency_ms = 0
         FROM unnest($1::int8[], $2::text[], $3::int8[]) AS a(seq, at, ns)
         WHERE t.seq = a.seq
           AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.trace_seq = a.seq)",
        &[&seqs, &at, &ns],
    )?;
    Ok(())
}

/// The instant `ns` nanoseconds after the epoch, to the microsecond PostgreSQL keeps.
const INSTANT: &str = "'epoch'::timestamptz + (a.{} / 1000) * interval '1 microsecond'";

/// The column of the trace's root observation (the earliest without a parent).
fn from_root(column: &str, value: &str) -> String {
    format!(
        "{column} = COALESCE(t.{column}, (SELECT {value} FROM observations o
            WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
            ORDER BY o.start_ns LIMIT 1))"
    )
}

/// Counts each trace's times, cost and observations again from the observations stored,
/// as `crate::pieces::trace::refresh` does: times no piece gave count only when no
/// observation has a given one, and a trace without a name, input or output takes its
/// root observation's.
pub(super) fn refresh(tx: &mut impl GenericClient, seqs: &[i64]) -> Result<(), postgres::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE traces t SET \"timestamp\" = {start}, end_time = {end},
            start_ns = a.start_ns, end_ns = a.end_ns,
            latency_ms = (a.end_ns - a.start_ns) / 1e6, calculated_total_cost = a.cost,
            computed_cost = a.computed, observation_count = a.n, has_root = a.has_root,
            {name}, {input}, {output}
         FROM (SELECT trace_seq,
                COALESCE(min(start_ns) FILTER (WHERE start_time IS NOT NULL), min(start_ns))
                    AS start_ns,
                COALESCE(max(end_ns) FILTER (WHERE end_time IS NOT NULL), max(end_ns))
                    AS end_ns,
                COALESCE(sum(calculated_total_cost), 0) AS cost,
                COALESCE(sum(calculated_total_cost) FILTER (WHERE cost_computed), 0)
                    AS computed,
                count(*) AS n, bool_or(parent_observation_id IS NULL) AS has_root
            FROM observations WHERE trace_seq = ANY($1::int8[]) GROUP BY trace_seq) a
         WHERE t.seq = a.trace_seq",
        start = INSTANT.replace("{}", "start_ns"),
        end = INSTANT.replace("{}", "end_ns"),
        name = from_root("name", "NULLIF(o.name, '')"),
        input = from_root("input", "o.input"),
        output = from_root("output", "o.output"),
    );
    tx.execute(&sql, &[&seqs])?;
    Ok(())
}

/// Deletes the traces `seqs` (made by a request whose pieces were all refused) while no
/// observation is in them.
pub(super) fn delete(tx: &mut impl GenericClient, seqs: &[i64]) -> Result<(), postgres::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM traces t WHERE t.seq = ANY($1::int8[])
           AND NOT EXISTS (SELECT 1 FROM observations o WHERE o.trace_seq = t.seq)",
        &[&seqs],
    )?;
    Ok(())
}
