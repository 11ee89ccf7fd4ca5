//! The reads of the `observe` command and its web view on a PostgreSQL store, as methods
//! of [`PgStore`](crate::postgres::PgStore) returning what the SQLite store's
//! [`queries`](crate::queries) return, row for row, so the printing code is one.

mod listings;
mod lookups;
mod observations;
mod view_rows;
mod view_sessions;
mod view_traces;
