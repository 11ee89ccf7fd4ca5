//! The library half of the `observe` command: PostgreSQL-dialect SQL over the local store
//! ([`sql`]), the built-in reports ([`reports`]) and, with the `ui` feature (on by default),
//! the local web view (`ui`). The binary (`src/main.rs`) adds the
//! command line and the tables.
//!
//! ```
//! let conn = rusqlite::Connection::open_in_memory().unwrap();
//! observe_cli::sql::register_functions(&conn).unwrap();
//! let table = observe_cli::sql::query(&conn, "SELECT 1::float AS one").unwrap();
//! assert_eq!(table.columns, ["one"]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod reports;
pub mod sql;
#[cfg(feature = "ui")]
pub mod ui;
