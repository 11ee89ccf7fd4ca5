//! What the two write paths share (the library's batches in `write.rs`, pieces in
//! `pieces/`): which failures refuse one row, the cost the store computes, how a trace row
//! is found and numbered.

use rusqlite::ErrorCode;

use crate::pricing::{PriceList, PricingAttributes};
use observe_model::model::{Cost, ObservationDetails};

/// The `seq` for the batch's first new trace: above every trace's, and above every
/// observation's `trace_seq` (left behind if someone deleted its trace), so that a new
/// trace never takes over old observations.
pub(crate) const NEXT_SEQ: &str = "SELECT MAX(
    COALESCE((SELECT MAX(seq) FROM traces), 0),
    COALESCE((SELECT MAX(trace_seq) FROM observations), 0)) + 1";

/// A trace's `seq` and the project it belongs to.
pub(crate) const FIND_TRACE_PROJECT: &str = "SELECT seq, project_id FROM traces WHERE id = ?1";

/// True for the failure of one row (a broken constraint, a value too big for SQLite): that
/// row is refused and the batch goes on. Anything else (I/O, a full disk, a lock held too
/// long) fails the whole batch.
pub(crate) fn is_row_failure(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch)
    )
}

/// The cost of an observation with details `d` from its usage and `prices`, when it has
/// usage and a model and no cost was given (a given cost always wins, as on Langfuse's
/// server).
pub(crate) fn computed_cost(d: &ObservationDetails, prices: &PriceList) -> Option<Cost> {
    if d.cost.is_some() {
        return None;
    }
    let cost = prices.cost_with(d.model.as_deref()?, d.usage.as_ref()?, || {
        PricingAttributes::from_details(d)
    })?;
    // A price list from a file may hold anything: a cost that is not a number is none.
    cost.total().is_finite().then_some(cost)
}

/// The trace's scalar columns. Observations carry snapshots of the trace's attributes
/// that only grow, and the root, which ends last, carries the final ones; so the incoming
/// value wins unless the row holds the root's and the incoming batch has no root.
pub(crate) const TRACE_SCALARS: [&str; 9] = [
    "name",
    "user_id",
    "session_id",
    "version",
    "release",
    "environment",
    "public",
    "input",
    "output",
];
