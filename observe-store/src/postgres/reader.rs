//! A reader's connection to a PostgreSQL store: connected, checked and made read-only
//! before anything reads through it.

use std::str::FromStr as _;

use postgres::config::Host;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls};
use rusqlite::types::Value as SqlValue;

use super::cell::Cell;
use super::read_error::{chain, PgReadError};
use super::schema::check_readable;
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
/// println!("reading {}", store.server()); // observe@db.internal:5432/observe
/// ```
pub struct PgStore {
    client: Client,
    server: String,
    version: i32,
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
    /// Connects to the store `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or
    /// libpq's `key=value` form) and checks that it is a store this build reads.
    pub fn connect(url: &str) -> Result<PgStore, PgReadError> {
        let config =
            Config::from_str(url).map_err(|e| PgReadError::BadUrl { reason: chain(&e) })?;
        let server = describe(&config);
        let mut client = config.connect(NoTls).map_err(|e| match e.as_db_error() {
            Some(db) => PgReadError::Refused {
                server: server.clone(),
                message: db.message().to_owned(),
            },
            None => PgReadError::Unreachable {
                server: server.clone(),
                reason: chain(&e),
            },
        })?;
        client
            .batch_execute(
                "SET default_transaction_read_only = on; SET TimeZone = 'UTC';
                 SET application_name = 'observe'",
            )
            .map_err(|e| PgReadError::statement(&e))?;
        let version = check_readable(&mut client).map_err(|source| PgReadError::Store {
            server: server.clone(),
            source,
        })?;
        Ok(PgStore {
            client,
            server,
            version,
        })
    }

    /// Where the store is, for messages: `USER@HOST:PORT/DATABASE`, never the password.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The store's schema version when it was opened.
    pub fn schema_version(&self) -> i32 {
        self.version
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
            if !sink.row(values(&row)?).map_err(SqlError::Output)? {
                break;
            }
        }
        Ok(())
    }
}

/// A row's values as the SQLite store's rows hold them.
pub(crate) fn values(row: &postgres::Row) -> Result<Vec<SqlValue>, SqlError> {
    (0..row.len())
        .map(|i| {
            row.try_get::<_, Cell>(i).map(|c| c.0).map_err(|e| {
                SqlError::from(PgReadError::Statement {
                    message: format!("column `{}`: {}", row.columns()[i].name(), chain(&e)),
                    code: String::new(),
                })
            })
        })
        .collect()
}

/// `USER@HOST:PORT/DATABASE` of `config`, with libpq's defaults filled in.
fn describe(config: &Config) -> String {
    let user = config.get_user().unwrap_or("postgres");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{database}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_never_holds_the_password() {
        let config = Config::from_str("postgres://ann:s3cret@db.internal:6543/traces").unwrap();
        assert_eq!(describe(&config), "ann@db.internal:6543/traces");
        let e = PgStore::connect("postgres://ann:s3cret@db.internal:notaport/x").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(
            e.to_string().contains("not a PostgreSQL connection string"),
            "{e}"
        );
    }
}
