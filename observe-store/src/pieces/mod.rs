//! Writing [`Piece`]s: records that arrive in parts, out of order, with ids as text (what
//! `observe serve` receives), merged into the rows already stored.

use observe_model::piece::Piece;

use crate::{StoreError, StoreExporter};

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
    /// holds for its id: the fields a piece gives replace the stored ones, the others are
    /// kept. `project` is stamped on every row written (`None` for the library's own local
    /// writes).
    ///
    /// A piece SQLite refuses is listed in [`PieceReport::refused`] and the rest are
    /// stored; an error means nothing of the request was stored.
    ///
    /// ```
    /// use observe_store::StoreExporter;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut store = StoreExporter::open(dir.path().join("t.db")).unwrap();
    /// let report = store.write_pieces(Some("team-a"), &[]).unwrap();
    /// assert_eq!(report.stored(), 0);
    /// ```
    pub fn write_pieces(
        &mut self,
        project: Option<&str>,
        pieces: &[Piece],
    ) -> Result<PieceReport, StoreError> {
        let _ = project;
        if pieces.is_empty() {
            return Ok(PieceReport::default());
        }
        // The merge lands in the next commit of this branch.
        Err(StoreError::Refused {
            path: self.path.clone(),
            refused: pieces.len(),
            reason: "writing pieces is not implemented yet".to_owned(),
        })
    }
}
