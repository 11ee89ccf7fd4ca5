//! # observe-export
//!
//! The network destinations of [observe](https://docs.rs/observe-runtime), each an
//! [`Exporter`](observe_model::export::Exporter):
//!
//! - [`otlp`] (feature `otlp`): OTLP/HTTP protobuf to Langfuse v4 / Cloud and to any
//!   OpenTelemetry collector;
//! - [`ingestion`] (feature `ingestion`): the legacy batch API of self-hosted Langfuse v2/v3;
//! - [`scores`]: scores through Langfuse's public API, shared by both;
//! - `prompts` (feature `prompts`): Langfuse prompts fetched at run time, cached, compiled;
//! - [`http`]: the sender they share (reqwest, blocking, rustls), with its retry rules and
//!   deadlines;
//! - [`spool`] (feature `spool`): the durable spool of what a destination could not deliver,
//!   and its replay.
//!
//! Applications reach these through `observe-runtime` (`observe_runtime::export::otlp`, ...),
//! whose configuration builds them from `LANGFUSE_*` and `OTEL_EXPORTER_OTLP_*` variables;
//! a program that assembles its own pipeline may use them directly.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The sender is the building block of the two destinations: with only one of them, some of
// its helpers have no caller.
#[cfg_attr(
    not(all(feature = "otlp", feature = "ingestion")),
    allow(dead_code, unused_imports)
)]
pub mod http;
#[cfg(feature = "ingestion")]
#[cfg_attr(docsrs, doc(cfg(feature = "ingestion")))]
pub mod ingestion;
#[cfg(any(feature = "otlp", feature = "ingestion"))]
mod json;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
#[cfg(feature = "prompts")]
#[cfg_attr(docsrs, doc(cfg(feature = "prompts")))]
pub mod prompts;
#[cfg(feature = "ingestion")]
mod refusals;
#[cfg_attr(
    not(any(feature = "otlp", feature = "ingestion")),
    allow(dead_code, unused_imports)
)]
pub mod scores;
#[cfg(feature = "spool")]
#[cfg_attr(docsrs, doc(cfg(feature = "spool")))]
pub mod spool;
