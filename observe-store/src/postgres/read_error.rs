//! Why reading a PostgreSQL store failed, said so that a person knows what to fix; no
//! variant holds the password.

use super::error::describe;
use super::PgStoreError;

/// Why a reader could not connect to, check or read a PostgreSQL store.
///
/// ```
/// use observe_store::postgres::PgReadError;
/// let e = PgReadError::Unreachable {
///     server: "postgres://observe@db.internal:5432/observe".into(),
///     reason: "Connection refused (os error 111)".into(),
/// };
/// assert!(e.to_string().starts_with("cannot reach PostgreSQL at postgres://observe@db.internal"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgReadError {
    /// The text given is not a `postgres://` URL.
    #[error("not a PostgreSQL URL ({reason}): expected postgres://USER@HOST:PORT/DATABASE")]
    BadUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// No server answered, or the connection broke.
    #[error("cannot reach PostgreSQL at {server}: {reason}")]
    Unreachable {
        /// Where it tried: the URL without the password.
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
    #[error("{server}: {problem}")]
    Store {
        /// The database.
        server: String,
        /// What the check found (its text is the message: not a source, which would
        /// repeat it).
        problem: PgStoreError,
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
                message: describe(e),
                code: String::new(),
            },
        }
    }
}
