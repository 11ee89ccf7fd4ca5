//! # observe
//!
//! Langfuse-grade tracing for LLM and agent applications, at the cost of a Rust span.
//!
//! Put `#[observe]` on the functions of a workflow; nested calls become child observations,
//! across `.await`, `join_all`, and (with [`FutureExt::in_current_trace`] or [`spawn`])
//! spawned tasks and threads. Set the session, user, tags and metadata of the whole trace once
//! with [`update_current_trace`]; set model, usage and cost of one observation with
//! [`update_current_observation`].
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{observe, update_current_observation, update_current_trace, Client,
//!     ObservationUpdate, TraceUpdate};
//! use observe_runtime::model::{Cost, Usage};
//!
//! #[observe(as_type = "generation")]
//! async fn summarize(text: &str) -> String {
//!     update_current_observation(ObservationUpdate::new()
//!         .model("gpt-4o-mini").usage(Usage::new(40, 8)).cost(Cost::new(0.0004, 0.0002)));
//!     text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
//! }
//!
//! #[observe(name = "workflow")]
//! async fn workflow(user: &str, text: &str) -> String {
//!     update_current_trace(TraceUpdate::new().user_id(user).session_id("demo"));
//!     summarize(text).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let (client, memory) = Client::in_memory();
//! client.attach(workflow("u1", "one two three four")).await;
//! client.flush(Duration::from_secs(5));
//! let obs = memory.observations();
//! assert_eq!(obs.len(), 2);
//! assert!(obs.iter().all(|o| o.trace.session_id.as_deref() == Some("demo")));
//! # }
//! ```

//! ## Cargo features
//!
//! On by default: `store` (the local SQLite store and model price lists, from
//! `observe-store`), `otlp` (Langfuse v4 / Cloud and OpenTelemetry collectors) and `ingestion`
//! (the legacy Langfuse API), both from `observe-export`, `prompts` (Langfuse prompts fetched
//! at run time and cached, `prompts`, from `observe-export`), and `tokio` ([`spawn`],
//! [`spawn_blocking`]). Off by default: `tracing-bridge` (`bridge::ObserveLayer`: `tracing`
//! spans inside observed traces become observations), `propagation` (W3C `traceparent`,
//! `tracestate` and `baggage` over `http::HeaderMap`), `propagation-reqwest` and
//! `propagation-tower` (the client and server helpers). Without default features the crate is
//! the context, `#[observe]`, the pipeline and the in-memory and console destinations.
//!
//! ## Crates
//!
//! The data model and the `Exporter` trait come from `observe-model`, the network
//! destinations from `observe-export`, the store from `observe-store`; this crate re-exports
//! them ([`model`], [`export`], [`genai`], [`view`], `pricing`), so one dependency is enough.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Every `unsafe` block says why it holds; an `unsafe fn`'s body is not one big unsafe block.
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod config;
pub mod export;
pub mod limits;
pub use observe_model::{genai, model, money, view};
// The variables' names and the URL redaction are shared with the other crates; the runtime
// reaches them at the paths it always had.
use observe_model::{redact, vars};
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use observe_store::pricing;

#[cfg(feature = "prompts")]
#[cfg_attr(docsrs, doc(cfg(feature = "prompts")))]
pub use observe_export::prompts;

#[cfg(feature = "tracing-bridge")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing-bridge")))]
pub mod bridge;
#[cfg(feature = "propagation")]
#[cfg_attr(docsrs, doc(cfg(feature = "propagation")))]
pub mod propagation;

mod box_stack;
mod capture_buf;
mod carry;
mod client;
mod clock;
mod context;
mod current;
mod global;
mod handle;
mod pipeline;
mod span;
mod stream;
mod traps;
mod update;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use carry::{spawn, spawn_blocking};
pub use carry::{spawn_thread, Context, FutureExt, WithContext};
pub use client::{flush, Client, ClientBuilder, Guard};
pub use config::{init, Config, ConfigError};
pub use current::{
    current_observation_id, current_trace_id, current_trace_url, score_current_observation,
    score_current_trace, update_current_observation, update_current_trace, ScoreRequest,
};
pub use handle::{ObservationHandle, Trace, TraceHandle};
/// The pipeline's internal settings, for the crate's examples and benchmarks that size the
/// queue by hand; configure through [`Config`].
#[doc(hidden)]
pub use pipeline::PipelineSettings;
pub use pipeline::{DestinationStats, FlushReport, Mask, Stats};
pub use pipeline::{SpoolMode, SpoolSettings, DEFAULT_SPOOL_DIR};
pub use stream::{CountOnly, ItemSink, ObserveIteratorExt, ObserveStreamExt, Observed, TextChunk};
pub use update::{ObservationUpdate, PromptLink, TraceUpdate};

/// Wraps a function in an observation; see the crate documentation.
pub use observe_macros::observe;
