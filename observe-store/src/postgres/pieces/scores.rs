//! Scores from pieces on PostgreSQL, as the SQLite side stores them: a score id seen
//! before replaces the stored score (Langfuse upserts scores by id).

use std::collections::BTreeMap;

use postgres::GenericClient;

use super::super::copy_text::text_param;
use observe_model::model::Timestamp;
use observe_model::piece::ScorePiece;

/// In id order, as every writer takes row locks.
const UPSERT: &str = "INSERT INTO scores AS s (id, trace_id, observation_id, session_id, name,
    data_type, value, string_value, comment, \"timestamp\", project_id)
SELECT k.id, k.trace_id, k.observation_id, k.session_id, k.name, k.data_type, k.value,
    k.string_value, k.comment, k.at::timestamptz, $11
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::float8[], $8::text[], $9::text[], $10::text[])
    AS k(id, trace_id, observation_id, session_id, name, data_type, value, string_value,
        comment, at)
ORDER BY k.id
ON CONFLICT (id) DO UPDATE SET
    trace_id = excluded.trace_id, observation_id = excluded.observation_id,
    session_id = excluded.session_id, name = excluded.name, data_type = excluded.data_type,
    value = excluded.value, string_value = excluded.string_value, comment = excluded.comment,
    \"timestamp\" = excluded.\"timestamp\", project_id = excluded.project_id";

/// Writes `scores` (one per id); a score on no trace (a session's) is stored with an
/// empty `trace_id`, and one with no time takes `arrival`.
pub(super) fn write(
    tx: &mut impl GenericClient,
    scores: &BTreeMap<&str, &ScorePiece>,
    project: Option<&str>,
    arrival: Timestamp,
) -> Result<(), postgres::Error> {
    if scores.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&ScorePiece) -> Option<&str>| -> Vec<Option<String>> {
        scores
            .values()
            .map(|s| f(s).map(|v| text_param(v).into_owned()))
            .collect()
    };
    let values: Vec<Option<f64>> = scores.values().map(|s| s.value.as_number()).collect();
    let at: Vec<String> = scores
        .values()
        .map(|s| s.timestamp.unwrap_or(arrival).to_rfc3339())
        .collect();
    tx.execute(
        UPSERT,
        &[
            &text(|s| Some(&s.id)),
            &text(|s| Some(s.trace_id.as_deref().unwrap_or(""))),
            &text(|s| s.observation_id.as_deref()),
            &text(|s| s.session_id.as_deref()),
            &text(|s| Some(&s.name)),
            &text(|s| Some(s.value.data_type())),
            &values,
            &text(|s| s.value.string_value()),
            &text(|s| s.comment.as_deref()),
            &at,
            &project.map(|p| text_param(p).into_owned()),
        ],
    )?;
    Ok(())
}
