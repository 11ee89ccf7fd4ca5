//! Where `observe serve` writes: the store file, or a team's PostgreSQL (`--db
//! postgres://...`, feature `postgres`). Both take a request's pieces with the same merge
//! rules; only the writer thread holds it.

use std::path::Path;

use observe_model::piece::Piece;
use observe_store::{is_postgres_url, PieceReport, StoreExporter};

use super::ServeError;

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
        let url = match db.to_str() {
            Some(url) if is_postgres_url(db.as_os_str()) => url,
            _ => return Ok(ServeStore::File(Box::new(StoreExporter::open(db)?))),
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
