//! `observe trace` and `observe session` on PostgreSQL: observations read back as the
//! model, through the same row reading as the SQLite store
//! ([`observation_from_values`](crate::read::observation_from_values)).

use std::collections::HashMap;

use observe_model::model::{Observation, SpanId, TraceId};

use crate::postgres::reader::values;
use crate::postgres::PgStore;
use crate::read::{observation_from_values, OBSERVATION_COLUMNS};
use crate::sql::SqlError;

/// How a column of [`OBSERVATION_COLUMNS`] is selected on PostgreSQL so that it reads as
/// the SQLite store holds it: flags as 0 or 1, JSON and tags as JSON text.
fn as_sqlite_holds(column: &str) -> String {
    match column {
        "t.public" | "o.cost_computed" => format!("{column}::int"),
        "t.tags" => "to_json(t.tags)::text".to_owned(),
        "o.model_parameters" | "o.usage_details" | "o.cost_details" | "o.metadata"
        | "t.metadata" => format!("{column}::text"),
        other => other.to_owned(),
    }
}

impl PgStore {
    /// Every observation of the trace `trace_id`, by start time.
    pub fn trace_observations(&mut self, trace_id: &str) -> Result<Vec<Observation>, SqlError> {
        self.observations_where(
            "o.trace_seq = (SELECT seq FROM traces WHERE id = $1)",
            trace_id,
        )
    }

    /// Every observation of every trace of the session `session_id`, by start time.
    pub fn session_observations(&mut self, session_id: &str) -> Result<Vec<Observation>, SqlError> {
        self.observations_where(
            "o.trace_seq IN (SELECT seq FROM traces WHERE session_id = $1)",
            session_id,
        )
    }

    fn observations_where(
        &mut self,
        filter: &str,
        arg: &str,
    ) -> Result<Vec<Observation>, SqlError> {
        let columns: Vec<String> = OBSERVATION_COLUMNS
            .iter()
            .map(|c| as_sqlite_holds(c))
            .collect();
        let sql = format!(
            "SELECT {} FROM observations o LEFT JOIN traces t ON t.seq = o.trace_seq
             WHERE {filter} ORDER BY o.start_ns, o.end_ns",
            columns.join(", ")
        );
        let failed =
            |e: postgres::Error| SqlError::from(crate::postgres::PgReadError::statement(&e));
        // Typed: one round trip, no statement prepared first.
        let rows = self
            .client()
            .query_typed(&sql, &[(&arg, postgres::types::Type::TEXT)])
            .map_err(failed)?;
        let mut traces = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.extend(observation_from_values(
                &values(row, row.len())?,
                &mut traces,
                &mut self.folded,
            ));
        }
        Ok(out)
    }

    /// How the trace `id` (as an [`Observation`] read from this store holds it) is shown:
    /// the sender's own text when it was not hex (`observe serve` keeps a UUID or
    /// `my-trace-1` as sent), else its hex, as
    /// [`Store::trace_id_text`](crate::Store::trace_id_text) shows it.
    pub fn trace_id_text(&self, id: TraceId) -> String {
        self.folded.trace_text(id)
    }

    /// How the observation `id` of the trace `trace` is shown: the sender's text when it
    /// was not hex, else its hex.
    pub fn observation_id_text(&self, trace: TraceId, id: SpanId) -> String {
        self.folded.observation_text(trace, id)
    }
}
