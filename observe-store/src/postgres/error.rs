//! What can go wrong between the store and a PostgreSQL server.

/// An error from the PostgreSQL store.
///
/// No variant holds the connection URL: it may carry a password.
///
/// ```
/// use observe_store::postgres::PgStoreError;
///
/// let e = PgStoreError::NewerSchema { found: 9, supported: 1 };
/// assert!(e.to_string().contains("newer"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgStoreError {
    /// The server refused a statement or the connection failed.
    #[error("PostgreSQL: {}", describe(.0))]
    Postgres(#[from] postgres::Error),
    /// The store's URL (or a libpq variable filling it) cannot be used.
    #[error("the PostgreSQL store URL is not valid: {reason}")]
    Url {
        /// What is wrong with it (the password replaced by `***`).
        reason: String,
    },
    /// No connection could be opened: the server is down or unreachable, the host unknown,
    /// or the server refused the user or its password.
    #[error("could not connect to the PostgreSQL store at {target}: {reason}")]
    Connect {
        /// The URL without its password.
        target: String,
        /// The failure and its causes, in one line.
        reason: String,
        /// The client library's error.
        #[source]
        source: postgres::Error,
    },
    /// Records of a batch the server refused for their values (the rest was written).
    #[error("PostgreSQL refused {refused} of the batch's records: {reason}")]
    Refused {
        /// How many.
        refused: usize,
        /// The server's reason for the first.
        reason: String,
    },
    /// TLS could not be set up (a root certificate file that cannot be read).
    #[error("TLS to the PostgreSQL store: {reason}")]
    Tls {
        /// What failed.
        reason: String,
    },
    /// The database was migrated by a newer observe; this one cannot write or read it.
    #[error(
        "the PostgreSQL store has schema version {found}, newer than this build's {supported}: \
         upgrade observe"
    )]
    NewerSchema {
        /// The version in the database.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
    /// The database is older than a reader takes; a writer (any process recording traces
    /// into it) migrates it.
    #[error(
        "the PostgreSQL store has schema version {found}, older than {supported}: \
         run a writer of this version once to migrate it"
    )]
    OlderSchema {
        /// The version in the database.
        found: i32,
        /// The oldest version this build reads.
        supported: i32,
    },
    /// The database has no observe store: no writer has migrated it yet, or the URL names
    /// another database, or someone changed the tables by hand.
    #[error("the PostgreSQL database has no observe store (missing: {})", missing.join(", "))]
    NotAStore {
        /// The store's tables (`traces`) or columns (`traces.session_id`) it lacks.
        missing: Vec<String>,
    },
}

/// The error and its causes in one line: `postgres::Error` alone says only "db error" or
/// "error connecting to server".
pub(super) fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
