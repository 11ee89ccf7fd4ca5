//! The one `INSERT INTO observations` statement, for the library's batches (`write.rs`)
//! and for records in pieces (`pieces/`), so both write the same columns in the same order.

/// Values bound per observation row.
pub(crate) const OBSERVATION_PARAMS: usize = 26;

/// How an insert treats a row that breaks a constraint.
#[derive(Clone, Copy)]
pub(crate) enum OnConflict {
    /// `OR IGNORE`: the row is left out and the statement goes on. Only for many rows to a
    /// statement, where it spares SQLite the statement journal (its copy of every page the
    /// statement changes, kept for a statement that could fail half-way); the writer then
    /// checks that every row was stored, and writes the chunk again row by row with
    /// [`OnConflict::SkipStored`] when not, so no row is left out unseen.
    IgnoreChecked,
    /// A row already stored (same key) is skipped; any other broken constraint is an error
    /// that names the row's fault.
    SkipStored,
    /// The row replaces the one stored, column by column, but a project stays when the new
    /// row has none: for pieces, merged with the stored row before they are written
    /// (`pieces/`).
    Replace,
}

/// `INSERT INTO observations ... VALUES` and `rows` rows of parameters, numbered on from
/// `?1`, each row bound in `RowText::values` order (the batch path's, and the pieces'
/// in `pieces/observation.rs`).
pub(crate) fn insert_observations_sql(rows: usize, conflict: OnConflict) -> String {
    let mut sql = format!(
        "INSERT {}INTO observations (
    id, trace_id, parent_observation_id, type, name, level, status_message,
    start_time, end_time, start_ns, end_ns, latency_ms, completion_start_time,
    model, model_parameters, usage_details, cost_details, calculated_total_cost,
    input, output, metadata, prompt_name, prompt_version, version, trace_seq, cost_computed,
    project_id)
VALUES ",
        match conflict {
            OnConflict::IgnoreChecked => "OR IGNORE ",
            OnConflict::SkipStored | OnConflict::Replace => "",
        }
    );
    for row in 0..rows {
        let p = row * OBSERVATION_PARAMS;
        if row > 0 {
            sql.push_str(",\n    ");
        }
        sql.push('(');
        for n in 1..=OBSERVATION_PARAMS {
            if n > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", p + n));
            if n == 11 {
                // latency_ms, from start_ns and end_ns
                sql.push_str(&format!(", (?{} - ?{}) / 1e6", p + 11, p + 10));
            }
        }
        sql.push(')');
    }
    match conflict {
        OnConflict::IgnoreChecked => {}
        OnConflict::SkipStored => sql.push_str("\nON CONFLICT(trace_seq, id) DO NOTHING"),
        OnConflict::Replace => sql.push_str(REPLACE_OBSERVATION),
    }
    sql
}

/// The conflict clause of [`OnConflict::Replace`].
const REPLACE_OBSERVATION: &str = "
ON CONFLICT(trace_seq, id) DO UPDATE SET
    trace_id = excluded.trace_id,
    parent_observation_id = excluded.parent_observation_id,
    type = excluded.type, name = excluded.name, level = excluded.level,
    status_message = excluded.status_message,
    start_time = excluded.start_time, end_time = excluded.end_time,
    start_ns = excluded.start_ns, end_ns = excluded.end_ns, latency_ms = excluded.latency_ms,
    completion_start_time = excluded.completion_start_time,
    model = excluded.model, model_parameters = excluded.model_parameters,
    usage_details = excluded.usage_details, cost_details = excluded.cost_details,
    calculated_total_cost = excluded.calculated_total_cost,
    input = excluded.input, output = excluded.output, metadata = excluded.metadata,
    prompt_name = excluded.prompt_name, prompt_version = excluded.prompt_version,
    version = excluded.version, cost_computed = excluded.cost_computed,
    project_id = COALESCE(excluded.project_id, observations.project_id)";

#[cfg(test)]
mod sql_tests {
    use super::*;

    #[test]
    fn every_row_binds_every_parameter() {
        for conflict in [
            OnConflict::IgnoreChecked,
            OnConflict::SkipStored,
            OnConflict::Replace,
        ] {
            let sql = insert_observations_sql(3, conflict);
            let last = format!("?{}", 3 * OBSERVATION_PARAMS);
            assert!(sql.contains(&last), "{sql}");
            assert!(!sql.contains(&format!("?{}", 3 * OBSERVATION_PARAMS + 1)));
        }
    }
}
