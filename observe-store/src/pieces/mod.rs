//! Writing [`Piece`]s: records that arrive in parts, out of order, with ids as text (what
//! `observe serve` receives), merged into the rows already stored.

pub(crate) mod coalesced;
mod fresh;
mod id_map;
mod in_place;
pub(crate) mod observation;
mod score;
mod short_text;
pub(crate) mod trace;

use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap;

use id_map::{IdMap, IdSet};
pub(crate) use in_place::Prepared;

use crate::pricing::PriceList;
use crate::{StoreError, StoreExporter};
use observe_model::model::{Observation, Timestamp};
use observe_model::piece::{ObservationPiece, Piece, ScorePiece, TracePiece};

/// What one [`StoreExporter::write_pieces`] call did, piece by piece.
///
/// ```
/// use observe_store::PieceReport;
/// let report = PieceReport::default();
/// assert_eq!(report.stored(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PieceReport {
    /// Observation pieces that made a new row.
    pub observations_created: usize,
    /// Observation pieces merged into a row already stored (same trace and id).
    pub observations_merged: usize,
    /// Trace pieces that made a new trace row.
    pub traces_created: usize,
    /// Trace pieces merged into a trace row already stored.
    pub traces_merged: usize,
    /// Score pieces stored (a score id seen before replaces the stored score).
    pub scores: usize,
    /// Pieces SQLite refused, each with its index in the request and the reason; the
    /// others are stored.
    pub refused: Vec<RefusedPiece>,
}

impl PieceReport {
    /// Pieces stored, created or merged.
    pub fn stored(&self) -> usize {
        self.observations_created
            + self.observations_merged
            + self.traces_created
            + self.traces_merged
            + self.scores
    }
}

/// A piece the store could not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedPiece {
    /// Its index in the `pieces` given to [`StoreExporter::write_pieces`].
    pub index: usize,
    /// Why, in SQLite's words.
    pub reason: String,
}

impl StoreExporter {
    /// Writes one request's pieces in one transaction, each merged into what the store
    /// holds for its id; see [Pieces](crate#pieces). `project` is stamped on every row
    /// written (`None` for the library's own local writes).
    ///
    /// A piece the store cannot keep (SQLite refuses it, or its trace id belongs to another
    /// project's trace) is listed in [`PieceReport::refused`] and the rest are stored; an
    /// error means nothing of the request was stored.
    ///
    /// ```
    /// use observe_model::model::Timestamp;
    /// use observe_model::piece::{ObservationPiece, Piece};
    /// use observe_store::StoreExporter;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut store = StoreExporter::open(dir.path().join("t.db")).unwrap();
    /// let update = ObservationPiece { end: Some(Timestamp(2_000_000)), ..ObservationPiece::new("t-1", "o-1") };
    /// let create = ObservationPiece {
    ///     name: Some("step".into()),
    ///     start: Some(Timestamp(1_000_000)),
    ///     ..ObservationPiece::new("t-1", "o-1")
    /// };
    /// let report = store
    ///     .write_pieces(Some("team-a"), &[Piece::Observation(update), Piece::Observation(create)])
    ///     .unwrap();
    /// assert_eq!((report.observations_created, report.observations_merged), (1, 1));
    /// ```
    pub fn write_pieces(
        &mut self,
        project: Option<&str>,
        pieces: &[Piece],
    ) -> Result<PieceReport, StoreError> {
        if pieces.is_empty() {
            return Ok(PieceReport::default());
        }
        let prepared = &mut self.pieces;
        let fast = self.writer.with_transaction(|conn, prices| {
            coalesced::apply(conn, prepared, prices, project, pieces)
        });
        let report = match fast {
            // Undone, and written again piece by piece, so that only the pieces SQLite
            // refuses are left out, each with its reason.
            Err(e) if crate::write_rules::is_row_failure(&e) => self
                .writer
                .with_transaction(|conn, prices| apply(conn, prices, project, pieces)),
            written => written,
        }
        .map_err(|e| StoreError::sqlite(&self.path, e))?;
        if let Some(first) = report.refused.first() {
            tracing::warn!(
                refused = report.refused.len(),
                first = %first.reason,
                "observe store: pieces refused, the rest of the request stored"
            );
        }
        Ok(report)
    }
}

/// Merges the library's observation `o`, which the trace `seq` (id `trace_id`) holds
/// already, into its row as a piece giving every field would merge, with its trace
/// attributes; the caller then refreshes the trace ([`refresh_trace`]).
pub(crate) fn merge_observation(
    conn: &Connection,
    trace_id: &str,
    seq: i64,
    o: &Observation,
    prices: &PriceList,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let mut piece = ObservationPiece::from(o);
    piece.trace_id = trace_id.into();
    let stored = observation::load(conn, trace_id, seq, &piece.id)?;
    let merged = observation::merge(stored, &piece);
    observation::write(conn, seq, &merged, prices, None, now)?;
    trace::merge_attributes(conn, seq, &o.trace, now)
}

/// Counts the trace `seq`'s totals again from its stored observations.
pub(crate) fn refresh_trace(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    trace::refresh(conn, seq)
}

/// Why a piece was not stored.
pub(crate) enum Refusal {
    /// Its trace id names another project's trace.
    OtherProject(Option<String>),
    /// Its id is empty.
    EmptyId(&'static str),
    /// SQLite refused a row (a value too big...).
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::OtherProject(Some(owner)) => {
                write!(f, "the trace id belongs to project `{owner}`")
            }
            Refusal::OtherProject(None) => {
                f.write_str("the trace id belongs to a trace recorded without a project")
            }
            Refusal::EmptyId(what) => write!(f, "the {what} id is empty"),
            Refusal::Sqlite(e) => write!(f, "{e}"),
        }
    }
}

/// What one piece did, when stored.
enum Stored {
    ObservationCreated,
    ObservationMerged,
    TraceCreated,
    TraceMerged,
    Score,
}

/// The request's pieces one by one, in order, each in a savepoint of its own, on the open
/// transaction; then the totals of every trace they touched. Slower than
/// [`coalesced::apply`], and used when that met a row SQLite refuses: here only the pieces
/// of that row are left out.
fn apply(
    conn: &Connection,
    prices: &PriceList,
    project: Option<&str>,
    pieces: &[Piece],
) -> rusqlite::Result<PieceReport> {
    let arrival = Timestamp::now();
    let mut report = PieceReport::default();
    let mut state = Touched::default();
    for (index, piece) in pieces.iter().enumerate() {
        // A refused piece leaves nothing half-written behind it.
        run(conn, "SAVEPOINT piece")?;
        let outcome = match apply_one(conn, prices, project, piece, arrival, &mut state) {
            Ok(outcome) => outcome,
            Err(e) if crate::write_rules::is_row_failure(&e) => Err(Refusal::Sqlite(e)),
            Err(e) => return Err(e),
        };
        match outcome {
            Ok(stored) => {
                run(conn, "RELEASE piece")?;
                report.count(stored);
            }
            Err(refusal) => {
                run(conn, "ROLLBACK TO piece")?;
                run(conn, "RELEASE piece")?;
                // A trace row this piece made is undone with it: look traces up again.
                state.seq_of.clear();
                state.last_merged.clear();
                state.made.clear();
                state.next_seq = None;
                report.refused.push(RefusedPiece {
                    index,
                    reason: refusal.to_string(),
                });
            }
        }
    }
    for &seq in &state.order {
        trace::refresh(conn, seq)?;
    }
    Ok(report)
}

impl PieceReport {
    /// Counts one piece stored.
    fn count(&mut self, stored: Stored) {
        *match stored {
            Stored::ObservationCreated => &mut self.observations_created,
            Stored::ObservationMerged => &mut self.observations_merged,
            Stored::TraceCreated => &mut self.traces_created,
            Stored::TraceMerged => &mut self.traces_merged,
            Stored::Score => &mut self.scores,
        } += 1;
    }
}

/// Runs one statement without parameters, prepared once per connection.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// The traces a request touched, by id, in the order it first named them.
#[derive(Default)]
struct Touched {
    seq_of: IdMap<Box<str>, i64>,
    order: Vec<i64>,
    /// The trace attributes last merged into each trace, by address: the spans of one
    /// request often share one set, and merging it again right after itself changes
    /// nothing.
    last_merged: FxHashMap<i64, usize>,
    /// Traces this request made, with the observation ids it wrote into them: any other id
    /// of such a trace cannot be stored yet, so it is not looked up.
    made: FxHashMap<i64, IdSet<Box<str>>>,
    /// The `seq` of the next trace made, once looked up.
    next_seq: Option<i64>,
}

impl Touched {
    /// The trace `id`'s `seq`, its row made if needed; whether this made it.
    fn trace(
        &mut self,
        conn: &Connection,
        id: &str,
        project: Option<&str>,
        start: Option<Timestamp>,
        arrival: Timestamp,
    ) -> rusqlite::Result<Result<(i64, bool), Refusal>> {
        if let Some(&seq) = self.seq_of.get(id) {
            return Ok(Ok((seq, false)));
        }
        match trace::find_or_create(conn, id, project, start, arrival, &mut self.next_seq)? {
            trace::Found::Trace { seq, created } => {
                self.seq_of.insert(id.into(), seq);
                self.order.push(seq);
                if created {
                    self.made.insert(seq, IdSet::default());
                }
                Ok(Ok((seq, created)))
            }
            trace::Found::OtherProject(owner) => Ok(Err(Refusal::OtherProject(owner))),
        }
    }
}

fn apply_one(
    conn: &Connection,
    prices: &PriceList,
    project: Option<&str>,
    piece: &Piece,
    arrival: Timestamp,
    touched: &mut Touched,
) -> rusqlite::Result<Result<Stored, Refusal>> {
    match piece {
        Piece::Observation(o) => {
            let seq = match observation_trace(conn, project, o, arrival, touched)? {
                Ok(seq) => seq,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let fresh = touched
                .made
                .get_mut(&seq)
                .is_some_and(|written| written.insert(o.id.clone()));
            let stored = match fresh {
                true => None,
                false => observation::load(conn, &o.trace_id, seq, &o.id)?,
            };
            let created = stored.is_none();
            let merged = observation::merge(stored, o);
            observation::write(conn, seq, &merged, prices, project, arrival)?;
            Ok(Ok(if created {
                Stored::ObservationCreated
            } else {
                Stored::ObservationMerged
            }))
        }
        Piece::Trace(t) => write_trace(conn, project, t, arrival, touched),
        Piece::Score(s) => write_score(conn, project, s, arrival),
    }
}

/// The `seq` of the trace of `o`, made if needed, with the trace attributes `o` carries
/// merged in; or why `o` is refused.
fn observation_trace(
    conn: &Connection,
    project: Option<&str>,
    o: &ObservationPiece,
    arrival: Timestamp,
    touched: &mut Touched,
) -> rusqlite::Result<Result<i64, Refusal>> {
    if o.trace_id.is_empty() {
        return Ok(Err(Refusal::EmptyId("trace")));
    }
    if o.id.is_empty() {
        return Ok(Err(Refusal::EmptyId("observation")));
    }
    let (seq, _) = match touched.trace(conn, &o.trace_id, project, o.start, arrival)? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let attributes = Arc::as_ptr(&o.trace) as usize;
    if touched.last_merged.insert(seq, attributes) != Some(attributes) {
        trace::merge_attributes(conn, seq, &o.trace, arrival)?;
    }
    Ok(Ok(seq))
}

/// Merges a trace piece into its trace row, made if needed.
fn write_trace(
    conn: &Connection,
    project: Option<&str>,
    t: &TracePiece,
    arrival: Timestamp,
    touched: &mut Touched,
) -> rusqlite::Result<Result<Stored, Refusal>> {
    if t.id.is_empty() {
        return Ok(Err(Refusal::EmptyId("trace")));
    }
    let (seq, created) = match touched.trace(conn, &t.id, project, t.timestamp, arrival)? {
        Ok(found) => found,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let (Some(start), false) = (t.timestamp, created) {
        trace::set_start(conn, seq, start)?;
    }
    touched.last_merged.remove(&seq);
    trace::merge_attributes(conn, seq, &t.attributes, arrival)?;
    Ok(Ok(if created {
        Stored::TraceCreated
    } else {
        Stored::TraceMerged
    }))
}

/// Stores a score piece, replacing a stored score of its id.
fn write_score(
    conn: &Connection,
    project: Option<&str>,
    s: &ScorePiece,
    arrival: Timestamp,
) -> rusqlite::Result<Result<Stored, Refusal>> {
    if s.id.is_empty() {
        return Ok(Err(Refusal::EmptyId("score")));
    }
    score::write(conn, s, project, arrival)?;
    Ok(Ok(Stored::Score))
}
