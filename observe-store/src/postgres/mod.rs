//! The store on a team's shared PostgreSQL: its schema, as versioned migrations.
//!
//! The tables and columns are the SQLite store's ([`crate::Store`]), in PostgreSQL's own
//! types, so that the seed's analytics queries run on it as written:
//!
//! - `timestamp`, `end_time`, `start_time`, ... are `timestamptz`: `NOW() - INTERVAL '30
//!   days'` and `MAX(end_time) - MIN(timestamp)` compare and subtract instants, not text;
//! - `metadata`, `model_parameters`, `usage_details` and `cost_details` are `jsonb`, for
//!   `metadata->>'content_type'` and `metadata ? 'key'`;
//! - `tags` is `text[]`, for `'fixture' = ANY(tags)` (the form Langfuse users write, which
//!   `jsonb` does not take);
//! - `input` and `output` stay `text`: they are shown, not queried into, and `jsonb` would
//!   refuse a string holding `\u0000` that the SQLite store keeps;
//! - flags (`has_root`, `public`, `cost_computed`) are `boolean`.
//!
//! Only a writer changes the layout ([`migrate`]); a reader checks it and changes nothing
//! ([`check_readable`]).
//!
//! [`PgExporter`] is the writer: a destination of the pipeline (`OBSERVE_STORE_URL` in
//! observe-runtime) or a tool's, reaching the server as [`PgSettings`] say (a `postgres://`
//! URL, libpq's variables, TLS). Each batch is one transaction; traces merge as in the
//! SQLite store; many writers on many hosts share one database.
//!
//! ```no_run
//! # fn main() -> Result<(), observe_store::postgres::PgStoreError> {
//! let mut client = postgres::Client::connect("postgres://observe@db.internal/observe", postgres::NoTls)
//!     .map_err(observe_store::postgres::PgStoreError::Postgres)?;
//! observe_store::postgres::migrate(&mut client)?;
//! assert_eq!(
//!     observe_store::postgres::check_readable(&mut client)?,
//!     observe_store::postgres::CURRENT_VERSION
//! );
//! # Ok(())
//! # }
//! ```

mod cell;
mod connect;
// Public only for the encoder's bench (`benches/pg_copy_encoder.rs`), which measures it
// against tokio-postgres's `BinaryCopyInWriter`; not part of the API.
#[doc(hidden)]
pub mod copy_binary;
mod copy_text;
mod error;
mod exporter;
mod lanes;
mod pieces;
mod printed;
mod project;
mod queries;
mod query;
mod read_error;
mod reader;
mod reader_session;
mod schema;
mod settings;
mod share;
mod trace_hours;
mod user_totals;
mod write;
mod write_sql;

pub use error::PgStoreError;
pub use exporter::{PgExporter, PgRetry};
pub use printed::printed_value;
pub use read_error::PgReadError;
pub use reader::PgStore;
pub use schema::{
    check_readable, migrate, table_columns, version, CURRENT_VERSION, OLDEST_READABLE,
};
pub use settings::{PgSettings, TlsMode};
pub use trace_hours::DROP_TRACE_HOURS;
pub use user_totals::DROP_USER_TOTALS;
