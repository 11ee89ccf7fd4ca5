//! Destinations: where finished observations and scores go.
//!
//! The background worker hands each batch to every configured [`Exporter`], on its own
//! thread, never on the instrumented path. An exporter owns its wire format and transport;
//! the pipeline owns batching, sampling, masking and truncation, so an exporter sees records
//! that are ready to leave the process.
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

pub mod console;
// `http` is the building block of the two HTTP destinations: with only one of them, or
// neither, some of its helpers have no caller.
#[cfg(feature = "http")]
#[cfg_attr(
    not(all(feature = "otlp", feature = "ingestion")),
    allow(dead_code, unused_imports)
)]
pub mod http;
#[cfg(feature = "ingestion")]
pub mod ingestion;
#[cfg(any(feature = "otlp", feature = "ingestion"))]
mod json;
pub mod memory;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "http")]
#[cfg_attr(
    not(any(feature = "otlp", feature = "ingestion")),
    allow(dead_code, unused_imports)
)]
pub mod scores;
#[cfg(feature = "store")]
pub mod store;

use crate::model::{Observation, Score};

/// One batch of records, in the order they finished.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Finished observations.
    pub observations: Vec<Box<Observation>>,
    /// Scores.
    pub scores: Vec<Box<Score>>,
}

impl Batch {
    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty() && self.scores.is_empty()
    }

    /// Number of records (observations and scores).
    pub fn len(&self) -> usize {
        self.observations.len() + self.scores.len()
    }
}

/// Why an export failed. The pipeline counts failures per exporter and logs them once per
/// kind; it never retries on its own: retrying is the exporter's business (see the HTTP
/// exporters), because only it knows which failures are worth another try.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The destination refused the data for good (bad keys, malformed payload...).
    #[error("{destination} rejected the batch: {message}")]
    Rejected {
        /// Which destination.
        destination: String,
        /// What it said, and what to do about it.
        message: String,
    },
    /// The destination could not be reached or kept failing until the deadline.
    #[error("{destination} unavailable: {message}")]
    Unavailable {
        /// Which destination.
        destination: String,
        /// The last failure.
        message: String,
    },
    /// Some records of the batch were refused (a 207 with errors); the rest were accepted.
    #[error("{destination} refused {refused} of the batch's records: {message}")]
    Partial {
        /// Which destination.
        destination: String,
        /// How many records were refused.
        refused: usize,
        /// The first refusal's text.
        message: String,
    },
    /// A local I/O failure (the store's file, the console).
    #[error("{destination}: {source}")]
    Io {
        /// Which destination.
        destination: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A destination for finished observations and scores.
///
/// Called on the pipeline's worker thread only, one batch at a time; it may block (on I/O,
/// on retries) up to its own deadline, and the instrumented code never waits for it.
pub trait Exporter: Send + 'static {
    /// A short name for logs and counters (`otlp`, `langfuse-ingestion`, `store`...).
    fn name(&self) -> &str;

    /// Sends one batch.
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError>;

    /// Makes sure everything exported so far is durable or sent (called by `flush`).
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Retries made so far (for the pipeline's counters); exporters that retry report here.
    fn retries(&self) -> u64 {
        0
    }

    /// Releases resources; called once, after the last batch.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.flush()
    }
}
