//! A request's pieces written together: the pieces of one observation laid over each other
//! in memory first (later fields win, metadata by key), the rows stored before the request
//! read a trace at a time, and every row written once, many to a statement. An observation
//! of a trace the request made cannot be stored yet, so it is not looked up.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rusqlite::Connection;

use super::observation::{self, Row};
use super::{
    observation_trace, trace, write_score, write_trace, PieceReport, RefusedPiece, Touched,
};
use crate::pricing::PriceList;
use observe_model::model::Timestamp;
use observe_model::piece::{ObservationPiece, Piece};

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
    prices: &PriceList,
    project: Option<&str>,
    pieces: &[Piece],
) -> rusqlite::Result<PieceReport> {
    let arrival = Timestamp::now();
    let mut report = PieceReport::default();
    let mut touched = Touched::default();
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut by_id: HashMap<(i64, &str), usize> = HashMap::new();
    for (index, piece) in pieces.iter().enumerate() {
        let outcome = match piece {
            Piece::Observation(o) => {
                match observation_trace(conn, project, o, arrival, &mut touched)? {
                    Ok(seq) => {
                        add(&mut groups, &mut by_id, seq, o);
                        continue;
                    }
                    Err(refusal) => Err(refusal),
                }
            }
            Piece::Trace(t) => write_trace(conn, project, t, arrival, &mut touched)?,
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
    let mut stored = load_stored(conn, &groups, &touched)?;
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
    observation::write_rows(conn, &rows)?;
    for &seq in &touched.order {
        trace::refresh(conn, seq)?;
    }
    Ok(report)
}

/// Lays `o` of the trace `seq` over the pieces of its id the request gave before it.
pub(crate) fn add<'p>(
    groups: &mut Vec<Group<'p>>,
    by_id: &mut HashMap<(i64, &'p str), usize>,
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
) -> rusqlite::Result<HashMap<i64, HashMap<Box<str>, ObservationPiece>>> {
    let mut asked: HashMap<i64, (&str, Vec<&str>)> = HashMap::new();
    for g in groups {
        if !touched.made.contains_key(&g.seq) {
            let (_, ids) = asked
                .entry(g.seq)
                .or_insert((&*g.piece.trace_id, Vec::new()));
            ids.push(&*g.piece.id);
        }
    }
    let mut stored = HashMap::with_capacity(asked.len());
    for (seq, (trace_id, ids)) in asked {
        let found = observation::load_many(conn, trace_id, seq, &ids)?;
        stored.insert(seq, found);
    }
    Ok(stored)
}
