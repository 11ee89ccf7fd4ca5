//! The runtime's integration tests that can share one process, one module per area, built
//! as one binary: each test binary links the whole runtime with bundled SQLite, reqwest and
//! tokio, so one binary instead of twenty cuts link time and disk.
//!
//! These stay separate binaries in `tests/`, because each changes or watches something that
//! belongs to the whole process:
//! - `config_init.rs`: `Config::init()` installs the process-wide client and tests what
//!   `#[observe]` does with and without it.
//! - `export_faults.rs`: one test installs the process-wide client (`install_global`) and
//!   drops its guard, which any observed function of another test would report to.
//! - `silent_traps.rs`: installs the process-wide client, relies on warnings said once per
//!   process, and re-runs its own binary as child processes.
//! - `store_concurrency.rs`: re-runs its own binary as child processes selected by a test
//!   filter and an environment variable.
//! - `store_kill.rs`: re-runs its own binary as a child and kills it with SIGKILL.
//! - `two_services.rs`: installs a process-wide `tracing` subscriber with the bridge layer
//!   (`set_global_default`), which would bridge the spans of every other test's threads.

#[path = "../export_support/mod.rs"]
mod export_support;

mod auto_traits;
mod bridge_http;
mod bridge_tracing;
mod capture_values;
mod config_env;
mod context;
mod context_combinators;
mod export_console;
mod export_encoding;
mod export_ingestion;
mod export_log_lines;
mod export_otlp;
mod export_pipeline;
mod export_retry;
mod genai_conventions;
mod genai_cost;
mod grouped_batches;
mod light_batches_trace;
mod light_records;
mod macro_expansion;
mod overload_roots;
mod prompts;
mod store_migration;
mod store_traces;
mod streams;
mod values_deep;
mod values_fuzz;
mod values_limits;
mod view_tree;
