//! Running queries on a store: rows streamed to a sink as SQLite yields them, under a
//! time limit that SQLite's progress handler enforces.

use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::error::SqlError;
use super::table::Table;
use super::translate::translate;
use crate::read::Store;

/// Translates `postgres` and runs it on `store`, holding every row (for results known
/// to be small; [`stream`] keeps memory flat).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("traces.db");
/// # drop(observe_store::StoreExporter::open(&path).unwrap());
/// use observe_store::{sql, Store};
/// let store = Store::open(&path).unwrap();
/// let t = sql::query(&store, "SELECT EXTRACT(EPOCH FROM INTERVAL '1 day') AS s").unwrap();
/// assert_eq!(t.rows[0][0], sql::Value::Real(86400.0));
/// ```
pub fn query(store: &Store, postgres: &str) -> Result<Table, SqlError> {
    let translated = translate(postgres)?;
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    stream_rows(store.connection(), &translated, &[], &mut table)?;
    Ok(table)
}

/// Translates `postgres` and runs it on `store`, handing each row to `sink` as SQLite
/// produces it, so memory stays flat however many rows the query yields; returns the
/// SQLite SQL that ran. With a `timeout`, the query stops once it has run that long, also
/// while it computes before its first row (a sort, an aggregate, a runaway recursive CTE).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("traces.db");
/// # drop(observe_store::StoreExporter::open(&path).unwrap());
/// use std::time::Duration;
/// use observe_store::sql::{stream, SqlError, Table};
/// use observe_store::Store;
///
/// let mut store = Store::open(&path).unwrap();
/// let mut table = Table { columns: vec![], rows: vec![] };
/// let ran = stream(&mut store, "SELECT COUNT(*) AS n FROM traces", None, &mut table).unwrap();
/// assert_eq!(ran, "SELECT COUNT(*) AS n FROM traces");
/// assert_eq!(table.columns, ["n"]);
///
/// let runaway = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
///                SELECT COUNT(*) FROM r";
/// let err = stream(&mut store, runaway, Some(Duration::from_millis(50)), &mut table).unwrap_err();
/// assert!(matches!(err, SqlError::Timeout { .. }));
/// ```
pub fn stream(
    store: &mut Store,
    postgres: &str,
    timeout: Option<Duration>,
    sink: &mut dyn RowSink,
) -> Result<String, SqlError> {
    let translated = translate(postgres)?;
    stream_sqlite(store.connection_mut(), &translated, timeout, sink)?;
    Ok(translated)
}

/// Where [`stream`] sends a query's columns, then its rows one by one.
pub trait RowSink {
    /// The column names, as the query named them, before any row.
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()>;
    /// One row; `Ok(false)` stops the query (enough rows, or the reader went away).
    fn row(&mut self, row: Vec<SqlValue>) -> std::io::Result<bool>;
}

impl RowSink for Table {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<SqlValue>) -> std::io::Result<bool> {
        self.rows.push(row);
        Ok(true)
    }
}

/// How many SQLite virtual-machine steps run between two looks at the clock.
const STEPS_PER_CLOCK_CHECK: i32 = 10_000;

/// Runs SQLite SQL, streaming its rows to `sink`; SQLite's progress handler enforces the
/// `timeout`.
fn stream_sqlite(
    conn: &mut Connection,
    sql: &str,
    timeout: Option<Duration>,
    sink: &mut dyn RowSink,
) -> Result<(), SqlError> {
    let failed = |source| SqlError::Sqlite {
        sql: sql.to_owned(),
        source,
    };
    if let Some(limit) = timeout {
        let deadline = Instant::now() + limit;
        conn.progress_handler(
            STEPS_PER_CLOCK_CHECK,
            Some(move || Instant::now() >= deadline),
        )
        .map_err(failed)?;
    }
    let result = stream_rows(conn, sql, &[], sink);
    if timeout.is_some() {
        conn.progress_handler(0, None::<fn() -> bool>)
            .map_err(failed)?;
    }
    result.map_err(|e| match (e, timeout) {
        (SqlError::Sqlite { source, .. }, Some(limit))
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
        {
            SqlError::Timeout { limit }
        }
        (e, _) => e,
    })
}

/// Runs SQLite SQL without a time limit on a shared connection, streaming its rows to
/// `sink`: the store's own queries (over its indexes) and [`query`].
pub(crate) fn stream_rows(
    conn: &Connection,
    sql: &str,
    args: &[SqlValue],
    sink: &mut dyn RowSink,
) -> Result<(), SqlError> {
    let failed = |source| SqlError::Sqlite {
        sql: sql.to_owned(),
        source,
    };
    let mut stmt = conn.prepare(sql).map_err(failed)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    sink.columns(&columns).map_err(SqlError::Output)?;
    let mut cursor = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(failed)?;
    while let Some(row) = cursor.next().map_err(failed)? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(crate::text::lossy_value))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed)?;
        if !sink.row(values).map_err(SqlError::Output)? {
            break;
        }
    }
    Ok(())
}
