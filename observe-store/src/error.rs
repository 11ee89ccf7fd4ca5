//! Why the store could not be opened, read or written: one error type for the writer and the
//! readers, apart from both.

use std::path::{Path, PathBuf};

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// There is no file at the path (readers do not create one).
    #[error(
        "no store at {} — run your app with observe (e.g. `cargo run --example content_analysis`) first",
        path.display()
    )]
    NotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// The folder for a new file could not be created.
    #[error("cannot create the folder for the store {}: {source}", path.display())]
    CreateDir {
        /// The file's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file was written by a newer observe, whose schema this build does not know.
    #[error(
        "{} has schema version {found}, newer than this observe knows ({supported}): upgrade observe \
         (`cargo install --path observe-cli` in a newer checkout)",
        path.display()
    )]
    NewerSchema {
        /// The file's path.
        path: PathBuf,
        /// Its schema version.
        found: i32,
        /// The newest this build knows.
        supported: i32,
    },
    /// Some records of a batch could not be stored (the rest were); `reason` is SQLite's
    /// for the first.
    #[error("store {}: {refused} record(s) of the batch could not be stored: {reason}", path.display())]
    Refused {
        /// The file's path.
        path: PathBuf,
        /// Records (observations and scores) not stored.
        refused: usize,
        /// Why the first was not.
        reason: String,
    },
    /// The file is not an observe store: not SQLite at all, an empty file (a store being
    /// created), or a SQLite file without the store's tables or columns; `reason` says
    /// which. Readers leave such a file as it is.
    #[error(
        "{} is not an observe store ({reason}): check --db / OBSERVE_STORE_PATH",
        path.display()
    )]
    NotAStore {
        /// The file's path.
        path: PathBuf,
        /// What the file is instead.
        reason: NotAStoreReason,
    },
    /// The file was written by an older observe; readers do not migrate, a writer does.
    #[error(
        "{} has schema version {found}, older than this observe reads ({supported}): \
         run `observe migrate` (or your app once) to bring it up to date",
        path.display()
    )]
    OlderSchema {
        /// The file's path.
        path: PathBuf,
        /// Its schema version.
        found: i32,
        /// The oldest version this build reads.
        supported: i32,
    },
    /// A project filter on a store older than the projects (schema version 7).
    #[error(
        "store {} has schema version {found}, older than projects (7): run `observe migrate` \
         (or any writer) on it first",
        path.display()
    )]
    NoProjects {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i32,
    },
    /// SQLite failed (locked for longer than the busy timeout, disk full...).
    #[error("store {}: {source}", path.display())]
    Sqlite {
        /// The file's path.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Why a file is not an observe store.
///
/// ```
/// use observe_store::NotAStoreReason;
/// let reason = NotAStoreReason::MissingTables(vec!["scores".into()]);
/// assert_eq!(reason.to_string(), "it lacks the tables scores");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAStoreReason {
    /// The file is not a SQLite database at all.
    #[error("it is not a SQLite database")]
    NotSqlite,
    /// The file is empty, or a SQLite file with no tables yet: an application may be
    /// creating the store right now.
    #[error(
        "it is empty: a store being created? run the command again once your app has written to it"
    )]
    Empty,
    /// A SQLite file that lacks some of the store's tables.
    #[error("it lacks the tables {}", .0.join(", "))]
    MissingTables(Vec<String>),
    /// The store's tables without a schema version: not written by observe.
    #[error("it has tables named as the store's but no schema version")]
    NoVersion,
    /// A table of the store lacks columns this observe reads.
    #[error("table {table} lacks the columns {}", missing.join(", "))]
    MissingColumns {
        /// The table.
        table: String,
        /// The columns it lacks.
        missing: Vec<String>,
    },
}

impl StoreError {
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: path.to_owned(),
            source,
        }
    }
}
