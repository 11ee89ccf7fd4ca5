//! What the web view's reads on PostgreSQL share: rows as the JSON objects the SQLite
//! store's view reads give ([`json_object`]), and the aggregates spelled so that they
//! yield the same values as SQLite's.

use postgres::types::ToSql;
use serde_json::Value;

use crate::postgres::reader::values;
use crate::postgres::{PgReadError, PgStore};
use crate::queries::rows::json_object;
use crate::sql::SqlError;

/// [`OBSERVATION_TOTALS`](crate::queries::rows::OBSERVATION_TOTALS) on PostgreSQL: tokens
/// a real as SQLite's `TOTAL` gives them (0 with none), errors and warnings counting
/// traces, failed observations counting observations.
pub(super) const OBSERVATION_TOTALS: &str =
    "COALESCE(SUM(CASE WHEN jsonb_typeof(o.usage_details->'total') = 'number'
                  THEN (o.usage_details->>'total')::float8 END), 0)::float8 AS tokens,
    COUNT(DISTINCT CASE WHEN o.level = 'ERROR' THEN o.trace_seq END) AS errors,
    COUNT(DISTINCT CASE WHEN o.level = 'WARNING' THEN o.trace_seq END) AS warnings,
    COUNT(*) FILTER (WHERE o.level = 'ERROR') AS failed_observations";

/// Milliseconds between two `timestamptz`s, a real as SQLite's `julianday` arithmetic
/// gives it.
pub(super) fn millis_between(from: &str, to: &str) -> String {
    format!("(EXTRACT(EPOCH FROM ({to} - {from})) * 1000)::float8")
}

impl PgStore {
    /// Runs the store's own `sql` with `params`; each row becomes a JSON object keyed by
    /// column name, as the SQLite store's view reads make them.
    pub(super) fn objects(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Value>, SqlError> {
        let rows = self
            .client()
            .query(sql, params)
            .map_err(|e| SqlError::from(PgReadError::statement(&e)))?;
        rows.iter()
            .map(|row| {
                let names = row.columns().iter().map(|c| c.name());
                Ok(json_object(names.zip(values(row, row.len())?)))
            })
            .collect()
    }
}
