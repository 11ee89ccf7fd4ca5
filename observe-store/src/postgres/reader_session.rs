//! A reader's first words to the server in one round trip: the session's settings and
//! the facts the schema check needs.
//!
//! A command such as `observe trace` reads for a few milliseconds, so the statements it
//! sends before reading are a large part of its run: the full check
//! ([`check_readable`](super::check_readable)) asks for the version, each table and each
//! table's columns one statement at a time, each prepared first. Here one simple query
//! sets the session up and reads the version and every column of the store's tables
//! from the catalog; only when that finds something wrong (or cannot run: no version
//! table) does the full check run, to say exactly what.

use postgres::{Client, SimpleQueryMessage};

use super::schema::{CURRENT_VERSION, OLDEST_READABLE, STORE_COLUMNS, STORE_TABLES};

/// What makes a reader's session: read-only, so no read can change the database, in UTC,
/// so times print and truncate as in the SQLite store, and named in `pg_stat_activity`.
pub(super) const READER_SETTINGS: &str = "SET default_transaction_read_only = on; \
     SET TimeZone = 'UTC'; SET application_name = 'observe'";

/// The store's version and its tables' columns as `table.column` joined by commas:
/// the columns the current user can see, in the schema new tables go to, as
/// `information_schema.columns` (which the full check reads) lists them.
const SCHEMA_FACTS: &str =
    "SELECT (SELECT COALESCE(MAX(version), 0) FROM observe_schema_migrations),
       (SELECT string_agg(c.relname || '.' || a.attname, ',')
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
        WHERE c.relnamespace = current_schema()::regnamespace
          AND c.relname IN ('traces', 'observations', 'scores')
          AND a.attnum > 0 AND NOT a.attisdropped
          AND (pg_has_role(c.relowner, 'USAGE')
               OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES')))";

/// Sets the reader's session up and checks the schema in one round trip: the version
/// when the store is one this build reads with every column readers use, `None` when
/// that could not be confirmed (the session is then not set up: the caller does it and
/// runs the full check, which says what is wrong).
pub(super) fn open_checked(client: &mut Client) -> Option<i32> {
    let messages = client
        .simple_query(&format!("{READER_SETTINGS}; {SCHEMA_FACTS}"))
        .ok()?;
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    })?;
    let version: i32 = row.get(0)?.parse().ok()?;
    let columns: Vec<&str> = row.get(1).unwrap_or_default().split(',').collect();
    let complete = STORE_TABLES.len() == STORE_COLUMNS.len()
        && STORE_COLUMNS.iter().all(|(table, expected)| {
            expected.iter().all(|column| {
                columns.iter().any(|have| {
                    have.strip_prefix(table)
                        .and_then(|rest| rest.strip_prefix('.'))
                        == Some(column)
                })
            })
        });
    ((OLDEST_READABLE..=CURRENT_VERSION).contains(&version) && complete).then_some(version)
}
