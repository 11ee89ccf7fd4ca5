//! Scores from pieces: stored as the library's scores are, a score id seen before
//! replacing the stored score (Langfuse upserts scores by id).

use rusqlite::{params, Connection};

use observe_model::model::Timestamp;
use observe_model::piece::ScorePiece;

const UPSERT: &str = "INSERT INTO scores (
    id, trace_id, observation_id, session_id, name, data_type, value, string_value, comment,
    timestamp, project_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT(id) DO UPDATE SET
    trace_id = excluded.trace_id, observation_id = excluded.observation_id,
    session_id = excluded.session_id, name = excluded.name, data_type = excluded.data_type,
    value = excluded.value, string_value = excluded.string_value, comment = excluded.comment,
    timestamp = excluded.timestamp, project_id = excluded.project_id";

/// Writes `s`; a score on no trace (a session's) is stored with an empty `trace_id`, and
/// one with no time takes `arrival`.
pub(crate) fn write(
    conn: &Connection,
    s: &ScorePiece,
    project: Option<&str>,
    arrival: Timestamp,
) -> rusqlite::Result<()> {
    conn.prepare_cached(UPSERT)?.execute(params![
        &*s.id,
        s.trace_id.as_deref().unwrap_or(""),
        s.observation_id.as_deref(),
        s.session_id.as_deref(),
        s.name,
        s.value.data_type(),
        s.value.as_number(),
        s.value.string_value(),
        s.comment.as_deref(),
        s.timestamp.unwrap_or(arrival).to_rfc3339(),
        project,
    ])?;
    Ok(())
}
