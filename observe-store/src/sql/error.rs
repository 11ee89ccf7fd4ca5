//! Why a query could not be translated or run: one error type for every step, so that
//! callers tell a refused query from a slow or failed one.

use std::time::Duration;

/// Why a query could not be translated or run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not PostgreSQL that `sqlparser` understands.
    #[error("cannot parse the query as PostgreSQL: {0}")]
    Parse(#[from] sqlparser::parser::ParserError),
    /// Something other than one read-only query.
    #[error("{0}")]
    NotAQuery(String),
    /// PostgreSQL that has no SQLite translation (yet).
    #[error("not supported over the local store: {0}")]
    Unsupported(String),
    /// The query ran past its time limit and was stopped.
    #[error(
        "the query ran longer than {}s and was stopped: narrow it (WHERE, LIMIT) or raise --timeout",
        limit.as_secs_f64()
    )]
    Timeout {
        /// The limit it ran past.
        limit: Duration,
    },
    /// The rows could not be written out.
    #[error("writing the rows: {0}")]
    Output(#[source] std::io::Error),
    /// SQLite refused or failed the translated query.
    #[error("{source}\n  translated SQL: {sql}")]
    Sqlite {
        /// The SQL that SQLite ran.
        sql: String,
        /// Its error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused or failed the query, or the store could not be read.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PgReadError),
}
