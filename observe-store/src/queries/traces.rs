//! The web view's traces: a trace's row, its observations, one observation in full, their
//! scores, and the newest trace (what the view's change token follows).

use rusqlite::types::Value as SqlValue;
use rusqlite::OptionalExtension as _;
use serde_json::Value;

use super::rows::{sql_value, SCORE_COLUMNS};
use crate::read::Store;
use crate::StoreError;

impl Store {
    /// The rows of at most two traces whose id starts with `prefix` (lowercase hex), as
    /// JSON objects: one row when the prefix names one trace. Its `seq` and `start_ns`
    /// are what [`trace_observation_rows`](Store::trace_observation_rows) and
    /// [`observation_row`](Store::observation_row) take the row for.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.trace_rows_with_prefix("1a2b").unwrap().is_empty());
    /// ```
    pub fn trace_rows_with_prefix(&self, prefix: &str) -> Result<Vec<Value>, StoreError> {
        self.objects(
            "SELECT seq, id, name, user_id, session_id, timestamp AS start, end_time AS \"end\",
                    latency_ms, calculated_total_cost AS cost, computed_cost, metadata, tags,
                    input, output,
                    release, version, environment, observation_count, start_ns
             FROM traces WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
            &[SqlValue::Text(prefix.to_owned())],
        )
    }

    /// The observations of `trace` (a row of
    /// [`trace_rows_with_prefix`](Store::trace_rows_with_prefix)) by start time, as JSON
    /// objects with the parent's id, `offset_ms` from the trace's start, latency, model,
    /// cost, tokens and time to first token.
    pub fn trace_observation_rows(&self, trace: &Value) -> Result<Vec<Value>, StoreError> {
        self.objects(
            "SELECT id, parent_observation_id AS parent_id, type, name, level, status_message,
                    (start_ns - ?2) / 1e6 AS offset_ms, (end_ns - start_ns) / 1e6 AS latency_ms,
                    model, calculated_total_cost AS cost, cost_computed,
                    json_extract(usage_details, '$.total') AS tokens,
                    (julianday(completion_start_time) - julianday(start_time)) * 86400000.0
                        AS ttft_ms
             FROM observations WHERE trace_seq = ?1 ORDER BY start_ns, end_ns",
            &[sql_value(&trace["seq"]), sql_value(&trace["start_ns"])],
        )
    }

    /// The observation `id` of `trace` (a row of
    /// [`trace_rows_with_prefix`](Store::trace_rows_with_prefix)) in full, as a JSON object.
    pub fn observation_row(&self, trace: &Value, id: &str) -> Result<Option<Value>, StoreError> {
        let found = self.objects(
            "SELECT id, parent_observation_id AS parent_id, type, name, level, status_message,
                    start_time AS start, end_time AS \"end\", latency_ms, model,
                    model_parameters, usage_details AS usage, cost_details,
                    calculated_total_cost AS cost, cost_computed, input, output, metadata,
                    completion_start_time, prompt_name, prompt_version, version,
                    (julianday(completion_start_time) - julianday(start_time)) * 86400000.0
                        AS ttft_ms
             FROM observations WHERE trace_seq = ?1 AND id = ?2",
            &[sql_value(&trace["seq"]), SqlValue::Text(id.to_owned())],
        )?;
        Ok(found.into_iter().next())
    }

    /// The scores of the trace `trace_id`, by time, as JSON objects: `name`, `data_type`,
    /// `value`, `string_value`, `comment`, `observation_id`, `trace_id`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.score_rows("0123456789abcdef0123456789abcdef").unwrap().is_empty());
    /// ```
    pub fn score_rows(&self, trace_id: &str) -> Result<Vec<Value>, StoreError> {
        self.objects(
            &format!("SELECT {SCORE_COLUMNS} FROM scores WHERE trace_id = ?1 ORDER BY timestamp"),
            &[SqlValue::Text(trace_id.to_owned())],
        )
    }

    /// The newest trace's `seq` and observation count, `(0, 0)` in an empty store: they
    /// change whenever a writer adds a trace or an observation to the newest one.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert_eq!(store.newest_trace().unwrap(), (0, 0));
    /// ```
    pub fn newest_trace(&self) -> Result<(i64, i64), StoreError> {
        let newest: Option<(i64, i64)> = self
            .prepare("SELECT seq, observation_count FROM traces ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(newest.unwrap_or((0, 0)))
    }
}
