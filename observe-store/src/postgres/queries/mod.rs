//! The reads of the `observe` command on a PostgreSQL store, as methods of
//! [`PgStore`](crate::postgres::PgStore) returning what the SQLite store's
//! [`queries`](crate::queries) return, row for row, so the printing code is one.

mod listings;
mod lookups;
mod observations;
