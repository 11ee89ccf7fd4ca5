//! Small lookups by id: the traces an id prefix names, a trace's scores.

use rusqlite::types::Value as SqlValue;

use crate::read::Store;
use crate::sql::{stream_rows, SqlError, Table};

impl Store {
    /// The ids of at most `limit` traces whose id starts with `prefix` (lowercase hex), in
    /// id order: one id when the prefix names one trace.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.trace_ids_with_prefix("1a2b", 2).unwrap().is_empty());
    /// ```
    pub fn trace_ids_with_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<String>, SqlError> {
        let table = self.held(
            "SELECT id FROM traces WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT ?2",
            &[
                SqlValue::Text(prefix.to_owned()),
                SqlValue::Integer(limit.into()),
            ],
        )?;
        Ok(first_texts(table))
    }

    /// The scores of the trace `trace_id`, by time: columns `name`, `value` (the string
    /// value, or the number as text), `data_type`, `observation_id` and `comment`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// let scores = store.trace_scores("0123456789abcdef0123456789abcdef").unwrap();
    /// assert_eq!(scores.columns, ["name", "value", "data_type", "observation_id", "comment"]);
    /// assert!(scores.rows.is_empty());
    /// ```
    pub fn trace_scores(&self, trace_id: &str) -> Result<Table, SqlError> {
        self.held(
            "SELECT name, COALESCE(string_value, CAST(value AS TEXT)) AS value, data_type,
                    observation_id, comment
             FROM scores WHERE trace_id = ?1 ORDER BY timestamp",
            &[SqlValue::Text(trace_id.to_owned())],
        )
    }

    /// Every row of `sql`, held: for lookups of a few rows.
    fn held(&self, sql: &str, args: &[SqlValue]) -> Result<Table, SqlError> {
        let mut table = Table {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        stream_rows(self.connection(), sql, args, &mut table)?;
        Ok(table)
    }
}

/// The text of each row's first column (ids), rows with something else left out.
pub(crate) fn first_texts(table: Table) -> Vec<String> {
    table
        .rows
        .into_iter()
        .filter_map(|row| match row.into_iter().next() {
            Some(SqlValue::Text(id)) => Some(id),
            _ => None,
        })
        .collect()
}
