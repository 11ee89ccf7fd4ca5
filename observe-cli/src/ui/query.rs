//! The Query page's SQL: `observe query`'s PostgreSQL translation, read-only guard and
//! streaming ([`sql::stream`]), with its row limit and time limit, so that one query can
//! neither hold a worker nor fill the memory.

use std::time::Duration;

use observe_store::sql::{self, RowSink, SqlError, Value};
use observe_store::Store;

/// How much one query may return and how long it may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Rows returned at most; the query stops at the next one.
    pub rows: usize,
    /// Time after which SQLite stops the query.
    pub time: Duration,
}

impl Default for QueryLimits {
    /// `observe query`'s defaults: 1,000 rows, 60 s.
    fn default() -> Self {
        QueryLimits {
            rows: 1000,
            time: Duration::from_secs(60),
        }
    }
}

/// What a query returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// At most [`QueryLimits::rows`] rows.
    pub rows: Vec<Vec<Value>>,
    /// Whether the query had more rows than the limit.
    pub truncated: bool,
    /// The SQLite SQL that ran.
    pub translated: String,
}

/// Keeps rows up to the limit, then stops the query.
struct Limited {
    result: QueryResult,
    limit: usize,
}

impl RowSink for Limited {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.result.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Value>) -> std::io::Result<bool> {
        if self.result.rows.len() == self.limit {
            self.result.truncated = true;
            return Ok(false);
        }
        self.result.rows.push(row);
        Ok(true)
    }
}

/// Translates `text` (PostgreSQL) and runs it on `store` within `limits`.
///
/// ```
/// use observe_cli::ui::QueryLimits;
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("traces.db");
/// # drop(observe_store::StoreExporter::open(&path).unwrap());
/// let mut store = observe_store::Store::open(&path).unwrap();
/// let limits = QueryLimits { rows: 2, ..QueryLimits::default() };
/// let r = observe_cli::ui::run_query(
///     &mut store,
///     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
///     limits,
/// )
/// .unwrap();
/// assert_eq!(r.rows.len(), 2);
/// assert!(r.truncated);
/// assert!(observe_cli::ui::run_query(&mut store, "DELETE FROM traces", limits).is_err());
/// ```
pub fn run(store: &mut Store, text: &str, limits: QueryLimits) -> Result<QueryResult, SqlError> {
    let mut sink = Limited {
        result: QueryResult::default(),
        limit: limits.rows,
    };
    sink.result.translated = sql::stream(store, text, Some(limits.time), &mut sink)?;
    Ok(sink.result)
}
