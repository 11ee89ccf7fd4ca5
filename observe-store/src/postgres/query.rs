//! A person's query on PostgreSQL: sent as written (no translation), inside a read-only
//! transaction with a statement timeout, its rows fetched a batch at a time through a
//! cursor so that a row limit stops the server too.
//!
//! Rows come back in PostgreSQL's text form (the simple protocol's `FETCH`), so each value
//! prints as PostgreSQL prints it ([`printed_value`]): the form the SQLite store's
//! translation gives too, so a query prints alike over either store.

use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{SimpleQueryMessage, Transaction};

use super::printed::printed_value;
use super::read_error::PgReadError;
use super::PgStore;
use crate::sql::{RowSink, SqlError};

/// Rows fetched from the server at a time: a sink that stops after a few rows leaves the
/// rest unfetched (and the cursor closed with the transaction).
const FETCH_ROWS: usize = 500;

/// The cursor a query's rows are fetched through.
const CURSOR: &str = "observe_query";

impl PgStore {
    /// Runs `sql` as written in a `READ ONLY` transaction, handing its columns and rows
    /// (in their printed form, [`printed_value`]) to `sink` until it has no more or `sink`
    /// says stop. With a `timeout`, the server stops it (`SET LOCAL statement_timeout`,
    /// set to what is left before each batch of rows) and it fails as
    /// [`SqlError::Timeout`]. A write fails with PostgreSQL's reason (`cannot execute
    /// INSERT in a read-only transaction`); so does a second statement (`cannot insert
    /// multiple commands into a prepared statement`).
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
        let clock = Clock {
            started: Instant::now(),
            timeout,
        };
        let failed = |e: postgres::Error| clock.failed(&e);
        let mut tx = self
            .client()
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(failed)?;
        tx.batch_execute(&clock.set_timeout()?).map_err(failed)?;
        // Parsed by the server as one statement: the simple protocol below, which would
        // run several, only ever sees this one.
        let statement = tx.prepare(sql).map_err(failed)?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let types: Vec<Type> = statement
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        sink.columns(&columns).map_err(SqlError::Output)?;
        if columns.is_empty() {
            // Not a query that returns rows (SET, a write): run it so PostgreSQL says what
            // it thinks of it.
            tx.execute(&statement, &[]).map_err(failed)?;
            return Ok(());
        }
        // A refused DECLARE aborts the transaction: the savepoint, sent on its own (a
        // query string that does not parse runs none of its statements), takes it back.
        tx.batch_execute("SAVEPOINT declared").map_err(failed)?;
        let declared = tx.batch_execute(&format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}"));
        match declared {
            Ok(()) => fetch_all(&mut tx, &clock, &types, sink)?,
            // A statement with rows that no cursor takes (SHOW, EXPLAIN): its few rows
            // at once.
            Err(e) if e.code() == Some(&SqlState::SYNTAX_ERROR) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT declared")
                    .map_err(failed)?;
                let messages = tx
                    .simple_query(&format!("{}; {sql}", clock.set_timeout()?))
                    .map_err(failed)?;
                hand_rows(&messages, &types, sink)?;
            }
            Err(e) => return Err(failed(e)),
        }
        // Read only: nothing to keep.
        tx.rollback().map_err(failed)
    }
}

/// Fetches the cursor's rows a batch at a time until there are no more or `sink` stops.
fn fetch_all(
    tx: &mut Transaction<'_>,
    clock: &Clock,
    types: &[Type],
    sink: &mut dyn RowSink,
) -> Result<(), SqlError> {
    loop {
        let messages = tx
            .simple_query(&format!(
                "{}; FETCH {FETCH_ROWS} FROM {CURSOR}",
                clock.set_timeout()?
            ))
            .map_err(|e| clock.failed(&e))?;
        match hand_rows(&messages, types, sink)? {
            Handed::All(n) if n == FETCH_ROWS => continue,
            Handed::All(_) | Handed::Stopped => return Ok(()),
        }
    }
}

/// How many rows of a batch `sink` took.
enum Handed {
    /// All of them: this many.
    All(usize),
    /// `sink` said stop.
    Stopped,
}

/// Hands the rows among `messages` to `sink`, each value in its printed form.
fn hand_rows(
    messages: &[SimpleQueryMessage],
    types: &[Type],
    sink: &mut dyn RowSink,
) -> Result<Handed, SqlError> {
    let mut n = 0;
    for message in messages {
        let SimpleQueryMessage::Row(row) = message else {
            continue;
        };
        let values = types
            .iter()
            .enumerate()
            .map(|(i, ty)| printed_value(ty, row.get(i)))
            .collect();
        n += 1;
        if !sink.row(values).map_err(SqlError::Output)? {
            return Ok(Handed::Stopped);
        }
    }
    Ok(Handed::All(n))
}

/// The query's time limit, counted from its start across every round trip.
struct Clock {
    started: Instant,
    timeout: Option<Duration>,
}

impl Clock {
    /// `SET LOCAL statement_timeout` to what is left of the limit (0 is PostgreSQL's "no
    /// limit"; what is left under a millisecond is one); the limit's error once it is
    /// spent.
    fn set_timeout(&self) -> Result<String, SqlError> {
        let millis = match self.timeout {
            None => 0,
            Some(limit) => {
                let left = limit
                    .checked_sub(self.started.elapsed())
                    .filter(|left| !left.is_zero())
                    .ok_or(SqlError::Timeout { limit })?;
                left.as_millis().clamp(1, i32::MAX as u128)
            }
        };
        Ok(format!("SET LOCAL statement_timeout = {millis}"))
    }

    /// PostgreSQL's error as the query's: a cancelled statement under a limit is the
    /// limit's.
    fn failed(&self, e: &postgres::Error) -> SqlError {
        match (e.code(), self.timeout) {
            (Some(&SqlState::QUERY_CANCELED), Some(limit)) => SqlError::Timeout { limit },
            _ => SqlError::from(PgReadError::statement(e)),
        }
    }
}
