//! Destinations: where finished observations and scores go.
//!
//! The [`Exporter`] trait, [`Batch`] and [`ExportError`] live in `observe-model` and are
//! re-exported here. Each destination is an exporter on a thread of its own:
//!
//! | module | destination | crate (feature of this one) |
//! | --- | --- | --- |
//! | [`memory`] | a shared `Vec`, for tests | this one |
//! | [`console`] | one line per finished trace on stderr | this one |
//! | `store` | the embedded SQLite store | `observe-store` (`store`) |
//! | `otlp` | Langfuse v4 / Cloud, any OpenTelemetry collector | `observe-export` (`otlp`) |
//! | `ingestion` | the legacy Langfuse ingestion API | `observe-export` (`ingestion`) |
//!
//! ```
//! use observe_runtime::export::{Batch, ExportError, Exporter};
//!
//! /// Counts what it is given.
//! #[derive(Default)]
//! struct Counting(usize);
//!
//! impl Exporter for Counting {
//!     fn name(&self) -> &str { "counting" }
//!     fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
//!         self.0 += batch.observations.len() + batch.scores.len();
//!         Ok(())
//!     }
//! }
//! ```

pub use observe_model::export::*;

pub mod console;
pub mod memory;

#[cfg(feature = "ingestion")]
#[cfg_attr(docsrs, doc(cfg(feature = "ingestion")))]
pub use observe_export::ingestion;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use observe_export::otlp;
#[cfg(feature = "spool")]
#[cfg_attr(docsrs, doc(cfg(feature = "spool")))]
pub use observe_export::spool;
#[cfg(any(feature = "otlp", feature = "ingestion"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "otlp", feature = "ingestion"))))]
pub use observe_export::{http, scores};
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use observe_store as store;
