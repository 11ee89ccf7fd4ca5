//! The receiving side of observe: OTLP trace requests, as any Langfuse or OpenTelemetry SDK
//! sends them, decoded into observe's [`Observation`](observe_model::model::Observation)s with
//! the attribute precedence of Langfuse's server: `langfuse.*` keys first, then the
//! OpenTelemetry GenAI (and OpenInference) conventions, then every other attribute as
//! metadata.
//!
//! [`ingestion`] decodes Langfuse's legacy ingestion API (`/api/public/ingestion`,
//! `/api/public/scores`) into pieces the store merges by id.
//!
//! It does no I/O: `observe serve` hands it request bodies (already decompressed), and tests
//! hand it what the exporters encode.
//!
//! ```
//! use observe_ingest::{decode_request, Encoding};
//!
//! // An empty request is valid OTLP: no spans, nothing refused.
//! let decoded = decode_request(b"{}", Encoding::Json).unwrap();
//! assert!(decoded.observations.is_empty());
//! assert!(decoded.refused.is_empty());
//! ```

#![warn(missing_docs)]

mod attributes;
mod error;
pub mod ingestion;
pub mod keys;
mod mapping;
mod request;
mod span;

pub use error::{DecodeError, RefusedSpan, SpanRefusal};
pub use request::{decode_request, decode_trace_request, Decoded, Encoding};
pub use span::UNREAD_METADATA_KEY;
