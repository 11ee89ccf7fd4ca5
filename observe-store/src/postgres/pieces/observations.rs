//! Observation rows for pieces on PostgreSQL: the rows stored before the request read back
//! as pieces (through the SQLite side's [`Stored`]), and the merged rows written (from the
//! SQLite side's [`Row`]), each many to a statement.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use postgres::GenericClient;

use super::super::copy_text::{json_param, text_param};
use super::super::write::prompt_version;
use crate::pieces::coalesced::Group;
use crate::pieces::observation::{Row, Stored};
use crate::pricing::PriceList;
use observe_model::model::Timestamp;
use observe_model::piece::ObservationPiece;

/// The stored fields of the rows asked for, a time no piece gave read as NULL.
const LOAD: &str = "SELECT o.trace_seq, o.id, o.parent_observation_id, o.type, o.name, o.level,
    o.status_message, CASE WHEN o.start_time IS NOT NULL THEN o.start_ns END,
    CASE WHEN o.end_time IS NOT NULL THEN o.end_ns END, o.completion_start_time, o.model,
    o.model_parameters::text, o.usage_details::text, o.cost_details::text, o.cost_computed,
    o.input, o.output, o.metadata::text, o.prompt_name, o.prompt_version, o.version
FROM unnest($1::int8[], $2::text[]) AS k(seq, id)
JOIN observations o ON o.trace_seq = k.seq AND o.id = k.id";

/// The rows stored for `groups`, by trace `seq` and id, as pieces giving every field
/// stored; the traces in `made` (none stored yet) are not asked.
pub(super) fn load(
    tx: &mut impl GenericClient,
    groups: &[Group<'_>],
    made: &HashSet<i64>,
) -> Result<HashMap<(i64, Box<str>), ObservationPiece>, postgres::Error> {
    let asked: Vec<&Group<'_>> = groups.iter().filter(|g| !made.contains(&g.seq)).collect();
    if asked.is_empty() {
        return Ok(HashMap::new());
    }
    let seqs: Vec<i64> = asked.iter().map(|g| g.seq).collect();
    let ids: Vec<String> = asked
        .iter()
        .map(|g| text_param(&g.piece.id).into_owned())
        .collect();
    // The trace id of each asked row, to build its piece with.
    let trace_ids: HashMap<(i64, &str), &str> = asked
        .iter()
        .map(|g| ((g.seq, &*g.piece.id), &*g.piece.trace_id))
        .collect();
    let mut found = HashMap::with_capacity(asked.len());
    for row in tx.query(LOAD, &[&seqs, &ids])? {
        let seq: i64 = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let time = |i| -> Result<Option<Timestamp>, postgres::Error> {
            Ok(row
                .try_get::<_, Option<i64>>(i)?
                .map(|ns| Timestamp(ns.max(0) as u64)))
        };
        let stored = Stored {
            parent_id: row.try_get(2)?,
            kind: row.try_get(3)?,
            name: row.try_get(4)?,
            level: row.try_get(5)?,
            status_message: row.try_get(6)?,
            start: time(7)?,
            end: time(8)?,
            completion_start_time: row
                .try_get::<_, Option<SystemTime>>(9)?
                .map(Timestamp::from),
            model: row.try_get(10)?,
            model_parameters: row.try_get(11)?,
            usage: row.try_get(12)?,
            cost: row.try_get(13)?,
            cost_computed: row.try_get(14)?,
            input: row.try_get(15)?,
            output: row.try_get(16)?,
            metadata: row.try_get(17)?,
            prompt_name: row.try_get(18)?,
            prompt_version: row.try_get::<_, Option<i32>>(19)?.map(i64::from),
            version: row.try_get(20)?,
        };
        let trace_id = trace_ids.get(&(seq, id.as_str())).copied().unwrap_or("");
        let piece = stored.into_piece(trace_id, &id);
        found.insert((seq, id.into_boxed_str()), piece);
    }
    Ok(found)
}

/// Every column of a row, replaced whole when its id is stored (the merge happened in
/// memory), as the SQLite side's upsert does.
const WRITE: &str = "INSERT INTO observations AS o (id, trace_id, parent_observation_id, type,
    name, level, status_message, start_time, end_time, start_ns, end_ns, latency_ms,
    completion_start_time, model, model_parameters, usage_details, cost_details,
    calculated_total_cost, input, output, metadata, prompt_name, prompt_version, version,
    trace_seq, cost_computed, project_id)
SELECT r.id, r.trace_id, r.parent, r.kind, r.name, r.level, r.status, r.start_at::timestamptz,
    r.end_at::timestamptz, r.start_ns, r.end_ns, (r.end_ns - r.start_ns) / 1e6,
    r.completion::timestamptz, r.model, r.parameters::jsonb, r.usage::jsonb, r.cost::jsonb,
    r.total, r.input, r.output, r.metadata::jsonb, r.prompt_name, r.prompt_version, r.version,
    r.seq, r.computed, $26
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::text[], $13::text[],
    $14::text[], $15::text[], $16::text[], $17::float8[], $18::text[], $19::text[],
    $20::text[], $21::text[], $22::int4[], $23::text[], $24::int8[], $25::bool[])
    AS r(id, trace_id, parent, kind, name, level, status, start_at, end_at, start_ns, end_ns,
        completion, model, parameters, usage, cost, total, input, output, metadata,
        prompt_name, prompt_version, version, seq, computed)
ORDER BY r.seq, r.id
ON CONFLICT (trace_seq, id) DO UPDATE SET
    trace_id = excluded.trace_id, parent_observation_id = excluded.parent_observation_id,
    type = excluded.type, name = excluded.name, level = excluded.level,
    status_message = excluded.status_message, start_time = excluded.start_time,
    end_time = excluded.end_time, start_ns = excluded.start_ns, end_ns = excluded.end_ns,
    latency_ms = excluded.latency_ms, completion_start_time = excluded.completion_start_time,
    model = excluded.model, model_parameters = excluded.model_parameters,
    usage_details = excluded.usage_details, cost_details = excluded.cost_details,
    calculated_total_cost = excluded.calculated_total_cost, input = excluded.input,
    output = excluded.output, metadata = excluded.metadata,
    prompt_name = excluded.prompt_name, prompt_version = excluded.prompt_version,
    version = excluded.version, cost_computed = excluded.cost_computed,
    project_id = excluded.project_id";

/// One column of the rows, each value made acceptable by `clean` ([`text_param`] for
/// `text`, [`json_param`] for `jsonb`).
fn column<'r>(
    rows: &'r [Row<'r>],
    clean: fn(&str) -> Cow<'_, str>,
    f: impl Fn(&'r Row<'r>) -> Option<&'r str>,
) -> Vec<Option<String>> {
    rows.iter()
        .map(|r| f(r).map(|v| clean(v).into_owned()))
        .collect()
}

/// Writes `merged` (each a piece laid over its stored row) as rows of their traces, each
/// priced from `prices` when it gives usage and no cost.
pub(super) fn write(
    tx: &mut impl GenericClient,
    merged: &[(i64, Cow<'_, ObservationPiece>)],
    prices: &PriceList,
    project: Option<&str>,
    arrival: Timestamp,
) -> Result<(), postgres::Error> {
    if merged.is_empty() {
        return Ok(());
    }
    let rows: Vec<Row<'_>> = merged
        .iter()
        .map(|(seq, piece)| Row::new(*seq, piece, prices, project, arrival))
        .collect();
    let given = |t: &str| (!t.is_empty()).then(|| t.to_owned());
    let start_at: Vec<Option<String>> = rows.iter().map(|r| given(&r.start_text)).collect();
    let end_at: Vec<Option<String>> = rows.iter().map(|r| given(&r.end_text)).collect();
    let start_ns: Vec<i64> = rows.iter().map(|r| r.start_ns).collect();
    let end_ns: Vec<i64> = rows.iter().map(|r| r.end_ns).collect();
    let total: Vec<f64> = rows.iter().map(|r| r.total).collect();
    let prompt_versions: Vec<Option<i32>> = rows
        .iter()
        .map(|r| {
            r.d.prompt_version
                .and_then(prompt_version)
                .and_then(|v| i32::try_from(v).ok())
        })
        .collect();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let computed: Vec<bool> = rows.iter().map(|r| r.computed).collect();
    tx.execute(
        WRITE,
        &[
            &column(&rows, text_param, |r| Some(r.id)),
            &column(&rows, text_param, |r| Some(r.trace_id)),
            &column(&rows, text_param, |r| r.parent_id),
            &column(&rows, text_param, |r| Some(r.kind)),
            &column(&rows, text_param, |r| Some(r.name)),
            &column(&rows, text_param, |r| Some(r.level)),
            &column(&rows, text_param, |r| r.d.status_message.as_deref()),
            &start_at,
            &end_at,
            &start_ns,
            &end_ns,
            &rows
                .iter()
                .map(|r| r.completion.clone())
                .collect::<Vec<_>>(),
            &column(&rows, text_param, |r| r.d.model.as_deref()),
            &column(&rows, json_param, |r| r.model_parameters),
            &column(&rows, json_param, |r| r.usage.as_deref()),
            &column(&rows, json_param, |r| r.cost.as_deref()),
            &total,
            &column(&rows, text_param, |r| r.input),
            &column(&rows, text_param, |r| r.output),
            &column(&rows, json_param, |r| r.metadata.as_deref()),
            &column(&rows, text_param, |r| r.d.prompt_name.as_deref()),
            &prompt_versions,
            &column(&rows, text_param, |r| r.d.version.as_deref()),
            &seqs,
            &computed,
            &project.map(|p| text_param(p).into_owned()),
        ],
    )?;
    Ok(())
}
