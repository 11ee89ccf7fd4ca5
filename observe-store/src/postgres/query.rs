//! A person's query on PostgreSQL: sent as written (no translation), inside a read-only
//! transaction with a statement timeout, its rows fetched a batch at a time so that a
//! row limit stops the server too.

use std::time::Duration;

use postgres::error::SqlState;

use super::read_error::PgReadError;
use super::reader::values;
use super::PgStore;
use crate::sql::{RowSink, SqlError};

/// Rows fetched from the server at a time: a sink that stops after a few rows leaves the
/// rest unfetched (and the portal closed with the transaction).
const FETCH_ROWS: i32 = 500;

impl PgStore {
    /// Runs `sql` as written in a `READ ONLY` transaction, handing its columns and rows
    /// to `sink` until it has no more or `sink` says stop; with a `timeout`, the server
    /// stops it (`SET LOCAL statement_timeout`) and it fails as
    /// [`SqlError::Timeout`]. A write fails with PostgreSQL's reason (`cannot execute
    /// INSERT in a read-only transaction`).
    ///
    /// ```no_run
    /// use observe_store::postgres::PgStore;
    /// use observe_store::sql::Table;
    /// let mut store = PgStore::connect("postgres://observe@db.internal/observe").unwrap();
    /// let mut table = Table { columns: vec![], rows: vec![] };
    /// store.query("SELECT COUNT(*) AS n FROM traces", None, &mut table).unwrap();
    /// assert_eq!(table.columns, ["n"]);
    /// ```
    pub fn query(
        &mut self,
        sql: &str,
        timeout: Option<Duration>,
        sink: &mut dyn RowSink,
    ) -> Result<(), SqlError> {
        let failed = |e: postgres::Error| match e.code() {
            Some(&SqlState::QUERY_CANCELED) if timeout.is_some() => SqlError::Timeout {
                limit: timeout.unwrap_or_default(),
            },
            _ => SqlError::from(PgReadError::statement(&e)),
        };
        let mut tx = self
            .client()
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(failed)?;
        // 0 is PostgreSQL's "no limit"; a limit under a millisecond is one.
        let millis = timeout.map_or(0, |t| t.as_millis().clamp(1, i32::MAX as u128));
        tx.batch_execute(&format!("SET LOCAL statement_timeout = {millis}"))
            .map_err(failed)?;
        let statement = tx.prepare(sql).map_err(failed)?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        sink.columns(&columns).map_err(SqlError::Output)?;
        if columns.is_empty() {
            // Not a query that returns rows (SET, a write): run it so PostgreSQL says what
            // it thinks of it.
            tx.execute(&statement, &[]).map_err(failed)?;
            return Ok(());
        }
        let portal = tx.bind(&statement, &[]).map_err(failed)?;
        'fetch: loop {
            let rows = tx.query_portal(&portal, FETCH_ROWS).map_err(failed)?;
            let last = rows.len() < FETCH_ROWS as usize;
            for row in &rows {
                if !sink.row(values(row)?).map_err(SqlError::Output)? {
                    break 'fetch;
                }
            }
            if last {
                break;
            }
        }
        // Read only: nothing to keep.
        tx.rollback().map_err(failed)
    }
}
