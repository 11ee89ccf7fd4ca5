//! A trace row for pieces: found, or made from what is known, its attributes merged in, and
//! its totals counted again from its observations once the request's pieces are written.

use std::sync::LazyLock;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::id_map::IdMap;
use crate::text::{encode, nanos, write_metadata};
use crate::write_rules::{FIND_TRACE_PROJECT, NEXT_SEQ};
use observe_model::model::{Json, Timestamp, TraceAttributes};

/// A trace row as the pieces find it.
pub(crate) enum Found {
    /// The row's `seq`, and whether this call made it.
    Trace { seq: i64, created: bool },
    /// The id belongs to another project's trace: this one's pieces may not change it.
    OtherProject(Option<String>),
}

/// The `seq` of the trace `id`, made (with `start` as its time, or `arrival`) when it has
/// no row yet. `next_seq` holds the `seq` the next trace made takes, once known: it is
/// looked up once per transaction, not once per trace.
pub(crate) fn find_or_create(
    conn: &Connection,
    id: &str,
    project: Option<&str>,
    start: Option<Timestamp>,
    arrival: Timestamp,
    next_seq: &mut Option<i64>,
) -> rusqlite::Result<Found> {
    let mut find = conn.prepare_cached(FIND_TRACE_PROJECT)?;
    let stored: Option<(i64, Option<String>)> = find
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((seq, owner)) = stored {
        return Ok(stored_for(seq, owner.as_deref(), project));
    }
    let seq = match *next_seq {
        Some(seq) => seq,
        None => conn.prepare_cached(NEXT_SEQ)?.query_row([], |r| r.get(0))?,
    };
    let start = start.unwrap_or(arrival);
    let time = start.to_rfc3339();
    conn.prepare_cached(
        "INSERT INTO traces (id, timestamp, start_ns, end_ns, latency_ms, updated_at, end_time,
             seq, project_id)
         VALUES (?1, ?2, ?3, ?3, 0, ?4, ?2, ?5, ?6)",
    )?
    .execute(params![
        id,
        time,
        nanos(start),
        arrival.to_rfc3339(),
        seq,
        project
    ])?;
    *next_seq = Some(seq + 1);
    Ok(Found::Trace { seq, created: true })
}

/// The stored trace `seq`, owned by `owner`, as `project`'s pieces find it.
pub(crate) fn stored_for(seq: i64, owner: Option<&str>, project: Option<&str>) -> Found {
    match (owner, project) {
        (Some(owner), Some(project)) if owner != project => {
            Found::OtherProject(Some(owner.to_owned()))
        }
        (None, Some(_)) => Found::OtherProject(None),
        _ => Found::Trace {
            seq,
            created: false,
        },
    }
}

/// Ids looked up per statement by [`find_many`]; a shorter list repeats its last id.
const LOOKUP: usize = 64;

static FIND_MANY: LazyLock<String> = LazyLock::new(|| {
    let places: Vec<String> = (1..=LOOKUP).map(|n| format!("?{n}")).collect();
    format!(
        "SELECT id, seq, project_id FROM traces WHERE id IN ({})",
        places.join(", ")
    )
});

/// The stored traces among `ids`, each with its `seq` and project; ids with no row are
/// absent. One statement per [`LOOKUP`] ids, not one per id.
pub(crate) fn find_many<'i>(
    conn: &Connection,
    ids: &[&'i str],
) -> rusqlite::Result<IdMap<&'i str, (i64, Option<String>)>> {
    let mut found = IdMap::default();
    let mut stmt = conn.prepare_cached(&FIND_MANY)?;
    for chunk in ids.chunks(LOOKUP) {
        let Some(&last) = chunk.last() else { continue };
        let values = chunk.iter().chain(std::iter::repeat(&last)).take(LOOKUP);
        let mut rows = stmt.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            let id = row.get_ref(0)?.as_str().ok();
            // The row's id is one of the chunk's: keep the caller's copy, not SQLite's.
            if let Some(&id) = id.and_then(|id| chunk.iter().find(|&&c| c == id)) {
                found.insert(id, (row.get(1)?, row.get(2)?));
            }
        }
    }
    Ok(found)
}

/// Merges `a` into the trace `seq` as observations' trace attributes merge: scalars given
/// replace, metadata by key, tags as a union. Nothing to merge, nothing written.
pub(crate) fn merge_attributes(
    conn: &Connection,
    seq: i64,
    a: &TraceAttributes,
    now: Timestamp,
) -> rusqlite::Result<()> {
    if *a == TraceAttributes::default() {
        return Ok(());
    }
    let mut metadata = String::new();
    let mut tags = Vec::new();
    let tags = encode(&mut tags, &a.tags).unwrap_or("[]").to_owned();
    conn.prepare_cached(
        "UPDATE traces SET
            name = COALESCE(?2, name), user_id = COALESCE(?3, user_id),
            session_id = COALESCE(?4, session_id), version = COALESCE(?5, version),
            release = COALESCE(?6, release), environment = COALESCE(?7, environment),
            public = COALESCE(?8, public), input = COALESCE(?9, input),
            output = COALESCE(?10, output),
            metadata = observe_merge_objects(metadata, ?11),
            tags = observe_union_arrays(tags, ?12),
            updated_at = ?13
         WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        a.name.as_deref(),
        a.user_id.as_deref(),
        a.session_id.as_deref(),
        a.version.as_deref(),
        a.release.as_deref(),
        a.environment.as_deref(),
        a.public,
        a.input.as_ref().map(Json::as_str),
        a.output.as_ref().map(Json::as_str),
        write_metadata(&mut metadata, &a.metadata),
        tags,
        now.to_rfc3339(),
    ])?;
    Ok(())
}

/// Gives the trace `seq` the time `start` while it has no observation (a `trace-create`
/// names its own time; once observations arrive, theirs count).
pub(crate) fn set_start(conn: &Connection, seq: i64, start: Timestamp) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE traces SET timestamp = ?2, end_time = ?2, start_ns = ?3, end_ns = ?3,
             latency_ms = 0
         WHERE seq = ?1 AND NOT EXISTS (SELECT 1 FROM observations WHERE trace_seq = ?1)",
    )?
    .execute(params![seq, start.to_rfc3339(), nanos(start)])?;
    Ok(())
}

/// Counts the trace `seq`'s times, cost and observations again from the observations
/// stored, so a merged observation counts once with its latest values; times no piece gave
/// (see [`observation::write`](super::observation::write)) count only when no observation
/// has a given one. A trace without a name, input or output takes its root observation's,
/// as the library's own writes do.
pub(crate) fn refresh(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    type Totals = (Option<i64>, Option<i64>, f64, f64, i64, bool);
    let totals: Totals = conn
        .prepare_cached(
            "SELECT COALESCE(MIN(CASE WHEN start_time <> '' THEN start_ns END), MIN(start_ns)),
                COALESCE(MAX(CASE WHEN end_time <> '' THEN end_ns END), MAX(end_ns)),
                TOTAL(calculated_total_cost),
                TOTAL(CASE WHEN cost_computed THEN calculated_total_cost END), COUNT(*),
                COALESCE(MAX(parent_observation_id IS NULL), 0)
             FROM observations WHERE trace_seq = ?1",
        )?
        .query_row([seq], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
    let (Some(start), Some(end), cost, computed, count, has_root) = totals else {
        return Ok(());
    };
    let text = |ns: i64| Timestamp(ns.max(0) as u64).to_rfc3339();
    conn.prepare_cached(
        "UPDATE traces SET
            timestamp = ?2, end_time = ?3, start_ns = ?4, end_ns = ?5,
            latency_ms = (?5 - ?4) / 1e6, calculated_total_cost = ?6, computed_cost = ?7,
            observation_count = ?8, has_root = ?9,
            name = COALESCE(name, (SELECT NULLIF(name, '') FROM observations
                WHERE trace_seq = ?1 AND parent_observation_id IS NULL
                ORDER BY start_ns LIMIT 1)),
            input = COALESCE(input, (SELECT input FROM observations
                WHERE trace_seq = ?1 AND parent_observation_id IS NULL
                ORDER BY start_ns LIMIT 1)),
            output = COALESCE(output, (SELECT output FROM observations
                WHERE trace_seq = ?1 AND parent_observation_id IS NULL
                ORDER BY start_ns LIMIT 1))
         WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        text(start),
        text(end),
        start,
        end,
        cost,
        computed,
        count,
        has_root
    ])?;
    Ok(())
}

/// `newer` laid over `acc`, as a trace's attributes merge in both stores: scalars given
/// replace, metadata by key, tags as a union in first-seen order. The SQLite statement of
/// [`merge_attributes`] and the PostgreSQL one apply the same rule to the stored row, so
/// the attributes of a whole request may be laid over each other first and merged once
/// (as the PostgreSQL writer does).
#[cfg(feature = "postgres")]
pub(crate) fn lay_over(acc: &mut TraceAttributes, newer: &TraceAttributes) {
    macro_rules! given {
        ($($field:ident),*) => {$(
            if newer.$field.is_some() {
                acc.$field.clone_from(&newer.$field);
            }
        )*};
    }
    given!(
        name,
        user_id,
        session_id,
        version,
        release,
        environment,
        input,
        output
    );
    acc.public = newer.public.or(acc.public);
    acc.metadata
        .extend(newer.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    for tag in &newer.tags {
        if !acc.tags.contains(tag) {
            acc.tags.push(tag.clone());
        }
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    #[test]
    fn laying_over_keeps_what_is_not_given_and_unions_tags() {
        let mut acc = TraceAttributes {
            name: Some("a".into()),
            user_id: Some("u".into()),
            tags: vec!["x".into(), "y".into()],
            metadata: [("k1".to_owned(), Json::from_value(&1))].into(),
            ..TraceAttributes::default()
        };
        lay_over(
            &mut acc,
            &TraceAttributes {
                name: Some("b".into()),
                public: Some(true),
                tags: vec!["y".into(), "z".into()],
                metadata: [
                    ("k1".to_owned(), Json::from_value(&3)),
                    ("k2".to_owned(), Json::from_value(&2)),
                ]
                .into(),
                ..TraceAttributes::default()
            },
        );
        assert_eq!(acc.name.as_deref(), Some("b"));
        assert_eq!(acc.user_id.as_deref(), Some("u"));
        assert_eq!(acc.public, Some(true));
        assert_eq!(acc.tags, ["x", "y", "z"]);
        assert_eq!(acc.metadata["k1"].as_str(), "3");
        assert_eq!(acc.metadata["k2"].as_str(), "2");
    }
}
