//! Where `observe serve` writes: the store file, or a team's PostgreSQL (`--db
//! postgres://...`, feature `postgres`). Both take a request's pieces with the same merge
//! rules; only the writer thread holds it.

use std::path::Path;

use observe_model::piece::Piece;
use observe_store::{PieceReport, StoreExporter};

use super::ServeError;

/// The schemes that name a PostgreSQL store instead of a file (`postgres:` alone takes
/// everything from libpq's variables).
const POSTGRES_SCHEMES: [&str; 2] = ["postgres:", "postgresql:"];

/// The PostgreSQL URL `db` (a `--db` value) names, if it names one rather than a file.
///
/// ```
/// use std::path::Path;
/// use observe_cli::serve::postgres_url;
///
/// assert!(postgres_url(Path::new("postgres://observe@db/observe")).is_some());
/// assert!(postgres_url(Path::new(".observe/traces.db")).is_none());
/// ```
pub fn postgres_url(db: &Path) -> Option<&str> {
    db.to_str()
        .filter(|s| POSTGRES_SCHEMES.iter().any(|p| s.starts_with(p)))
}

/// The store the writer thread writes.
pub(crate) enum ServeStore {
    /// The SQLite store file (boxed, as the other: each writer holds its buffers).
    File(Box<StoreExporter>),
    /// A PostgreSQL store.
    #[cfg(feature = "postgres")]
    Postgres(Box<observe_store::postgres::PgExporter>),
}

impl ServeStore {
    /// Opens the store `db` names, creating a file or migrating a database: a server that
    /// cannot write (a wrong password, a newer schema) says so before it listens.
    pub(crate) fn open(db: &Path) -> Result<ServeStore, ServeError> {
        let Some(url) = postgres_url(db) else {
            return Ok(ServeStore::File(Box::new(StoreExporter::open(db)?)));
        };
        #[cfg(feature = "postgres")]
        {
            use observe_store::postgres::{PgExporter, PgSettings};
            let settings = PgSettings::from_url(url)?;
            Ok(ServeStore::Postgres(Box::new(PgExporter::connect(
                settings,
            )?)))
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = url;
            Err(ServeError::NoPostgres)
        }
    }

    /// Where it writes, to show: the file's path, or the URL without its password.
    pub(crate) fn location(&self) -> String {
        match self {
            ServeStore::File(store) => store.path().display().to_string(),
            #[cfg(feature = "postgres")]
            ServeStore::Postgres(store) => store.settings().to_string(),
        }
    }

    /// Whether the web view can read it (a file; PostgreSQL not yet).
    pub(crate) fn is_file(&self) -> bool {
        matches!(self, ServeStore::File(_))
    }

    /// Writes one transaction's pieces; an error says why nothing of them was stored.
    pub(crate) fn write_pieces(
        &mut self,
        project: Option<&str>,
        pieces: &[Piece],
    ) -> Result<PieceReport, String> {
        match self {
            ServeStore::File(store) => store
                .write_pieces(project, pieces)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "postgres")]
            ServeStore::Postgres(store) => store
                .write_pieces(project, pieces)
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_postgres_and_paths_name_files() {
        assert_eq!(
            postgres_url(Path::new("postgres://u@db/observe")),
            Some("postgres://u@db/observe")
        );
        assert!(postgres_url(Path::new("postgresql:")).is_some());
        assert!(postgres_url(Path::new(".observe/traces.db")).is_none());
        assert!(postgres_url(Path::new("postgres.db")).is_none());
    }
}
