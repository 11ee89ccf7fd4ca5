//! Records that arrive in pieces (what `observe serve` receives) written into PostgreSQL
//! with the SQLite store's rules: one observation row per id whatever the order of its
//! pieces, trace attributes merged, a trace's totals counted again from its observations.
//! What merges how is the SQLite side's (`crate::pieces`: a stored row read back as a
//! piece, a piece laid over another, the row written from the result, trace attributes laid
//! over each other); this module only reads and writes PostgreSQL's rows.
//!
//! One request is one transaction. Its traces are made or locked first, all in one
//! statement in trace-id order, as [`PgExporter`](super::PgExporter) does: writers on many
//! hosts touching the same traces wait for each other and never deadlock. A request the
//! server refuses for a value is written again piece by piece, each in a savepoint, so
//! that only the pieces it refuses are left out.

mod observations;
mod scores;
mod traces;

use std::collections::{BTreeMap, HashMap, HashSet};

use postgres::{Client, GenericClient};

use super::error::describe;
use super::write::is_data_error;
use super::{PgExporter, PgStoreError};
use crate::pieces::coalesced::{add, Group};
use crate::pieces::trace::lay_over;
use crate::pieces::{PieceReport, Refusal, RefusedPiece};
use crate::pricing::PriceList;
use observe_model::model::{Timestamp, TraceAttributes};
use observe_model::piece::{Piece, ScorePiece};
use traces::TraceRow;

impl PgExporter {
    /// Writes one request's pieces in one transaction, each merged into what the store
    /// holds for its id, as [`StoreExporter::write_pieces`](crate::StoreExporter::write_pieces)
    /// does in SQLite; `project` is stamped on every row written.
    ///
    /// A piece the store cannot keep (the server refuses one of its values, or its trace id
    /// belongs to another project's trace) is listed in [`PieceReport::refused`] and the
    /// rest are stored; an error (the server unreachable, the connection lost) means
    /// nothing of the request was stored, and the next call connects again.
    ///
    /// ```no_run
    /// use observe_model::model::Timestamp;
    /// use observe_model::piece::{ObservationPiece, Piece};
    /// use observe_store::postgres::{PgExporter, PgSettings};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut store = PgExporter::connect(PgSettings::from_url("postgres://observe@db/observe")?)?;
    /// let update = ObservationPiece { end: Some(Timestamp(2_000_000)), ..ObservationPiece::new("t-1", "o-1") };
    /// let create = ObservationPiece {
    ///     name: Some("step".into()),
    ///     start: Some(Timestamp(1_000_000)),
    ///     ..ObservationPiece::new("t-1", "o-1")
    /// };
    /// let report = store.write_pieces(Some("team-a"), &[Piece::Observation(update), Piece::Observation(create)])?;
    /// assert_eq!((report.observations_created, report.observations_merged), (1, 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_pieces(
        &mut self,
        project: Option<&str>,
        pieces: &[Piece],
    ) -> Result<PieceReport, PgStoreError> {
        if pieces.is_empty() {
            return Ok(PieceReport::default());
        }
        let report = self.on_connection(|client, prices| write(client, prices, project, pieces))?;
        if let Some(first) = report.refused.first() {
            tracing::warn!(
                refused = report.refused.len(),
                first = %first.reason,
                "observe store (PostgreSQL): pieces refused, the rest of the request stored"
            );
        }
        Ok(report)
    }
}

/// The request in one transaction; again piece by piece when the server refuses a value.
fn write(
    client: &mut Client,
    prices: &PriceList,
    project: Option<&str>,
    pieces: &[Piece],
) -> Result<PieceReport, postgres::Error> {
    let arrival = Timestamp::now();
    let mut tx = client.transaction()?;
    let mut request = Request::start(&mut tx, prices, project, pieces, arrival)?;
    let all: Vec<usize> = (0..pieces.len()).collect();
    let written = request
        .apply(&mut tx, &all)
        .and_then(|()| request.finish(&mut tx));
    match written {
        Ok(()) => {
            tx.commit()?;
            Ok(request.report)
        }
        Err(e) if is_data_error(&e) => {
            tx.rollback()?;
            one_by_one(client, prices, project, pieces, arrival)
        }
        Err(e) => Err(e),
    }
}

/// The request's pieces one at a time, each in a savepoint, after its traces are locked
/// in id order: a piece the server refuses is left out alone, with its reason.
fn one_by_one(
    client: &mut Client,
    prices: &PriceList,
    project: Option<&str>,
    pieces: &[Piece],
    arrival: Timestamp,
) -> Result<PieceReport, postgres::Error> {
    let mut tx = client.transaction()?;
    let mut request = Request::start(&mut tx, prices, project, pieces, arrival)?;
    // Earlier pieces of the request write into the traces it made: every row is looked up.
    request.made.clear();
    for index in 0..pieces.len() {
        let mut savepoint = tx.savepoint("piece")?;
        let before = request.snapshot();
        match request.apply(&mut savepoint, &[index]) {
            Ok(()) => savepoint.commit()?,
            Err(e) if is_data_error(&e) => {
                savepoint.rollback()?;
                request.restore(before);
                request.report.refused.push(RefusedPiece {
                    index,
                    reason: describe(&e),
                });
            }
            Err(e) => return Err(e),
        }
    }
    request.finish(&mut tx)?;
    // A trace row made for pieces that were all refused goes with them.
    let unused: Vec<i64> = request
        .created
        .iter()
        .copied()
        .filter(|seq| !request.named_set.contains(seq))
        .collect();
    traces::delete(&mut tx, &unused)?;
    tx.commit()?;
    Ok(request.report)
}

/// One request being written.
struct Request<'p> {
    prices: &'p PriceList,
    project: Option<&'p str>,
    pieces: &'p [Piece],
    arrival: Timestamp,
    /// The trace rows the request names, made or locked, by id.
    traces: HashMap<&'p str, TraceRow>,
    /// Traces this transaction made.
    created: Vec<i64>,
    /// Traces made by this request that no stored row is looked up in (none stored yet).
    made: HashSet<i64>,
    /// Traces a stored piece named, in the order first named, and as a set.
    named: Vec<i64>,
    named_set: HashSet<i64>,
    report: PieceReport,
}

/// What [`Request::restore`] puts back after a savepoint is rolled back.
struct Snapshot {
    named: usize,
    report: PieceReport,
}

/// What a set of pieces gives the rows, gathered before anything is written.
#[derive(Default)]
struct Gathered<'p> {
    /// Trace attributes laid over each other, by trace.
    attributes: BTreeMap<i64, TraceAttributes>,
    /// The last time a trace piece gave its trace, by trace.
    starts: BTreeMap<i64, Timestamp>,
    /// Observations, each id's pieces laid over each other.
    groups: Vec<Group<'p>>,
    by_id: HashMap<(i64, &'p str), usize>,
    /// Scores by id (a later one of the same id replaces an earlier).
    scores: BTreeMap<&'p str, &'p ScorePiece>,
}

impl<'p> Request<'p> {
    /// Makes or locks every trace `pieces` name, in id order.
    fn start(
        tx: &mut impl GenericClient,
        prices: &'p PriceList,
        project: Option<&'p str>,
        pieces: &'p [Piece],
        arrival: Timestamp,
    ) -> Result<Request<'p>, postgres::Error> {
        // Each trace id with the time of the first piece naming it: a trace made takes it.
        let mut first: BTreeMap<&str, Timestamp> = BTreeMap::new();
        for piece in pieces {
            let (id, start) = match piece {
                Piece::Observation(o) if !o.id.is_empty() => (&*o.trace_id, o.start),
                Piece::Trace(t) => (&*t.id, t.timestamp),
                _ => continue,
            };
            if !id.is_empty() {
                first.entry(id).or_insert(start.unwrap_or(arrival));
            }
        }
        let traces = traces::lock(tx, &first, project, arrival)?;
        let created: Vec<i64> = traces
            .values()
            .filter(|t| t.created)
            .map(|t| t.seq)
            .collect();
        Ok(Request {
            prices,
            project,
            pieces,
            arrival,
            made: created.iter().copied().collect(),
            created,
            traces,
            named: Vec::new(),
            named_set: HashSet::new(),
            report: PieceReport::default(),
        })
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            named: self.named.len(),
            report: self.report.clone(),
        }
    }

    fn restore(&mut self, before: Snapshot) {
        for seq in self.named.drain(before.named..) {
            self.named_set.remove(&seq);
        }
        self.report = before.report;
    }

    /// The trace `id`'s `seq`, or why pieces of it are refused.
    fn trace(&self, id: &str) -> Result<(i64, bool), Refusal> {
        // `start` locked every trace id the pieces name but the empty one.
        let Some(row) = self.traces.get(id).filter(|_| !id.is_empty()) else {
            return Err(Refusal::EmptyId("trace"));
        };
        match (row.project.as_deref(), self.project) {
            (Some(owner), Some(project)) if owner != project => {
                Err(Refusal::OtherProject(Some(owner.to_owned())))
            }
            (None, Some(_)) => Err(Refusal::OtherProject(None)),
            _ => Ok((row.seq, row.created)),
        }
    }

    /// Notes that a stored piece named the trace `seq`; whether it is the first to.
    fn name(&mut self, seq: i64) -> bool {
        let first = self.named_set.insert(seq);
        if first {
            self.named.push(seq);
        }
        first
    }

    /// Writes the pieces at `indices` (their traces locked by [`Request::start`]).
    fn apply(
        &mut self,
        tx: &mut impl GenericClient,
        indices: &[usize],
    ) -> Result<(), postgres::Error> {
        let pieces = self.pieces;
        let mut g = Gathered::default();
        for &index in indices {
            let Some(piece) = pieces.get(index) else {
                continue;
            };
            if let Err(refusal) = self.gather(piece, &mut g) {
                self.report.refused.push(RefusedPiece {
                    index,
                    reason: refusal.to_string(),
                });
            }
        }
        traces::merge_attributes(tx, &g.attributes, self.arrival)?;
        traces::set_start(tx, &g.starts)?;
        let mut stored = observations::load(tx, &g.groups, &self.made)?;
        let mut merged = Vec::with_capacity(g.groups.len());
        for group in g.groups {
            let row = stored.remove(&(group.seq, group.piece.id.clone()));
            match row {
                Some(row) => {
                    self.report.observations_merged += group.pieces;
                    let piece = crate::pieces::observation::merge(Some(row), &group.piece);
                    merged.push((group.seq, std::borrow::Cow::Owned(piece)));
                }
                None => {
                    self.report.observations_created += 1;
                    self.report.observations_merged += group.pieces - 1;
                    merged.push((group.seq, group.piece));
                }
            }
        }
        observations::write(tx, &merged, self.prices, self.project, self.arrival)?;
        scores::write(tx, &g.scores, self.project, self.arrival)
    }

    /// Adds `piece` to what the request gives the rows, or says why it is refused.
    fn gather(&mut self, piece: &'p Piece, g: &mut Gathered<'p>) -> Result<(), Refusal> {
        match piece {
            Piece::Observation(o) => {
                if o.trace_id.is_empty() {
                    return Err(Refusal::EmptyId("trace"));
                }
                if o.id.is_empty() {
                    return Err(Refusal::EmptyId("observation"));
                }
                let (seq, _) = self.trace(&o.trace_id)?;
                self.name(seq);
                lay_over(g.attributes.entry(seq).or_default(), &o.trace);
                add(&mut g.groups, &mut g.by_id, seq, o);
            }
            Piece::Trace(t) => {
                let (seq, created) = self.trace(&t.id)?;
                let first = self.name(seq);
                lay_over(g.attributes.entry(seq).or_default(), &t.attributes);
                if let Some(start) = t.timestamp {
                    g.starts.insert(seq, start);
                }
                if created && first {
                    self.report.traces_created += 1;
                } else {
                    self.report.traces_merged += 1;
                }
            }
            Piece::Score(s) => {
                if s.id.is_empty() {
                    return Err(Refusal::EmptyId("score"));
                }
                g.scores.insert(&s.id, s);
                self.report.scores += 1;
            }
        }
        Ok(())
    }

    /// Counts the totals of every trace the stored pieces named again.
    fn finish(&mut self, tx: &mut impl GenericClient) -> Result<(), postgres::Error> {
        traces::refresh(tx, &self.named)
    }
}
