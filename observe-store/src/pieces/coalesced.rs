//! A request's pieces written together: the pieces of one observation laid over each other
//! in memory first (later fields win, metadata by key), the rows stored before the request
//! read a trace at a time, and every row written once, many to a statement. An observation
//! of a trace the request made cannot be stored yet, so it is not looked up.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap;

use super::fresh::FreshTrace;
use super::id_map::{IdMap, IdSet};
use super::in_place::{InPlace, Prepared};
use super::observation::{self, Row};
use super::{trace, write_score, PieceReport, Refusal, RefusedPiece, Stored, Touched};
use crate::pricing::PriceList;
use crate::write_rules::NEXT_SEQ;
use observe_model::model::Timestamp;
use observe_model::piece::{ObservationPiece, Piece, TracePiece};

/// One observation of the request.
pub(crate) struct Group<'p> {
    /// Its trace's `seq`.
    pub(crate) seq: i64,
    /// Its pieces laid over each other (the piece itself when it came alone).
    pub(crate) piece: Cow<'p, ObservationPiece>,
    /// How many.
    pub(crate) pieces: usize,
}

/// Writes the request's `pieces` on the open transaction: trace and score pieces in
/// order, observations coalesced and written after them, then the totals of every trace
/// touched. A row SQLite refuses fails the call (the caller undoes it and writes the pieces
/// one by one); ids that cannot be stored (empty, another project's trace) are refused here.
pub(super) fn apply(
    conn: &Connection,
    prepared: &mut Prepared,
    prices: &PriceList,
    project: Option<&str>,
    pieces: &[Piece],
) -> rusqlite::Result<PieceReport> {
    let arrival = Timestamp::now();
    let mut report = PieceReport::default();
    let mut traces = Traces::find(conn, pieces)?;
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut by_id: IdMap<(i64, &str), usize> = IdMap::default();
    for (index, piece) in pieces.iter().enumerate() {
        let outcome = match piece {
            Piece::Observation(o) => match traces.observation(conn, project, o, arrival)? {
                Ok(seq) => {
                    add(&mut groups, &mut by_id, seq, o);
                    continue;
                }
                Err(refusal) => Err(refusal),
            },
            Piece::Trace(t) => traces.trace_piece(conn, project, t, arrival)?,
            Piece::Score(s) => write_score(conn, project, s, arrival)?,
        };
        match outcome {
            Ok(stored) => report.count(stored),
            Err(refusal) => report.refused.push(RefusedPiece {
                index,
                reason: refusal.to_string(),
            }),
        }
    }
    let mut stored = load_stored(conn, &groups, &traces.touched)?;
    let mut merged = Vec::with_capacity(groups.len());
    for g in groups {
        let row = stored
            .get_mut(&g.seq)
            .and_then(|rows| rows.remove(&*g.piece.id));
        match row {
            Some(row) => {
                report.observations_merged += g.pieces;
                merged.push((g.seq, Cow::Owned(observation::merge(Some(row), &g.piece))));
            }
            None => {
                report.observations_created += 1;
                report.observations_merged += g.pieces - 1;
                merged.push((g.seq, g.piece));
            }
        }
    }
    let rows: Vec<Row<'_>> = merged
        .iter()
        .map(|(seq, piece)| Row::new(*seq, piece, prices, project, arrival))
        .collect();
    let mut statements = InPlace::new(conn, prepared);
    traces.insert_fresh(&mut statements, &rows, project, arrival)?;
    // By reference: a row holds its short texts, and moving 512 of them is a copy of each.
    let (new, known): (Vec<&Row<'_>>, Vec<&Row<'_>>) = rows
        .iter()
        .partition(|row| traces.fresh_at.contains_key(&row.seq));
    statements.new_observations(&new)?;
    observation::write_rows(conn, &known)?;
    for &seq in &traces.touched.order {
        if !traces.fresh_at.contains_key(&seq) {
            trace::refresh(conn, seq)?;
        }
    }
    Ok(report)
}

/// The traces of one request: those stored before it, looked up all at once, and those it
/// makes, kept in memory until their rows are written whole.
struct Traces<'p> {
    /// The stored traces the request names, by id, with their `seq` and project.
    stored: IdMap<&'p str, (i64, Option<String>)>,
    touched: Touched,
    /// The traces the request makes, in the order it first names them...
    fresh: Vec<FreshTrace<'p>>,
    /// ...and where each is in `fresh`, by `seq`.
    fresh_at: FxHashMap<i64, usize>,
}

impl<'p> Traces<'p> {
    /// Looks up every trace id `pieces` name.
    fn find(conn: &Connection, pieces: &'p [Piece]) -> rusqlite::Result<Self> {
        let mut seen = IdSet::default();
        let ids: Vec<&str> = pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Observation(o) => Some(&*o.trace_id),
                Piece::Trace(t) => Some(&*t.id),
                Piece::Score(_) => None,
            })
            .filter(|id| !id.is_empty() && seen.insert(*id))
            .collect();
        Ok(Traces {
            stored: trace::find_many(conn, &ids)?,
            touched: Touched::default(),
            fresh: Vec::new(),
            fresh_at: FxHashMap::default(),
        })
    }

    /// The `seq` of the trace `id`, numbered in memory when the store has no row for it;
    /// whether this numbered it.
    fn resolve(
        &mut self,
        conn: &Connection,
        project: Option<&str>,
        id: &'p str,
        start: Option<Timestamp>,
        arrival: Timestamp,
    ) -> rusqlite::Result<Result<(i64, bool), Refusal>> {
        if let Some(&seq) = self.touched.seq_of.get(id) {
            return Ok(Ok((seq, false)));
        }
        let (seq, created) = match self.stored.get(id) {
            Some((seq, owner)) => match trace::stored_for(*seq, owner.as_deref(), project) {
                trace::Found::Trace { seq, .. } => (seq, false),
                trace::Found::OtherProject(owner) => return Ok(Err(Refusal::OtherProject(owner))),
            },
            None => {
                let seq = match self.touched.next_seq {
                    Some(seq) => seq,
                    None => conn.prepare_cached(NEXT_SEQ)?.query_row([], |r| r.get(0))?,
                };
                self.touched.next_seq = Some(seq + 1);
                self.fresh_at.insert(seq, self.fresh.len());
                self.fresh
                    .push(FreshTrace::new(id, seq, start.unwrap_or(arrival)));
                self.touched.made.insert(seq, IdSet::default());
                (seq, true)
            }
        };
        self.touched.seq_of.insert(id.into(), seq);
        self.touched.order.push(seq);
        Ok(Ok((seq, created)))
    }

    /// The `seq` of the trace of `o`, with the trace attributes `o` carries merged in; or
    /// why `o` is refused.
    fn observation(
        &mut self,
        conn: &Connection,
        project: Option<&str>,
        o: &'p ObservationPiece,
        arrival: Timestamp,
    ) -> rusqlite::Result<Result<i64, Refusal>> {
        if o.trace_id.is_empty() {
            return Ok(Err(Refusal::EmptyId("trace")));
        }
        if o.id.is_empty() {
            return Ok(Err(Refusal::EmptyId("observation")));
        }
        let seq = match self.resolve(conn, project, &o.trace_id, o.start, arrival)? {
            Ok((seq, _)) => seq,
            Err(refusal) => return Ok(Err(refusal)),
        };
        match self.fresh_at.get(&seq).and_then(|&i| self.fresh.get_mut(i)) {
            Some(fresh) => fresh.merge_shared(&o.trace),
            None => {
                let attributes = Arc::as_ptr(&o.trace) as usize;
                if self.touched.last_merged.insert(seq, attributes) != Some(attributes) {
                    trace::merge_attributes(conn, seq, &o.trace, arrival)?;
                }
            }
        }
        Ok(Ok(seq))
    }

    /// Merges a trace piece into its trace, made if needed.
    fn trace_piece(
        &mut self,
        conn: &Connection,
        project: Option<&str>,
        t: &'p TracePiece,
        arrival: Timestamp,
    ) -> rusqlite::Result<Result<Stored, Refusal>> {
        if t.id.is_empty() {
            return Ok(Err(Refusal::EmptyId("trace")));
        }
        let (seq, created) = match self.resolve(conn, project, &t.id, t.timestamp, arrival)? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        match self.fresh_at.get(&seq).and_then(|&i| self.fresh.get_mut(i)) {
            Some(fresh) => {
                if let (Some(start), false) = (t.timestamp, created) {
                    fresh.start = start;
                }
                fresh.merge(&t.attributes);
            }
            None => {
                if let Some(start) = t.timestamp {
                    trace::set_start(conn, seq, start)?;
                }
                self.touched.last_merged.remove(&seq);
                trace::merge_attributes(conn, seq, &t.attributes, arrival)?;
            }
        }
        Ok(Ok(if created {
            Stored::TraceCreated
        } else {
            Stored::TraceMerged
        }))
    }

    /// Inserts the row of every trace the request made, with the totals of its `rows`.
    fn insert_fresh(
        &self,
        statements: &mut InPlace<'_>,
        rows: &[Row<'_>],
        project: Option<&str>,
        arrival: Timestamp,
    ) -> rusqlite::Result<()> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let mut of_trace: Vec<Vec<&Row<'_>>> = vec![Vec::new(); self.fresh.len()];
        for row in rows {
            if let Some(list) = self
                .fresh_at
                .get(&row.seq)
                .and_then(|&i| of_trace.get_mut(i))
            {
                list.push(row);
            }
        }
        for (fresh, rows) in self.fresh.iter().zip(&of_trace) {
            fresh.insert(statements, rows, project, arrival)?;
        }
        Ok(())
    }
}

/// Lays `o` of the trace `seq` over the pieces of its id the request gave before it.
/// (Generic over the map's hasher: the PostgreSQL writer keeps its own map.)
pub(crate) fn add<'p, S: BuildHasher>(
    groups: &mut Vec<Group<'p>>,
    by_id: &mut HashMap<(i64, &'p str), usize, S>,
    seq: i64,
    o: &'p ObservationPiece,
) {
    match by_id.entry((seq, &*o.id)) {
        Entry::Occupied(at) => {
            if let Some(g) = groups.get_mut(*at.get()) {
                let earlier = std::mem::take(&mut g.piece).into_owned();
                g.piece = Cow::Owned(observation::merge(Some(earlier), o));
                g.pieces += 1;
            }
        }
        Entry::Vacant(at) => {
            at.insert(groups.len());
            groups.push(Group {
                seq,
                piece: Cow::Borrowed(o),
                pieces: 1,
            });
        }
    }
}

/// The rows stored before this request for the ids of `groups`, by trace `seq` and id;
/// the traces the request made are not asked.
fn load_stored(
    conn: &Connection,
    groups: &[Group<'_>],
    touched: &Touched,
) -> rusqlite::Result<FxHashMap<i64, IdMap<Box<str>, ObservationPiece>>> {
    let mut asked: FxHashMap<i64, (&str, Vec<&str>)> = FxHashMap::default();
    for g in groups {
        if !touched.made.contains_key(&g.seq) {
            let (_, ids) = asked
                .entry(g.seq)
                .or_insert((&*g.piece.trace_id, Vec::new()));
            ids.push(&*g.piece.id);
        }
    }
    let mut stored = FxHashMap::with_capacity_and_hasher(asked.len(), Default::default());
    for (seq, (trace_id, ids)) in asked {
        let found = observation::load_many(conn, trace_id, seq, &ids)?;
        stored.insert(seq, found);
    }
    Ok(stored)
}
