//! One observation row merged with a piece: what the store holds is read back as a piece
//! that gives every stored field, the new piece is laid over it, and the whole row is
//! written again, its cost priced anew from the merged model and usage.

use std::sync::LazyLock;

use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row as SqlRow};

use super::id_map::IdMap;
use super::short_text::{Rfc3339Text, ShortText};
use crate::observation_insert::{insert_observations_sql, OnConflict, OBSERVATION_PARAMS};
use crate::pricing::PriceList;
use crate::raw;
use crate::text::{nanos, write_metadata};
use observe_model::model::{
    Cost, Json, Level, ObservationDetails, ObservationType, Timestamp, Usage,
};
use observe_model::piece::ObservationPiece;

/// The stored fields [`decode`] reads, then the id.
const STORED_COLUMNS: &str = "SELECT parent_observation_id, type, name, level, status_message,
    CASE WHEN start_time <> '' THEN start_ns END, CASE WHEN end_time <> '' THEN end_ns END,
    completion_start_time, model, model_parameters, usage_details,
    cost_details, cost_computed, input, output, metadata, prompt_name, prompt_version, version,
    id
FROM observations WHERE trace_seq = ?1 AND id ";

/// Ids looked up per statement by [`load_many`]; a shorter list repeats its last id.
const LOOKUP: usize = 32;

static SELECT_ONE: LazyLock<String> = LazyLock::new(|| format!("{STORED_COLUMNS}= ?2"));
static SELECT_MANY: LazyLock<String> = LazyLock::new(|| {
    let places: Vec<String> = (2..LOOKUP + 2).map(|n| format!("?{n}")).collect();
    format!("{STORED_COLUMNS}IN ({})", places.join(", "))
});

/// Rows written per statement by [`write_rows`] and by the new rows' statements.
pub(super) const CHUNK: usize = 16;

static UPSERT_ONE: LazyLock<String> =
    LazyLock::new(|| insert_observations_sql(1, OnConflict::Replace));
static UPSERT_CHUNK: LazyLock<String> =
    LazyLock::new(|| insert_observations_sql(CHUNK, OnConflict::Replace));

/// Bytes of [`METADATA`] kept between rows.
const KEPT_METADATA: usize = 64 << 10;

thread_local! {
    /// The metadata object [`Row::new`] formats, before the row keeps a copy.
    static METADATA: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Details for a piece that gives none.
static NO_DETAILS: LazyLock<ObservationDetails> = LazyLock::new(ObservationDetails::default);

/// The row stored for observation `id` of the trace `seq`, as a piece giving every field
/// stored; `None` when there is none. A cost the store computed is left out (it is priced
/// again from the merged row).
pub(crate) fn load(
    conn: &Connection,
    trace_id: &str,
    seq: i64,
    id: &str,
) -> rusqlite::Result<Option<ObservationPiece>> {
    let mut stmt = conn.prepare_cached(&SELECT_ONE)?;
    stmt.query_row(params![seq, id], |row| decode(row, trace_id, id))
        .optional()
}

/// [`load`] for many ids of the trace `seq` at once, [`LOOKUP`] to a statement: the rows
/// stored, by id (ids with no row are absent).
pub(crate) fn load_many(
    conn: &Connection,
    trace_id: &str,
    seq: i64,
    ids: &[&str],
) -> rusqlite::Result<IdMap<Box<str>, ObservationPiece>> {
    let mut found = IdMap::default();
    let mut stmt = conn.prepare_cached(&SELECT_MANY)?;
    for chunk in ids.chunks(LOOKUP) {
        let Some(&last) = chunk.last() else { continue };
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(LOOKUP + 1);
        values.push(&seq);
        values.extend(chunk.iter().map(|id| id as &dyn ToSql));
        values.resize(LOOKUP + 1, &last);
        let mut rows = stmt.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            let id = crate::text::lossy_text(row, 19)?.unwrap_or_default();
            let piece = decode(row, trace_id, &id)?;
            found.insert(id.into_boxed_str(), piece);
        }
    }
    Ok(found)
}

/// A row of [`STORED_COLUMNS`] as a piece giving every field stored.
fn decode(row: &SqlRow<'_>, trace_id: &str, id: &str) -> rusqlite::Result<ObservationPiece> {
    let text = |i| crate::text::lossy_text(row, i);
    let time = |i| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row
            .get::<_, Option<i64>>(i)?
            .map(|ns| Timestamp(ns.max(0) as u64)))
    };
    let stored = Stored {
        parent_id: text(0)?,
        kind: text(1)?,
        name: text(2)?,
        level: text(3)?,
        status_message: text(4)?,
        start: time(5)?,
        end: time(6)?,
        completion_start_time: text(7)?.as_deref().and_then(Timestamp::parse_rfc3339),
        model: text(8)?,
        model_parameters: text(9)?,
        usage: text(10)?,
        cost: text(11)?,
        cost_computed: row.get::<_, Option<bool>>(12)?.unwrap_or(false),
        input: text(13)?,
        output: text(14)?,
        metadata: text(15)?,
        prompt_name: text(16)?,
        prompt_version: row.get(17)?,
        version: text(18)?,
    };
    Ok(stored.into_piece(trace_id, id))
}

/// An observation row as either store holds it, its JSON columns as text; a time no piece
/// gave is `None`. Both stores read their rows into this, so a stored row becomes a piece
/// by one rule.
pub(crate) struct Stored {
    pub(crate) parent_id: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) level: Option<String>,
    pub(crate) status_message: Option<String>,
    pub(crate) start: Option<Timestamp>,
    pub(crate) end: Option<Timestamp>,
    pub(crate) completion_start_time: Option<Timestamp>,
    pub(crate) model: Option<String>,
    pub(crate) model_parameters: Option<String>,
    pub(crate) usage: Option<String>,
    pub(crate) cost: Option<String>,
    pub(crate) cost_computed: bool,
    pub(crate) input: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) metadata: Option<String>,
    pub(crate) prompt_name: Option<String>,
    pub(crate) prompt_version: Option<i64>,
    pub(crate) version: Option<String>,
}

impl Stored {
    /// The row as a piece giving every field stored; a cost the store computed is left
    /// out (it is priced again from the merged row).
    pub(crate) fn into_piece(self, trace_id: &str, id: &str) -> ObservationPiece {
        let json = |t: Option<String>| t.map(Json::from_raw);
        let mut piece = ObservationPiece::new(trace_id, id);
        piece.parent_id = self.parent_id.map(Into::into);
        piece.kind = self.kind.and_then(|k| k.parse().ok());
        piece.name = self.name;
        piece.level = self.level.and_then(|l| l.parse().ok());
        piece.start = self.start;
        piece.end = self.end;
        let d = piece.details.get_or_insert_with(Default::default);
        d.status_message = self.status_message;
        d.completion_start_time = self.completion_start_time;
        d.model = self.model;
        d.model_parameters = json(self.model_parameters);
        d.usage = self
            .usage
            .and_then(|u| serde_json::from_str::<Usage>(&u).ok());
        d.cost = match self.cost_computed {
            true => None,
            false => self
                .cost
                .and_then(|c| serde_json::from_str::<Cost>(&c).ok()),
        };
        d.input = json(self.input);
        d.output = json(self.output);
        d.metadata = crate::read::metadata(self.metadata.as_deref());
        d.prompt_name = self.prompt_name;
        d.prompt_version = self.prompt_version;
        d.version = self.version;
        piece
    }
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
/// replacing any row there; see [`Row`].
pub(crate) fn write(
    conn: &Connection,
    seq: i64,
    o: &ObservationPiece,
    prices: &PriceList,
    project: Option<&str>,
    arrival: Timestamp,
) -> rusqlite::Result<()> {
    write_rows(conn, &[&Row::new(seq, o, prices, project, arrival)])
}

/// Writes `rows`, each replacing any row of its id, [`CHUNK`] to a statement. A row SQLite
/// refuses fails the statement, with the rows before it in the chunk left out too: the
/// caller undoes the whole call then.
pub(crate) fn write_rows(conn: &Connection, rows: &[&Row<'_>]) -> rusqlite::Result<()> {
    let mut chunks = rows.chunks_exact(CHUNK);
    let mut values = [raw::Value::Null; OBSERVATION_PARAMS * CHUNK];
    if rows.len() >= CHUNK {
        let mut stmt = conn.prepare_cached(&UPSERT_CHUNK)?;
        for chunk in chunks.by_ref() {
            for (row, out) in chunk
                .iter()
                .zip(values.chunks_exact_mut(OBSERVATION_PARAMS))
            {
                row.bind_values(out);
            }
            stmt.execute(params_from_iter(values.iter()))?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(&UPSERT_ONE)?;
        let one = &mut values[..OBSERVATION_PARAMS];
        for row in rest {
            row.bind_values(one);
            stmt.execute(params_from_iter(one.iter()))?;
        }
    }
    Ok(())
}

/// An observation row to write from a [`merge`] result: its cost the one given, else the
/// one the price list computes from its model and usage.
///
/// A time no piece gave yet is stored as empty text in `start_time` or `end_time` (the
/// columns are `NOT NULL`), with the other time, or `arrival` when neither is known, in
/// `start_ns` or `end_ns`, so the row still sorts and shows; a later piece that gives it
/// replaces both.
pub(crate) struct Row<'a> {
    pub(crate) id: &'a str,
    pub(crate) trace_id: &'a str,
    pub(crate) parent_id: Option<&'a str>,
    pub(crate) kind: &'static str,
    pub(crate) name: &'a str,
    pub(crate) level: &'static str,
    pub(crate) model_parameters: Option<&'a str>,
    pub(crate) input: Option<&'a str>,
    pub(crate) output: Option<&'a str>,
    pub(crate) d: &'a ObservationDetails,
    pub(crate) seq: i64,
    pub(crate) project: Option<&'a str>,
    pub(crate) start_text: Rfc3339Text,
    pub(crate) end_text: Rfc3339Text,
    pub(crate) start_ns: i64,
    pub(crate) end_ns: i64,
    pub(crate) completion: Option<String>,
    pub(crate) usage: Option<ShortText>,
    pub(crate) cost: Option<ShortText>,
    pub(crate) total: f64,
    pub(crate) metadata: Option<ShortText>,
    pub(crate) computed: bool,
}

impl<'a> Row<'a> {
    /// The row of `o` in the trace `seq`, stamped with `project`.
    pub(crate) fn new(
        seq: i64,
        o: &'a ObservationPiece,
        prices: &PriceList,
        project: Option<&'a str>,
        arrival: Timestamp,
    ) -> Self {
        let d = o.details.as_deref().unwrap_or(&NO_DETAILS);
        let computed = crate::write_rules::computed_cost(d, prices);
        let cost = d.cost.as_ref().or(computed.as_ref());
        let total = cost.map_or(0.0, Cost::total);
        let start = o.start.or(o.end).unwrap_or(arrival);
        let end = o.end.unwrap_or(start);
        let usage = d.usage.as_ref().and_then(ShortText::json);
        let cost_text = cost.and_then(ShortText::json);
        let metadata = (!d.metadata.is_empty()).then(|| {
            METADATA.with_borrow_mut(|text| {
                let copy = ShortText::copy(write_metadata(text, &d.metadata));
                // One huge object is not kept for the rest of the thread's life.
                if text.capacity() > KEPT_METADATA {
                    *text = String::new();
                }
                copy
            })
        });
        let json = |j: &'a Option<Json>| j.as_ref().map(Json::as_str);
        Row {
            id: &o.id,
            trace_id: &o.trace_id,
            parent_id: o.parent_id.as_deref(),
            kind: crate::schema::stored_type(o.kind.unwrap_or(ObservationType::Span)),
            name: o.name.as_deref().unwrap_or(""),
            level: o.level.unwrap_or(Level::Default).as_str(),
            model_parameters: json(&d.model_parameters),
            input: json(&d.input),
            output: json(&d.output),
            d,
            seq,
            project,
            start_text: Rfc3339Text::of(o.start),
            end_text: Rfc3339Text::of(o.end),
            start_ns: nanos(start),
            end_ns: nanos(end),
            completion: d.completion_start_time.map(Timestamp::to_rfc3339),
            usage,
            cost: cost_text,
            total: if total.is_finite() { total } else { 0.0 },
            metadata,
            computed: d.cost.is_none() && computed.is_some(),
        }
    }

    /// The row's [`OBSERVATION_PARAMS`] values, in [`insert_observations_sql`] order, into
    /// `out` (bound in place by [`raw::Statement`], or through rusqlite).
    pub(super) fn bind_values<'s>(&'s self, out: &mut [raw::Value<'s>]) {
        let d = self.d;
        let values: [raw::Value<'s>; OBSERVATION_PARAMS] = [
            self.id.into(),
            self.trace_id.into(),
            self.parent_id.into(),
            self.kind.into(),
            self.name.into(),
            self.level.into(),
            d.status_message.as_deref().into(),
            (&*self.start_text).into(),
            (&*self.end_text).into(),
            self.start_ns.into(),
            self.end_ns.into(),
            self.completion.as_deref().into(),
            d.model.as_deref().into(),
            self.model_parameters.into(),
            self.usage.as_deref().into(),
            self.cost.as_deref().into(),
            self.total.into(),
            self.input.into(),
            self.output.into(),
            self.metadata.as_deref().into(),
            d.prompt_name.as_deref().into(),
            d.prompt_version.into(),
            d.version.as_deref().into(),
            self.seq.into(),
            self.computed.into(),
            self.project.into(),
        ];
        for (slot, value) in out.iter_mut().zip(values) {
            *slot = value;
        }
    }
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
