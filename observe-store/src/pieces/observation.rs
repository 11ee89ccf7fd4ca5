//! One observation row merged with a piece: what the store holds is read back as a piece
//! that gives every stored field, the new piece is laid over it, and the whole row is
//! written again, its cost priced anew from the merged model and usage.

use rusqlite::{params, Connection, OptionalExtension};

use crate::pricing::PriceList;
use crate::text::{encode, nanos, write_metadata};
use observe_model::model::{
    Cost, Json, Level, ObservationDetails, ObservationType, Timestamp, Usage,
};
use observe_model::piece::ObservationPiece;

const SELECT_STORED: &str = "SELECT parent_observation_id, type, name, level, status_message,
    CASE WHEN start_time <> '' THEN start_ns END, CASE WHEN end_time <> '' THEN end_ns END,
    completion_start_time, model, model_parameters, usage_details,
    cost_details, cost_computed, input, output, metadata, prompt_name, prompt_version, version
FROM observations WHERE trace_seq = ?1 AND id = ?2";

/// Every column is replaced: the merge happened in [`merge`].
const UPSERT: &str = "INSERT INTO observations (
    id, trace_id, parent_observation_id, type, name, level, status_message,
    start_time, end_time, start_ns, end_ns, latency_ms, completion_start_time,
    model, model_parameters, usage_details, cost_details, calculated_total_cost,
    input, output, metadata, prompt_name, prompt_version, version, trace_seq, cost_computed,
    project_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, (?11 - ?10) / 1e6, ?12, ?13, ?14, ?15,
    ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)
ON CONFLICT(trace_seq, id) DO UPDATE SET
    trace_id = excluded.trace_id,
    parent_observation_id = excluded.parent_observation_id,
    type = excluded.type, name = excluded.name, level = excluded.level,
    status_message = excluded.status_message,
    start_time = excluded.start_time, end_time = excluded.end_time,
    start_ns = excluded.start_ns, end_ns = excluded.end_ns, latency_ms = excluded.latency_ms,
    completion_start_time = excluded.completion_start_time,
    model = excluded.model, model_parameters = excluded.model_parameters,
    usage_details = excluded.usage_details, cost_details = excluded.cost_details,
    calculated_total_cost = excluded.calculated_total_cost,
    input = excluded.input, output = excluded.output, metadata = excluded.metadata,
    prompt_name = excluded.prompt_name, prompt_version = excluded.prompt_version,
    version = excluded.version, cost_computed = excluded.cost_computed,
    project_id = COALESCE(excluded.project_id, observations.project_id)";

/// The row stored for observation `id` of the trace `seq`, as a piece giving every field
/// stored; `None` when there is none. A cost the store computed is left out (it is priced
/// again from the merged row).
pub(crate) fn load(
    conn: &Connection,
    trace_id: &str,
    seq: i64,
    id: &str,
) -> rusqlite::Result<Option<ObservationPiece>> {
    let mut stmt = conn.prepare_cached(SELECT_STORED)?;
    stmt.query_row(params![seq, id], |row| {
        let text = |i| crate::text::lossy_text(row, i);
        let json = |t: Option<String>| t.map(Json::from_raw);
        let computed: bool = row.get::<_, Option<bool>>(12)?.unwrap_or(false);
        let mut piece = ObservationPiece::new(trace_id, id);
        piece.parent_id = text(0)?.map(Into::into);
        piece.kind = text(1)?.and_then(|k| k.parse().ok());
        piece.name = text(2)?;
        piece.level = text(3)?.and_then(|l| l.parse().ok());
        let time = |i| -> rusqlite::Result<Option<Timestamp>> {
            Ok(row
                .get::<_, Option<i64>>(i)?
                .map(|ns| Timestamp(ns.max(0) as u64)))
        };
        piece.start = time(5)?;
        piece.end = time(6)?;
        let d = piece.details.get_or_insert_with(Default::default);
        d.status_message = text(4)?;
        d.completion_start_time = text(7)?.as_deref().and_then(Timestamp::parse_rfc3339);
        d.model = text(8)?;
        d.model_parameters = json(text(9)?);
        d.usage = text(10)?.and_then(|u| serde_json::from_str::<Usage>(&u).ok());
        d.cost = match computed {
            true => None,
            false => text(11)?.and_then(|c| serde_json::from_str::<Cost>(&c).ok()),
        };
        d.input = json(text(13)?);
        d.output = json(text(14)?);
        d.metadata = crate::read::metadata(text(15)?.as_deref());
        d.prompt_name = text(16)?;
        d.prompt_version = row.get(17)?;
        d.version = text(18)?;
        Ok(piece)
    })
    .optional()
}

/// `newer` laid over `stored`: what `newer` gives replaces, what it does not is kept;
/// metadata merges by key.
pub(crate) fn merge(
    stored: Option<ObservationPiece>,
    newer: &ObservationPiece,
) -> ObservationPiece {
    let mut out = stored.unwrap_or_else(|| ObservationPiece::new(&*newer.trace_id, &*newer.id));
    out.start = newer.start.or(out.start);
    out.end = newer.end.or(out.end);
    if newer.parent_id.is_some() {
        out.parent_id.clone_from(&newer.parent_id);
    }
    if newer.name.is_some() {
        out.name.clone_from(&newer.name);
    }
    out.kind = newer.kind.or(out.kind);
    out.level = newer.level.or(out.level);
    if let Some(n) = newer.details.as_deref() {
        let d = out.details.get_or_insert_with(Default::default);
        let mut metadata = std::mem::take(&mut d.metadata);
        metadata.extend(n.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        macro_rules! given {
            ($($field:ident),*) => {$(
                if n.$field.is_some() {
                    d.$field.clone_from(&n.$field);
                }
            )*};
        }
        given!(
            input,
            output,
            status_message,
            model,
            model_parameters,
            usage,
            cost,
            completion_start_time,
            prompt_name,
            prompt_version,
            version,
            gen_ai
        );
        d.metadata = metadata;
    }
    out
}

/// Writes `o` (a [`merge`] result) as the row of observation `o.id` of the trace `seq`,
/// replacing any row there; the cost is the one given, else the one `prices` computes from
/// its model and usage.
///
/// A time no piece gave yet is stored as empty text in `start_time` or `end_time` (the
/// columns are `NOT NULL`), with the other time, or `arrival` when neither is known, in
/// `start_ns` or `end_ns`, so the row still sorts and shows; a later piece that gives it
/// replaces both.
pub(crate) fn write(
    conn: &Connection,
    seq: i64,
    o: &ObservationPiece,
    prices: &PriceList,
    project: Option<&str>,
    arrival: Timestamp,
) -> rusqlite::Result<()> {
    let none = ObservationDetails::default();
    let d = o.details.as_deref().unwrap_or(&none);
    let computed = crate::write_rules::computed_cost(d, prices);
    let cost = d.cost.as_ref().or(computed.as_ref());
    let total = cost.map_or(0.0, Cost::total);
    let total = if total.is_finite() { total } else { 0.0 };
    let start = o.start.or(o.end).unwrap_or(arrival);
    let end = o.end.unwrap_or(start);
    let known = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339).unwrap_or_default();
    let mut buf = Vec::new();
    let usage = d
        .usage
        .as_ref()
        .and_then(|u| encode(&mut buf, u).map(str::to_owned));
    let cost_text = cost.and_then(|c| encode(&mut buf, c).map(str::to_owned));
    let mut metadata = String::new();
    let metadata = (!d.metadata.is_empty()).then(|| write_metadata(&mut metadata, &d.metadata));
    let mut stmt = conn.prepare_cached(UPSERT)?;
    stmt.execute(params![
        &*o.id,
        &*o.trace_id,
        o.parent_id.as_deref(),
        crate::schema::stored_type(o.kind.unwrap_or(ObservationType::Span)),
        o.name.as_deref().unwrap_or(""),
        o.level.unwrap_or(Level::Default).as_str(),
        d.status_message.as_deref(),
        known(o.start),
        known(o.end),
        nanos(start),
        nanos(end),
        d.completion_start_time.map(Timestamp::to_rfc3339),
        d.model.as_deref(),
        d.model_parameters.as_ref().map(Json::as_str),
        usage,
        cost_text,
        total,
        d.input.as_ref().map(Json::as_str),
        d.output.as_ref().map(Json::as_str),
        metadata,
        d.prompt_name.as_deref(),
        d.prompt_version,
        d.version.as_deref(),
        seq,
        d.cost.is_none() && computed.is_some(),
        project,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece() -> ObservationPiece {
        ObservationPiece::new("t", "o")
    }

    #[test]
    fn an_update_before_its_create_ends_with_both() {
        let update = ObservationPiece {
            end: Some(Timestamp(50)),
            level: Some(Level::Error),
            ..piece()
        };
        let first = merge(None, &update);
        assert_eq!((first.start, first.end), (None, Some(Timestamp(50))));
        let create = ObservationPiece {
            start: Some(Timestamp(10)),
            name: Some("retrieve".into()),
            ..piece()
        };
        let both = merge(Some(first), &create);
        assert_eq!(
            (both.start, both.end),
            (Some(Timestamp(10)), Some(Timestamp(50)))
        );
        assert_eq!(both.level, Some(Level::Error));
        assert_eq!(both.name.as_deref(), Some("retrieve"));
    }

    #[test]
    fn details_not_given_are_kept_and_metadata_merges_by_key() {
        let mut first = piece();
        let d = first.details.get_or_insert_with(Default::default);
        d.model = Some("gpt-4o".into());
        d.metadata.insert("a".into(), Json::from_value(&1));
        d.metadata.insert("b".into(), Json::from_value(&2));
        let mut second = piece();
        let d = second.details.get_or_insert_with(Default::default);
        d.usage = Some(Usage::new(3, 4));
        d.metadata.insert("b".into(), Json::from_value(&5));
        let merged = merge(Some(first), &second);
        let d = merged.details.as_deref().unwrap();
        assert_eq!(d.model.as_deref(), Some("gpt-4o"));
        assert_eq!(d.usage, Some(Usage::new(3, 4)));
        assert_eq!(d.metadata["a"].as_str(), "1");
        assert_eq!(d.metadata["b"].as_str(), "5");
    }
}
