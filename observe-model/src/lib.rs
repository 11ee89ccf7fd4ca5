//! # observe-model
//!
//! The plain data that every part of [observe](https://docs.rs/observe-runtime) shares, and
//! the one seam between producing records and sending them:
//!
//! - [`model`]: finished observations, the trace attributes stamped on them, scores, ids,
//!   levels, usage, cost and timestamps;
//! - [`export`]: the [`Exporter`](export::Exporter) trait every destination implements, the
//!   [`Batch`](export::Batch) it is handed and the errors it reports;
//! - [`genai`]: the OpenTelemetry GenAI attribute names and the usage keys Langfuse prices by;
//! - [`piece`]: records as other senders deliver them (in pieces, ids as text), for a
//!   store to merge;
//! - [`view`]: the session tree as a human reads it;
//! - [`money`]: the one rule every view shows costs by;
//! - [`vars`]: the environment variables observe reads;
//! - [`redact`]: text that is safe to print.
//!
//! Applications depend on `observe-runtime`, which re-exports these modules at the same paths
//! (`observe_runtime::model`, `observe_runtime::export`, ...). A crate that only writes a
//! destination, or reads what destinations wrote, depends on this one alone.
//!
//! ```
//! use observe_model::export::{Batch, ExportError, Exporter};
//!
//! /// Counts what it is given.
//! #[derive(Default)]
//! struct Counting(usize);
//!
//! impl Exporter for Counting {
//!     fn name(&self) -> &str { "counting" }
//!     fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
//!         self.0 += batch.len();
//!         Ok(())
//!     }
//! }
//!
//! let mut counting = Counting::default();
//! counting.export(&Batch::default()).unwrap();
//! assert_eq!(counting.0, 0);
//! ```

#![warn(missing_docs)]

pub mod export;
pub mod genai;
pub mod model;
pub mod money;
pub mod otlp_keys;
pub mod piece;
pub mod redact;
pub mod vars;
pub mod view;
