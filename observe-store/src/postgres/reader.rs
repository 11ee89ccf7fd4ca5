//! A reader's connection to a PostgreSQL store: connected, checked and made read-only
//! before anything reads through it.

use postgres::types::ToSql;
use postgres::Client;
use rusqlite::types::Value as SqlValue;

use super::cell::Cell;
use super::connect::{cancel, connect};
use super::error::describe;
use super::read_error::PgReadError;
use super::reader_session::{open_checked, READER_SETTINGS};
use super::schema::check_readable;
use super::{PgSettings, PgStoreError};
use crate::read::FoldedIds;
use crate::sql::{RowSink, SqlError};

/// A PostgreSQL store opened for reading: what `observe --db postgres://...` and
/// `observe ui --db postgres://...` read.
///
/// The session is read-only (`default_transaction_read_only`), so no read can change the
/// database, and in UTC (`TimeZone`), so times print and truncate as in the SQLite store.
///
/// ```no_run
/// use observe_store::postgres::PgStore;
/// let store = PgStore::connect("postgres://observe@db.internal/observe").unwrap();
/// println!("reading {}", store.server()); // postgres://observe@db.internal:5432/observe
/// ```
pub struct PgStore {
    client: Client,
    server: String,
    version: i32,
    /// How the connection was made: a cancel request and a new connection are made the
    /// same way (boxed: a reader is mostly its connection).
    settings: Box<PgSettings>,
    /// The text of the ids read so far that are not hex, by the ids they fold to (boxed,
    /// as the settings are, so that a `Reader` of either store is about the same size).
    pub(super) folded: Box<FoldedIds>,
    /// The project reads are limited to (`set_project`), set again on a new connection.
    pub(super) project: Option<String>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("server", &self.server)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the store `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
    /// what it leaves out taken from libpq's variables as [`PgSettings::from_url`] says,
    /// TLS as its `sslmode` says) and checks that it is a store this build reads.
    pub fn connect(url: &str) -> Result<PgStore, PgReadError> {
        let settings = PgSettings::from_url(url).map_err(|e| PgReadError::BadUrl {
            reason: match e {
                PgStoreError::Url { reason } => reason,
                other => other.to_string(),
            },
        })?;
        PgStore::open(settings)
    }

    /// Connects as `settings` say, makes the session read-only and in UTC, and checks
    /// the schema.
    fn open(settings: PgSettings) -> Result<PgStore, PgReadError> {
        let server = settings.to_string();
        let mut client = connect(&settings).map_err(|e| match e {
            PgStoreError::Connect { reason, source, .. } => match source.as_db_error() {
                Some(db) => PgReadError::Refused {
                    server: server.clone(),
                    message: settings.hide(db.message()),
                },
                None => PgReadError::Unreachable {
                    server: server.clone(),
                    reason,
                },
            },
            other => PgReadError::Unreachable {
                server: server.clone(),
                reason: settings.hide(&other.to_string()),
            },
        })?;
        let version = match open_checked(&mut client) {
            Some(version) => version,
            None => {
                client
                    .batch_execute(READER_SETTINGS)
                    .map_err(|e| PgReadError::statement(&e))?;
                check_readable(&mut client).map_err(|problem| PgReadError::Store {
                    server: server.clone(),
                    problem,
                })?
            }
        };
        Ok(PgStore {
            client,
            server,
            version,
            settings: Box::new(settings),
            folded: Box::default(),
            project: None,
        })
    }

    /// Connects again when the server dropped this connection (it restarted, an
    /// administrator ended the session, the network broke), so that a long-lived reader
    /// such as `observe ui` goes on answering once the server is back; does nothing while
    /// the connection stands. Whether it connected again.
    ///
    /// The connection is seen dropped once a read failed on it.
    pub fn reconnect_if_dropped(&mut self) -> Result<bool, PgReadError> {
        if !self.client.is_closed() {
            return Ok(false);
        }
        // The views limiting reads to a project went with the old connection: the new
        // one takes the place of this one only once it has them, so a failure leaves
        // this closed connection (tried again next time) rather than an unlimited one.
        let mut fresh = PgStore::open((*self.settings).clone())?;
        fresh.set_project(self.project.as_deref())?;
        *self = fresh;
        Ok(true)
    }

    /// Where the store is, for messages: `postgres://USER@HOST:PORT/DATABASE`, never the
    /// password.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The store's schema version when it was opened.
    pub fn schema_version(&self) -> i32 {
        self.version
    }

    /// Whether the database keeps the dashboard's hourly roll-up, `trace_hours`
    /// (migration 6 and later).
    pub fn has_trace_hours(&self) -> bool {
        self.version >= super::schema::TRACE_HOURS_VERSION
    }

    /// A function that cancels, from another thread, what this connection is running
    /// then (for a client that went away): the query fails with PostgreSQL's
    /// `canceling statement due to user request`.
    ///
    /// ```no_run
    /// use observe_store::postgres::PgStore;
    /// let store = PgStore::connect("postgres://observe@db.internal/observe").unwrap();
    /// let stop = store.canceller();
    /// std::thread::spawn(stop);
    /// ```
    pub fn canceller(&self) -> impl FnOnce() + Send + 'static {
        let (token, settings) = (self.client.cancel_token(), self.settings.clone());
        move || cancel(&settings, &token)
    }

    /// The connection, for this module's reads.
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Runs the store's own `sql` with `params`, handing its columns and rows to `sink`.
    pub(crate) fn stream(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        sink: &mut dyn RowSink,
    ) -> Result<(), SqlError> {
        let failed = |e: postgres::Error| SqlError::from(PgReadError::statement(&e));
        let statement = self.client.prepare(sql).map_err(failed)?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        sink.columns(&columns).map_err(SqlError::Output)?;
        for row in self.client.query(&statement, params).map_err(failed)? {
            if !sink
                .row(values(&row, row.len())?)
                .map_err(SqlError::Output)?
            {
                break;
            }
        }
        Ok(())
    }
}

/// The values of a row's first `columns` columns, as the SQLite store's rows hold them.
pub(crate) fn values(row: &postgres::Row, columns: usize) -> Result<Vec<SqlValue>, SqlError> {
    (0..columns.min(row.len()))
        .map(|i| {
            row.try_get::<_, Cell>(i).map(|c| c.0).map_err(|e| {
                SqlError::from(PgReadError::Statement {
                    message: format!("column `{}`: {}", row.columns()[i].name(), describe(&e)),
                    code: String::new(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let e = PgStore::connect("postgres://ann:s3cret@db.internal:notaport/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("not a PostgreSQL URL"), "{e}");
    }
}
