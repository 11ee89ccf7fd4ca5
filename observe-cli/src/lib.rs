//! The library half of the `observe` command: the built-in reports ([`reports`]) and, with
//! the `ui` feature (on by default), the local web view (`ui`), and with `serve` (on by
//! default) the local Langfuse-compatible server (`serve`). The binary (`src/main.rs`)
//! adds the command line and the tables. The SQL they run lives in `observe-store`: its
//! typed reads (`observe_store::queries`) and its PostgreSQL dialect (`observe_store::sql`).
//!
//! ```
//! use observe_cli::reports::Report;
//! let sqlite = observe_store::sql::translate(&Report::Users.sql()).unwrap();
//! assert!(sqlite.starts_with("SELECT user_id"));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dashboard;
pub mod reports;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "ui")]
pub mod ui;
