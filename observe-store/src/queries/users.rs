//! The web view's users: per user, traces, sessions, cost and latency.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use crate::read::Store;
use crate::StoreError;

impl Store {
    /// Per user (at most 1,000, the most costly first), as JSON objects: `user_id`,
    /// `traces`, `sessions`, `cost`, `computed_cost`, `avg_latency_ms`, `max_latency_ms`,
    /// `last_seen`, `observations`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.user_rows().unwrap().is_empty());
    /// ```
    pub fn user_rows(&self) -> Result<Vec<Value>, StoreError> {
        if self.schema_version() >= crate::schema::USER_TOTALS_VERSION {
            let project = self
                .project()
                .map_or(SqlValue::Null, |p| SqlValue::Text(p.to_owned()));
            self.objects(USER_ROWS, &[project])
        } else {
            self.objects(USER_ROWS_FROM_TRACES, &[])
        }
    }
}

/// One row per user and project, kept by the writer's triggers ([`crate::user_totals`]):
/// the same figures as [`USER_ROWS_FROM_TRACES`], at a cost that does not grow with the
/// number of traces. A user's sessions in two projects are two sessions. `?1`: the project
/// reads are limited to, or NULL.
const USER_ROWS: &str = "SELECT user_id, SUM(traces) AS traces, SUM(sessions) AS sessions,
        TOTAL(cost) AS cost, TOTAL(computed_cost) AS computed_cost,
        TOTAL(latency_sum) / SUM(traces) AS avg_latency_ms,
        MAX(max_latency_ms) AS max_latency_ms, MAX(last_seen) AS last_seen,
        SUM(observations) AS observations
 FROM user_totals WHERE ?1 IS NULL OR project = ?1 GROUP BY user_id
 ORDER BY cost DESC, user_id LIMIT 1000";

/// For a file older than the per-user totals. Every column it reads is in the index
/// `traces_user` (schema version 8), so the answer comes from the index alone, one small
/// entry per trace in user order, never a table row.
pub(crate) const USER_ROWS_FROM_TRACES: &str =
    "SELECT user_id, COUNT(*) AS traces, COUNT(DISTINCT session_id) AS sessions,
        TOTAL(calculated_total_cost) AS cost,
        TOTAL(computed_cost) AS computed_cost, AVG(latency_ms) AS avg_latency_ms,
        MAX(latency_ms) AS max_latency_ms, MAX(timestamp) AS last_seen,
        SUM(observation_count) AS observations
 FROM traces WHERE user_id IS NOT NULL GROUP BY user_id
 ORDER BY cost DESC, user_id LIMIT 1000";

#[cfg(test)]
mod tests {
    use super::USER_ROWS_FROM_TRACES;
    use crate::queries::rows::plan;

    #[test]
    fn the_users_page_reads_the_covering_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        drop(crate::StoreExporter::open(&path).unwrap());
        let store = crate::Store::open(&path).unwrap();
        let steps = plan(&store, USER_ROWS_FROM_TRACES, &[]);
        assert!(
            steps
                .iter()
                .any(|s| s.contains("USING COVERING INDEX traces_user")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| s.starts_with("SCAN")), "{steps:?}");
    }
}
