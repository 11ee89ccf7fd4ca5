//! The web view's users: per user, traces, sessions, cost and latency.

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
        self.objects(
            "SELECT user_id, COUNT(*) AS traces, COUNT(DISTINCT session_id) AS sessions,
                    TOTAL(calculated_total_cost) AS cost,
                    TOTAL(computed_cost) AS computed_cost, AVG(latency_ms) AS avg_latency_ms,
                    MAX(latency_ms) AS max_latency_ms, MAX(timestamp) AS last_seen,
                    SUM(observation_count) AS observations
             FROM traces WHERE user_id IS NOT NULL GROUP BY user_id
             ORDER BY cost DESC, user_id LIMIT 1000",
            &[],
        )
    }
}
