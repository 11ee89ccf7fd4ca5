//! One reading surface over either store: the SQLite file or a team's PostgreSQL
//! (feature `postgres`). The `observe` command holds a [`Reader`] and prints what it
//! returns with one printing code: both stores return the same row types, and for the
//! same traces the same rows in the same order.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use observe_model::model::Observation;

use crate::queries::TraceFilter;
use crate::sql::{RowSink, SqlError, Table};
use crate::{Store, StoreError};

/// The schemes that name a PostgreSQL store instead of a file (`postgres:` alone takes
/// everything from libpq's variables).
pub const POSTGRES_SCHEMES: [&str; 2] = ["postgres:", "postgresql:"];

/// Whether `db` (a `--db` value) names a PostgreSQL store rather than a file.
///
/// ```
/// use observe_store::is_postgres_url;
/// assert!(is_postgres_url("postgresql://observe@db/observe".as_ref()));
/// assert!(!is_postgres_url(".observe/traces.db".as_ref()));
/// ```
pub fn is_postgres_url(db: &OsStr) -> bool {
    db.to_str()
        .is_some_and(|s| POSTGRES_SCHEMES.iter().any(|p| s.starts_with(p)))
}

/// A store opened for reading.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("traces.db");
/// # drop(observe_store::StoreExporter::open(&path).unwrap());
/// use observe_store::{sql::Table, Reader};
/// let mut reader = Reader::open(path.as_os_str()).unwrap();
/// let mut table = Table { columns: vec![], rows: vec![] };
/// reader.sessions_list(50, &mut table).unwrap();
/// assert_eq!(table.columns[0], "session");
/// assert!(reader.location().ends_with("traces.db"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Reader {
    /// The SQLite store file.
    Sqlite(Store),
    /// A PostgreSQL store.
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::PgStore),
}

/// Why a [`Reader`] could not open or read its store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The SQLite store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query failed (on either store).
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The PostgreSQL store could not be reached or read.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PgReadError),
    /// `--db` names a PostgreSQL store, and this build has no PostgreSQL client.
    #[error(
        "this observe was built without PostgreSQL: rebuild it with the cargo feature `postgres`"
    )]
    NoPostgres,
}

impl Reader {
    /// Opens `db`: a PostgreSQL URL ([`is_postgres_url`]) or the path of a store file.
    pub fn open(db: &OsStr) -> Result<Reader, ReadError> {
        if is_postgres_url(db) {
            #[cfg(feature = "postgres")]
            return Ok(Reader::Postgres(crate::postgres::PgStore::connect(
                db.to_str().unwrap_or_default(),
            )?));
            #[cfg(not(feature = "postgres"))]
            return Err(ReadError::NoPostgres);
        }
        Ok(Reader::Sqlite(Store::open(Path::new(db))?))
    }

    /// Limits every read to one project's rows ([`Store::set_project`], and on
    /// PostgreSQL `PgStore::set_project`); `None` reads them all.
    pub fn set_project(&mut self, project: Option<&str>) -> Result<(), ReadError> {
        match self {
            Reader::Sqlite(store) => Ok(store.set_project(project)?),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => Ok(pg.set_project(project)?),
        }
    }

    /// Whether the store keeps the dashboard's hourly roll-up of traces, `trace_hours`
    /// (SQLite files from schema version 11, PostgreSQL from migration 6), which a
    /// dashboard widget may read instead of the traces.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let reader = observe_store::Reader::open(path.as_os_str()).unwrap();
    /// assert!(reader.has_trace_hours());
    /// ```
    pub fn has_trace_hours(&self) -> bool {
        match self {
            Reader::Sqlite(store) => store.schema_version() >= crate::schema::TRACE_HOURS_VERSION,
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.has_trace_hours(),
        }
    }

    /// The text a trace id was sent as ([`Store::trace_id_text`]).
    pub fn trace_id_text(&self, id: observe_model::model::TraceId) -> String {
        match self {
            Reader::Sqlite(store) => store.trace_id_text(id),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.trace_id_text(id),
        }
    }

    /// The text an observation id was sent as ([`Store::observation_id_text`]).
    pub fn observation_id_text(
        &self,
        trace: observe_model::model::TraceId,
        id: observe_model::model::SpanId,
    ) -> String {
        match self {
            Reader::Sqlite(store) => store.observation_id_text(trace, id),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.observation_id_text(trace, id),
        }
    }

    /// Where the store is, for messages: the file's path, or PostgreSQL's URL without
    /// its password.
    pub fn location(&self) -> String {
        match self {
            Reader::Sqlite(store) => store.path().display().to_string(),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.server().to_owned(),
        }
    }

    /// The sessions list of `observe sessions` ([`Store::sessions_list`]).
    pub fn sessions_list(&mut self, limit: u32, sink: &mut dyn RowSink) -> Result<(), SqlError> {
        match self {
            Reader::Sqlite(store) => store.sessions_list(limit, sink),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.sessions_list(limit, sink),
        }
    }

    /// The traces list of `observe traces` ([`Store::traces_list`]).
    pub fn traces_list(
        &mut self,
        filter: &TraceFilter,
        limit: u32,
        sink: &mut dyn RowSink,
    ) -> Result<(), SqlError> {
        match self {
            Reader::Sqlite(store) => store.traces_list(filter, limit, sink),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.traces_list(filter, limit, sink),
        }
    }

    /// The ids of at most `limit` traces whose id starts with `prefix`
    /// ([`Store::trace_ids_with_prefix`]).
    pub fn trace_ids_with_prefix(
        &mut self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, SqlError> {
        match self {
            Reader::Sqlite(store) => store.trace_ids_with_prefix(prefix, limit),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.trace_ids_with_prefix(prefix, limit),
        }
    }

    /// A trace's scores ([`Store::trace_scores`]).
    pub fn trace_scores(&mut self, trace_id: &str) -> Result<Table, SqlError> {
        match self {
            Reader::Sqlite(store) => store.trace_scores(trace_id),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.trace_scores(trace_id),
        }
    }

    /// Every observation of a trace ([`Store::trace_observations`]).
    pub fn trace_observations(&mut self, trace_id: &str) -> Result<Vec<Observation>, ReadError> {
        match self {
            Reader::Sqlite(store) => Ok(store.trace_observations(trace_id)?),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => Ok(pg.trace_observations(trace_id)?),
        }
    }

    /// Every observation of a session ([`Store::session_observations`]).
    pub fn session_observations(
        &mut self,
        session_id: &str,
    ) -> Result<Vec<Observation>, ReadError> {
        match self {
            Reader::Sqlite(store) => Ok(store.session_observations(session_id)?),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => Ok(pg.session_observations(session_id)?),
        }
    }

    /// A person's PostgreSQL-dialect query: translated and run on the SQLite store
    /// ([`sql::stream`](crate::sql::stream)), sent as written to PostgreSQL
    /// (`PgStore::query`, feature `postgres`); read-only either way,
    /// stopped after `timeout`. Returns the SQLite SQL that ran, `None` on PostgreSQL.
    pub fn query(
        &mut self,
        sql: &str,
        timeout: Option<Duration>,
        sink: &mut dyn RowSink,
    ) -> Result<Option<String>, SqlError> {
        match self {
            Reader::Sqlite(store) => crate::sql::stream(store, sql, timeout, sink).map(Some),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => pg.query(sql, timeout, sink).map(|()| None),
        }
    }
}
