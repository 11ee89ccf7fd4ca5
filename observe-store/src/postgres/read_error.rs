//! Why reading a PostgreSQL store failed, said so that a person knows what to fix; no
//! variant holds the password.

use super::PgStoreError;

/// Why a reader could not connect to, check or read a PostgreSQL store.
///
/// ```
/// use observe_store::postgres::PgReadError;
/// let e = PgReadError::Unreachable {
///     server: "observe@db.internal:5432/observe".into(),
///     reason: "Connection refused (os error 111)".into(),
/// };
/// assert!(e.to_string().starts_with("cannot reach PostgreSQL at observe@db.internal:5432/observe"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgReadError {
    /// The text given is not a connection URL or `key=value` string libpq would take.
    #[error("not a PostgreSQL connection string ({reason}): expected postgres://USER@HOST:PORT/DATABASE")]
    BadUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// No server answered, or the connection broke.
    #[error("cannot reach PostgreSQL at {server}: {reason}")]
    Unreachable {
        /// Where it tried: user, host, port and database, never the password.
        server: String,
        /// The client's reason.
        reason: String,
    },
    /// The server refused to let this user in (wrong password, no such role or database,
    /// no `pg_hba.conf` line).
    #[error("PostgreSQL at {server} refused the connection: {message}")]
    Refused {
        /// Where it tried, never the password.
        server: String,
        /// The server's reason.
        message: String,
    },
    /// The database is no observe store, or one this build cannot read.
    #[error("{server}: {source}")]
    Store {
        /// The database.
        server: String,
        /// What the check found.
        #[source]
        source: PgStoreError,
    },
    /// The server refused or failed a statement; for a person's query, the reason is
    /// PostgreSQL's own (a write is refused as `cannot execute INSERT in a read-only
    /// transaction`).
    #[error("PostgreSQL: {message}")]
    Statement {
        /// The server's message, with its detail and hint when it gave them.
        message: String,
        /// The SQLSTATE code (`25006` for a write in a read-only transaction).
        code: String,
    },
}

impl PgReadError {
    /// The client's error `e`, from a statement: the server's message when it sent one.
    pub(crate) fn statement(e: &postgres::Error) -> PgReadError {
        match e.as_db_error() {
            Some(db) => {
                let mut message = db.message().to_owned();
                if let Some(detail) = db.detail() {
                    message.push_str(&format!("\n  detail: {detail}"));
                }
                if let Some(hint) = db.hint() {
                    message.push_str(&format!("\n  hint: {hint}"));
                }
                PgReadError::Statement {
                    message,
                    code: db.code().code().to_owned(),
                }
            }
            None => PgReadError::Statement {
                message: chain(e),
                code: String::new(),
            },
        }
    }
}

/// `e` and its sources, joined with `: ` (the client's own text is only "db error" or
/// "error connecting to server"; the reason is in the sources).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
