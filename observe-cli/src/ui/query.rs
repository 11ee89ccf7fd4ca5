//! The Query page's SQL: the same PostgreSQL translation and read-only guard as
//! `observe query`, with a row limit and a time limit so that one query cannot hold the
//! server.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::Connection;

use crate::sql::{self, SqlError};

/// How much one query may return and how long it may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Rows returned at most; the rest are left unread.
    pub rows: usize,
    /// Time after which SQLite is interrupted.
    pub time: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            rows: 1000,
            time: Duration::from_secs(10),
        }
    }
}

/// What a query returned.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// At most [`QueryLimits::rows`] rows.
    pub rows: Vec<Vec<Value>>,
    /// Whether rows were left unread because of the row limit.
    pub truncated: bool,
    /// The SQLite SQL that ran.
    pub translated: String,
}

/// Translates `text` (PostgreSQL) and runs it on `conn` within `limits`.
///
/// ```
/// use observe_cli::ui::QueryLimits;
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// observe_cli::sql::register_functions(&conn).unwrap();
/// let limits = QueryLimits { rows: 2, ..QueryLimits::default() };
/// let r = observe_cli::ui::run_query(
///     &conn,
///     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
///     limits,
/// )
/// .unwrap();
/// assert_eq!(r.rows.len(), 2);
/// assert!(r.truncated);
/// assert!(observe_cli::ui::run_query(&conn, "DELETE FROM t", limits).is_err());
/// ```
pub fn run(conn: &Connection, text: &str, limits: QueryLimits) -> Result<QueryResult, SqlError> {
    let translated = sql::translate(text)?;
    let failed = |source| SqlError::Sqlite {
        sql: translated.clone(),
        source,
    };
    let _watchdog = Watchdog::start(conn, limits.time);
    let mut stmt = conn.prepare(&translated).map_err(failed)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut cursor = stmt.query([]).map_err(failed)?;
    while let Some(row) = cursor.next().map_err(failed)? {
        if rows.len() == limits.rows {
            truncated = true;
            break;
        }
        rows.push(
            (0..n)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(failed)?,
        );
    }
    drop(cursor);
    Ok(QueryResult {
        columns,
        rows,
        truncated,
        translated,
    })
}

/// Interrupts the connection's statement when the time is up, unless dropped before.
struct Watchdog {
    // Dropping the sender wakes the thread, which then leaves without interrupting.
    _done: mpsc::Sender<()>,
}

impl Watchdog {
    fn start(conn: &Connection, limit: Duration) -> Watchdog {
        let handle = conn.get_interrupt_handle();
        let (done, wait) = mpsc::channel::<()>();
        let deadline = Instant::now() + limit;
        std::thread::spawn(move || {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(left) {
                handle.interrupt();
            }
        });
        Watchdog { _done: done }
    }
}
