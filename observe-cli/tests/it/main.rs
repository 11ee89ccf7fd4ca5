//! The integration tests of the `observe` command, one module per area, built as one binary.
//! None needs a process of its own: they run the `observe` binary (and the bundled example)
//! as child processes and never install anything process-wide in this one.

mod common;
#[cfg(feature = "postgres")]
mod pg_load;
#[cfg(feature = "postgres")]
#[path = "../../../observe-store/tests/pg_support/mod.rs"]
mod pg_support;
#[cfg(feature = "serve")]
mod serve_support;
#[cfg(feature = "ui")]
mod ui_support;

mod cli_commands;
mod cli_conventions;
mod cli_failures;
mod cli_generations;
mod cli_hostile;
mod cli_json_exit;
#[cfg(feature = "postgres")]
mod cli_postgres;
mod cli_prices;
mod cli_projects;
#[cfg(feature = "push")]
mod cli_push;
#[cfg(feature = "push")]
mod cli_push_spool;
mod cli_seed_queries;
#[cfg(feature = "push")]
mod loopback_upstream;
#[cfg(feature = "serve")]
mod serve_browser;
#[cfg(feature = "serve")]
mod serve_clients;
#[cfg(all(feature = "push", feature = "serve"))]
mod serve_forward;
#[cfg(feature = "serve")]
mod serve_guards;
#[cfg(feature = "serve")]
mod serve_ingest;
#[cfg(feature = "serve")]
mod serve_legacy;
#[cfg(all(feature = "serve", feature = "postgres"))]
mod serve_postgres;
#[cfg(all(feature = "serve", feature = "postgres"))]
mod serve_postgres_reads;
#[cfg(feature = "serve")]
mod serve_runtime;
#[cfg(feature = "serve")]
mod serve_sdks;
#[cfg(feature = "serve")]
mod serve_stop;
#[cfg(feature = "ui")]
mod ui_browser;
#[cfg(feature = "ui")]
mod ui_dashboard;
#[cfg(feature = "ui")]
mod ui_dashboard_browser;
#[cfg(all(feature = "ui", feature = "postgres"))]
mod ui_dashboard_postgres;
#[cfg(feature = "ui")]
mod ui_dashboard_rollup;
#[cfg(feature = "ui")]
mod ui_dashboard_yaml;
#[cfg(feature = "ui")]
mod ui_endpoints;
#[cfg(feature = "ui")]
mod ui_hostile;
#[cfg(all(feature = "ui", feature = "postgres"))]
mod ui_postgres;
