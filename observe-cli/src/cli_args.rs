//! The command line: `observe`'s options, its subcommands and the option groups they
//! share, and the parsers of their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use observe_model::model::Level;

#[cfg(feature = "serve")]
use crate::serve_command::ServeArgs;
#[cfg(feature = "ui")]
use crate::ui_command::UiArgs;

/// Look at what your observed application recorded in the local store.
#[derive(Parser, Debug)]
#[command(name = "observe", version, about, long_about = None)]
pub struct Cli {
    /// The store: a file, or a PostgreSQL URL (postgres://USER@HOST/DATABASE) for the
    /// reading commands [default: $OBSERVE_STORE_PATH, else .observe/traces.db]
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,

    /// Only this project's traces, sessions, users and scores (projects come from
    /// `observe serve`'s keys) [default: every project]
    #[arg(long, global = true, value_name = "NAME")]
    pub project: Option<String>,

    /// Print JSON instead of tables (for programs)
    #[arg(long, global = true, conflicts_with = "jsonl")]
    pub json: bool,

    /// Print one JSON object per line, as rows come (for piping big results)
    #[arg(long, global = true)]
    pub jsonl: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each one's doc comment is its `--help` summary.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sessions, most recent first: traces, duration, cost, user, last seen
    Sessions {
        /// How many sessions to show
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One session as a tree of its traces and their observations
    Session {
        /// The session id
        id: String,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Traces, most recent first, with how many observations failed
    Traces {
        #[command(flatten)]
        filters: TraceFilters,
        /// How many traces to show
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One trace: its observations with type, latency, cost and level, and its generations'
    /// model, usage, cost, prompt and time to first token
    Trace {
        /// The trace id (or a unique prefix of it)
        id: String,
        #[command(flatten)]
        tree: TreeArgs,
    },
    /// Built-in analytics (the same SQL as docs/CLI.md, run like `observe query`)
    Report(ReportArgs),
    /// Run PostgreSQL-dialect SQL over the `traces`, `observations` and `scores` tables
    Query(QueryArgs),
    /// Bring an older store file to this observe's schema (readers never change a file)
    Migrate,
    /// Model prices: which entry and tiers price MODEL, the whole list, or (--check) the
    /// models in the store no price matches; exit code 3 when a model has no price
    Prices(PricesArgs),
    /// Serve a local web view of sessions and traces (read-only) and print its URL
    #[cfg(feature = "ui")]
    Ui(UiArgs),
    /// A local Langfuse: take traces from Langfuse and OpenTelemetry SDKs (OTLP/HTTP) into
    /// the store, and serve the web view on the same port, until SIGTERM or Ctrl-C
    #[cfg(feature = "serve")]
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[cfg(feature = "push")]
        #[command(flatten)]
        forward: ForwardArgs,
    },
    /// Send traces from the store to Langfuse or an OTLP collector, each once per
    /// destination (exit 0 all sent, 3 some refused, 4 destination unavailable); with
    /// --spool, what applications left in their spool
    #[cfg(feature = "push")]
    Push(PushArgs),
}

/// `observe push`: which traces of the store, where to, and whether to only say what it
/// would send. Every selection given must hold; none sends every trace not pushed yet.
#[cfg(feature = "push")]
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Only this session's traces
    #[arg(long)]
    pub session: Option<String>,
    /// Only this user's traces
    #[arg(long)]
    pub user: Option<String>,
    /// Only traces with this tag
    #[arg(long)]
    pub tag: Option<String>,
    /// Only traces started since: a duration back from now (30m, 24h, 7d, 2w) or an ISO date
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only traces started before: a duration back from now or an ISO date
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this trace (its full id); repeat for more
    #[arg(long = "trace", value_name = "ID")]
    pub traces: Vec<String>,
    /// Where to [default: the one the environment configures]
    #[arg(long, value_enum)]
    pub to: Option<PushTo>,
    /// Langfuse's API [default: $OBSERVE_LANGFUSE_API, else otlp]
    #[arg(long, value_enum)]
    pub api: Option<PushApi>,
    /// The Langfuse server [default: $LANGFUSE_BASE_URL, else $LANGFUSE_HOST, else Langfuse
    /// Cloud (EU)]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The collector's traces URL [default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
    /// $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Longest time spent on one trace, retries included (500ms, 30s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_timeout)]
    pub retry_deadline: Timeout,
    /// Say what would be sent; send nothing and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Send what applications spooled instead of the store's traces [DIR default:
    /// $OBSERVE_SPOOL_DIR, else spool/ beside the store]
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "",
          conflicts_with_all = ["session", "user", "tag", "since", "until", "traces", "dry_run"])]
    pub spool: Option<PathBuf>,
}

/// The `--forward-*` options of `observe serve`.
#[cfg(all(feature = "push", feature = "serve"))]
#[derive(Args, Debug, Clone)]
pub struct ForwardArgs {
    /// Also send what is accepted upstream: a Langfuse base URL, or an OpenTelemetry
    /// collector's traces URL (one ending in /v1/traces); repeat for more
    #[arg(long = "forward-to", value_name = "URL")]
    pub forward_to: Vec<String>,
    /// Langfuse's API for --forward-to [default: $OBSERVE_LANGFUSE_API, else otlp]
    #[arg(long, value_enum, value_name = "API")]
    pub forward_api: Option<PushApi>,
    /// The upstream Langfuse project's public key [default: $LANGFUSE_PUBLIC_KEY]
    #[arg(long, value_name = "KEY")]
    pub forward_public_key: Option<String>,
    /// The upstream Langfuse project's secret key [default: $LANGFUSE_SECRET_KEY, which
    /// other users cannot read from the process list]
    #[arg(long, value_name = "KEY")]
    pub forward_secret_key: Option<String>,
    /// Longest time spent on one batch upstream, retries included (500ms, 30s, 5m; 0: no
    /// limit); then it is spooled (--forward-spool) or counted failed
    #[arg(long, value_name = "DURATION", default_value = "30s",
          value_parser = parse_timeout)]
    pub forward_retry_deadline: Timeout,
    /// Records each upstream's queue holds; past it (or --forward-queue-bytes) new batches
    /// are spooled or dropped and counted
    #[arg(long, value_name = "RECORDS", default_value_t = 65_536)]
    pub forward_queue_records: usize,
    /// Bytes (of the requests that brought them) each upstream's queue holds
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub forward_queue_bytes: usize,
    /// Keep what an upstream cannot take in time on disk and send it when it answers again
    /// (or with `observe push --spool DIR`) [DIR default: $OBSERVE_SPOOL_DIR, else spool/
    /// beside the store]
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub forward_spool: Option<String>,
}

/// The destinations `observe push` sends to.
#[cfg(feature = "push")]
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushTo {
    /// Langfuse ($LANGFUSE_PUBLIC_KEY and $LANGFUSE_SECRET_KEY)
    Langfuse,
    /// An OpenTelemetry collector ($OTEL_EXPORTER_OTLP_ENDPOINT or --endpoint)
    Collector,
}

/// The Langfuse APIs `observe push` speaks.
#[cfg(feature = "push")]
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushApi {
    /// OTLP, for Langfuse v4 and Cloud
    Otlp,
    /// The legacy ingestion API of self-hosted Langfuse v2/v3
    Ingestion,
}

/// Which traces `observe traces` lists; every filter given must hold.
#[derive(Args, Debug, Default)]
pub struct TraceFilters {
    /// Only this user's traces
    #[arg(long)]
    pub user: Option<String>,
    /// Only this session's traces
    #[arg(long)]
    pub session: Option<String>,
    /// Only traces with this tag
    #[arg(long)]
    pub tag: Option<String>,
    /// Only traces with this name
    #[arg(long)]
    pub name: Option<String>,
    /// Only traces with an observation at this level (DEBUG, DEFAULT, WARNING, ERROR)
    #[arg(long, value_parser = parse_level)]
    pub level: Option<Level>,
    /// Only traces started since: a duration back from now (30m, 24h, 7d, 2w) or an ISO date
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

/// How `observe session` and `observe trace` show their trees.
#[derive(Args, Debug)]
pub struct TreeArgs {
    /// Also show each observation's input and output
    #[arg(long)]
    pub io: bool,
}

/// `observe report`: which report, and whether to print its SQL instead.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// users | content-types | by-metadata KEY | slow-sessions | slow-users
    #[arg(required_unless_present = "timeseries")]
    pub report: Option<String>,
    /// The metadata key of `by-metadata`
    pub key: Option<String>,
    /// Print the PostgreSQL query instead of running it
    #[arg(long)]
    pub show_sql: bool,
    /// The dashboard's figures per time bucket (traces, sessions, users, cost, p95
    /// latency, errors), with a bar per row
    #[arg(long, conflicts_with = "report")]
    pub timeseries: bool,
    /// With --timeseries: the time range, 1h | 24h | 7d | 30d
    #[arg(long, value_name = "RANGE", default_value = "7d")]
    pub range: String,
    /// With --timeseries: minute | hour | day | week [default: what keeps the range
    /// within 200 rows]
    #[arg(long, value_name = "UNIT")]
    pub bucket: Option<String>,
    /// With --timeseries: only traces with this tag (repeat for several)
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// With --timeseries: only traces of this environment
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
}

/// `observe prices`: one model, the whole list, or the store's models checked.
#[derive(Args, Debug)]
pub struct PricesArgs {
    /// The model name to look up (e.g. gpt-4o); without it, the whole list
    #[arg(conflicts_with = "check")]
    pub model: Option<String>,
    /// List the models in the store (--db) that no price matches, with their observation
    /// counts
    #[arg(long)]
    pub check: bool,
}

/// `observe query`: the SQL, and how much of it to run and show.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// One SELECT statement, e.g. "SELECT user_id, COUNT(*) FROM traces GROUP BY 1"
    pub sql: String,
    /// Print the SQLite translation instead of running it
    #[arg(long)]
    pub translate: bool,
    /// Most rows shown [default: 1000 in a table, all with --json/--jsonl]; 0 for no limit
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Stop the query after this long (500ms, 30s, 5m); 0 for no limit
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Timeout,
}

/// A time limit; `None` when the user turned it off with `0`.
#[derive(Clone, Copy, Debug)]
pub struct Timeout(pub Option<Duration>);

fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration like 500ms, 30s or 5m"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{text}`: the unit is one of ms, s, m, h")),
    };
    Ok(Timeout(
        (seconds > 0.0).then(|| Duration::from_secs_f64(seconds)),
    ))
}

fn parse_level(text: &str) -> Result<Level, String> {
    text.parse()
        .map_err(|e: observe_model::model::UnknownVariant| e.to_string())
}
