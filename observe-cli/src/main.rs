//! `observe`: sessions, traces, reports and SQL over the local store.

#![forbid(unsafe_code)]

mod output;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use observe_cli::reports::Report;
use observe_cli::sql::{self, Table, TIMESTAMP_FORMAT};
use observe_model::model::{Level, Observation, ObservationType};
use observe_model::view::{
    self, escape_control, format_cost, format_duration, SessionTree, TraceTree, ViewOptions,
};
use observe_store::{
    default_store_path, Store, StoreError, StoreExporter, DEFAULT_STORE_PATH, SCHEMA_VERSION,
};
use output::{cell, Cells, Format, Output, Rows};
use rusqlite::types::Value;

#[cfg(feature = "ui")]
mod ui_command;

/// Look at what your observed application recorded in the local store.
#[derive(Parser, Debug)]
#[command(name = "observe", version, about, long_about = None)]
struct Cli {
    /// The store file [default: $OBSERVE_STORE_PATH, else .observe/traces.db]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Print JSON instead of tables (for programs)
    #[arg(long, global = true, conflicts_with = "jsonl")]
    json: bool,

    /// Print one JSON object per line, as rows come (for piping big results)
    #[arg(long, global = true)]
    jsonl: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
        /// Also show each observation's input and output
        #[arg(long)]
        io: bool,
    },
    /// Traces, most recent first, with how many observations failed
    Traces {
        /// Only this user's traces
        #[arg(long)]
        user: Option<String>,
        /// Only this session's traces
        #[arg(long)]
        session: Option<String>,
        /// Only traces with this tag
        #[arg(long)]
        tag: Option<String>,
        /// Only traces with this name
        #[arg(long)]
        name: Option<String>,
        /// Only traces with an observation at this level (DEBUG, DEFAULT, WARNING, ERROR)
        #[arg(long, value_parser = parse_level)]
        level: Option<Level>,
        /// Only traces started since: a duration back from now (30m, 24h, 7d, 2w) or an ISO date
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// How many traces to show
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One trace: its observations with type, latency, cost and level, and its generations'
    /// model, usage, cost, prompt and time to first token
    Trace {
        /// The trace id (or a unique prefix of it)
        id: String,
        /// Also show each observation's input and output
        #[arg(long)]
        io: bool,
    },
    /// Built-in analytics (the same SQL as docs/CLI.md, run like `observe query`)
    Report {
        /// users | content-types | by-metadata KEY | slow-sessions | slow-users
        report: String,
        /// The metadata key of `by-metadata`
        key: Option<String>,
        /// Print the PostgreSQL query instead of running it
        #[arg(long)]
        show_sql: bool,
    },
    /// Run PostgreSQL-dialect SQL over the `traces`, `observations` and `scores` tables
    Query {
        /// One SELECT statement, e.g. "SELECT user_id, COUNT(*) FROM traces GROUP BY 1"
        sql: String,
        /// Print the SQLite translation instead of running it
        #[arg(long)]
        translate: bool,
        /// Most rows shown [default: 1000 in a table, all with --json/--jsonl]; 0 for no limit
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Stop the query after this long (500ms, 30s, 5m); 0 for no limit
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_timeout)]
        timeout: Timeout,
    },
    /// Bring an older store file to this observe's schema (readers never change a file)
    Migrate,
    /// Serve a local web view of sessions and traces (read-only) and print its URL
    #[cfg(feature = "ui")]
    Ui(ui_command::UiArgs),
}

/// Rows a table shows when `--limit` is not given: enough to read, few enough that a
/// query over a large store does not fill the terminal or the memory.
const TABLE_ROWS: usize = 1000;

/// How long a built-in report may run.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// A time limit; `None` when the user turned it off with `0`.
#[derive(Clone, Copy, Debug)]
struct Timeout(Option<Duration>);

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = format!("error: {e:#}\n");
            let _ = std::io::stderr().write_all(escape_control_lines(&message).as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// An error message made safe for the terminal, keeping its line breaks.
fn escape_control_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| escape_control(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(cli: Cli) -> Result<()> {
    let out = Output {
        format: match (cli.json, cli.jsonl) {
            (_, true) => Format::JsonLines,
            (true, false) => Format::Json,
            (false, false) => Format::Table,
        },
    };
    let path = cli.db.clone().unwrap_or_else(default_store_path);
    match cli.command {
        Command::Query {
            sql: text,
            translate: true,
            ..
        } => out.text(&(sql::translate(&text)? + "\n")),
        Command::Report {
            report,
            key,
            show_sql: true,
        } => {
            let report = Report::parse(&report, key.as_deref())?;
            out.text(&format!("{}\n", report.sql()))
        }
        Command::Migrate => migrate(&path, &out),
        command => {
            let mut store = open(&path)?;
            read(&mut store, &out, command)
        }
    }
}

fn read(store: &mut Store, out: &Output, command: Command) -> Result<()> {
    match command {
        Command::Sessions { limit } => sessions(store, out, limit),
        Command::Session { id, io } => session(store, out, &id, io),
        Command::Traces {
            user,
            session,
            tag,
            name,
            level,
            since,
            limit,
        } => traces(
            store,
            out,
            &Filters {
                user,
                session,
                tag,
                name,
                level,
                since,
            },
            limit,
        ),
        Command::Trace { id, io } => trace(store, out, &id, io),
        Command::Report { report, key, .. } => {
            let report = Report::parse(&report, key.as_deref())?;
            let translated = sql::translate(&report.sql())?;
            out.rows(
                store.connection_mut(),
                &Rows {
                    sql: &translated,
                    args: &[],
                    timeout: Some(REPORT_TIMEOUT),
                    limit: table_limit(out, None),
                    title: Some(&report.title()),
                    cells: Cells::Formatted,
                    empty: None,
                },
            )
        }
        Command::Query {
            sql: text,
            limit,
            timeout,
            ..
        } => {
            let translated = sql::translate(&text)?;
            out.rows(
                store.connection_mut(),
                &Rows {
                    sql: &translated,
                    args: &[],
                    timeout: timeout.0,
                    limit: table_limit(out, limit),
                    title: None,
                    cells: Cells::AsWritten,
                    empty: None,
                },
            )
        }
        Command::Migrate => unreachable!("handled before the store is opened for reading"),
        #[cfg(feature = "ui")]
        Command::Ui(args) => {
            let path = store.path().to_owned();
            ui_command::run(&path, &args)
        }
    }
}

/// The row limit: as given (0 is none), else [`TABLE_ROWS`] for a table and none for JSON.
fn table_limit(out: &Output, given: Option<usize>) -> Option<usize> {
    match given {
        Some(0) => None,
        Some(n) => Some(n),
        None => (out.format == Format::Table).then_some(TABLE_ROWS),
    }
}

fn missing_store(path: &Path) -> anyhow::Error {
    let shown = if path == Path::new(DEFAULT_STORE_PATH) {
        DEFAULT_STORE_PATH.to_owned()
    } else {
        path.display().to_string()
    };
    anyhow::anyhow!(
        "no store at {shown} — run your app with observe \
         (e.g. `cargo run --example content_analysis`) or pass --db"
    )
}

/// Opens the store read-only, with an error that says what to do.
fn open(path: &Path) -> Result<Store> {
    let store = match Store::open(path) {
        Ok(store) => store,
        Err(StoreError::NotFound { .. }) => return Err(missing_store(path)),
        Err(e) => return Err(e.into()),
    };
    sql::register_functions(store.connection()).context("registering SQL functions")?;
    Ok(store)
}

/// Opens the store as a writer does, which brings an older file to the current schema.
fn migrate(path: &Path, out: &Output) -> Result<()> {
    if !path.is_file() {
        return Err(missing_store(path));
    }
    // A foreign file is refused before a writer could add tables to it.
    match Store::open(path) {
        Ok(_) => {
            return out.text(&format!(
                "{} is already at schema version {SCHEMA_VERSION}\n",
                path.display()
            ))
        }
        Err(StoreError::OlderSchema { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    drop(StoreExporter::open(path)?);
    out.text(&format!(
        "{} migrated to schema version {SCHEMA_VERSION}\n",
        path.display()
    ))
}

fn sessions(store: &mut Store, out: &Output, limit: u32) -> Result<()> {
    out.rows(
        store.connection_mut(),
        &Rows {
            sql: "SELECT session_id AS session,
                         COUNT(*) AS traces,
                         (MAX(end_ns) - MIN(start_ns)) / 1e6 AS duration_ms,
                         SUM(calculated_total_cost) AS cost,
                         SUM(computed_cost) AS computed_cost,
                         group_concat(DISTINCT user_id) AS user,
                         MAX(end_time) AS last_seen
                  FROM traces
                  WHERE session_id IS NOT NULL
                  GROUP BY session_id
                  ORDER BY MAX(end_ns) DESC
                  LIMIT ?1",
            args: &[Value::Integer(limit.into())],
            timeout: None,
            limit: None,
            title: None,
            cells: Cells::Formatted,
            empty: Some(
                "no sessions yet: set a session id with \
                 update_current_trace(TraceUpdate::new().session_id(...))\n",
            ),
        },
    )
}

struct Filters {
    user: Option<String>,
    session: Option<String>,
    tag: Option<String>,
    name: Option<String>,
    level: Option<Level>,
    since: Option<String>,
}

fn traces(store: &mut Store, out: &Output, f: &Filters, limit: u32) -> Result<()> {
    let (sql, args) = traces_query(f, limit)?;
    out.rows(
        store.connection_mut(),
        &Rows {
            sql: &sql,
            args: &args,
            timeout: None,
            limit: None,
            title: None,
            cells: Cells::Formatted,
            empty: Some("no traces match\n"),
        },
    )
}

/// The SQL of `observe traces` with these filters, and its arguments.
fn traces_query(f: &Filters, limit: u32) -> Result<(String, Vec<Value>)> {
    let mut conditions = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: String| {
        args.push(Value::Text(value));
        conditions.push(condition.replace('?', &format!("?{}", args.len())));
    };
    if let Some(user) = &f.user {
        bind("user_id = ?", user.clone());
    }
    if let Some(session) = &f.session {
        bind("session_id = ?", session.clone());
    }
    if let Some(tag) = &f.tag {
        bind("observe_array_contains(tags, ?)", tag.clone());
    }
    if let Some(name) = &f.name {
        bind("name = ?", name.clone());
    }
    if let Some(level) = f.level {
        bind(
            "EXISTS (SELECT 1 FROM observations o WHERE o.trace_seq = traces.seq AND o.level = ?)",
            level.as_str().to_owned(),
        );
    }
    if let Some(since) = &f.since {
        let (base, modifier) = since_modifiers(since)?;
        args.push(Value::Text(base));
        args.push(Value::Text(modifier));
        conditions.push(format!(
            "timestamp >= strftime('{TIMESTAMP_FORMAT}', ?{}, ?{})",
            args.len() - 1,
            args.len()
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    args.push(Value::Integer(limit.into()));
    let sql = format!(
        "SELECT id, name, user_id AS user, session_id AS session, timestamp AS started,
                latency_ms, calculated_total_cost AS cost, computed_cost,
                observation_count AS observations,
                (SELECT COUNT(*) FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR') AS errors,
                tags
         FROM traces {filter}
         ORDER BY start_ns DESC
         LIMIT ?{}",
        args.len()
    );
    Ok((sql, args))
}

/// `7d`, `24h`, `30m`, `2w`, `90s` back from now; else a date or date-time SQLite reads.
fn since_modifiers(since: &str) -> Result<(String, String)> {
    let s = since.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if let Ok(n) = digits.parse::<u64>() {
        let modifier = match unit {
            "s" => format!("-{n} seconds"),
            "m" | "min" => format!("-{n} minutes"),
            "h" => format!("-{n} hours"),
            "d" => format!("-{n} days"),
            "w" => format!("-{} days", n * 7),
            _ if unit.is_empty() => bail!("--since {since}: add a unit: s, m, h, d or w (e.g. 7d)"),
            _ => {
                if !looks_like_date(s) {
                    bail!("--since {since}: expected a duration like 30m, 24h, 7d or a date like 2026-01-31")
                }
                return Ok((s.to_owned(), "+0 seconds".to_owned()));
            }
        };
        return Ok(("now".to_owned(), modifier));
    }
    bail!("--since {since}: expected a duration like 30m, 24h, 7d or a date like 2026-01-31")
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

fn query_with(store: &Store, sql: &str, args: &[Value]) -> Result<Table> {
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    sql::stream_rows(store.connection(), sql, args, &mut table)?;
    Ok(table)
}

fn session(store: &Store, out: &Output, id: &str, io: bool) -> Result<()> {
    let observations = store.session_observations(id)?;
    if observations.is_empty() {
        bail!(
            "no session `{}` in {} — `observe sessions` lists them",
            escape_control(id),
            store.path().display()
        );
    }
    let tree = SessionTree::build(id, &observations);
    if out.format != Format::Table {
        let traces: Vec<_> = tree.traces.iter().map(|t| trace_json(t, io)).collect();
        return out.json_value(&serde_json::json!({
            "session_id": tree.id,
            "start": tree.start().to_rfc3339(),
            "end": tree.end().to_rfc3339(),
            "duration_ms": ms(tree.duration()),
            "cost": tree.cost(),
            "cost_computed": tree.cost_computed(),
            "traces": traces,
        }));
    }
    let options = ViewOptions::detailed().with_io(io);
    out.text(&tree.render(&options))
}

fn trace(store: &Store, out: &Output, id: &str, io: bool) -> Result<()> {
    let full = resolve_trace_id(store, id)?;
    let observations = store.trace_observations(&full)?;
    let trees = TraceTree::build_all(&observations);
    let Some(tree) = trees.first() else {
        bail!("trace `{full}` has no observations");
    };
    let scores = query_with(
        store,
        "SELECT name, COALESCE(string_value, CAST(value AS TEXT)) AS value, data_type,
                observation_id, comment
         FROM scores WHERE trace_id = ?1 ORDER BY timestamp",
        &[Value::Text(full.clone())],
    )?;
    if out.format != Format::Table {
        let mut value = trace_json(tree, io);
        value["scores"] = scores.to_json();
        return out.json_value(&value);
    }
    let mut text = format!("Trace {full}\n");
    if let Some(attrs) = observations.first().map(|o| &o.trace) {
        let mut facts = Vec::new();
        if let Some(u) = &attrs.user_id {
            facts.push(format!("user {}", escape_control(u)));
        }
        if let Some(s) = &attrs.session_id {
            facts.push(format!("session {}", escape_control(s)));
        }
        if !attrs.tags.is_empty() {
            facts.push(format!("tags {}", escape_control(&attrs.tags.join(", "))));
        }
        facts.push(format!("started {}", tree.start.to_rfc3339()));
        text.push_str(&format!("  {}\n", facts.join(" · ")));
    }
    text.push_str(&tree.render(&ViewOptions::detailed().with_io(io)));
    let generations = generation_lines(&observations);
    if !generations.is_empty() {
        text.push_str("Generations:\n");
        text.push_str(&generations);
    }
    if !scores.rows.is_empty() {
        text.push_str("Scores:\n");
        for row in &scores.rows {
            text.push_str(&format!("  {} = {}\n", cell(&row[0]), cell(&row[1])));
        }
    }
    out.text(&text)
}

/// What tells generations apart, one block per generation (and per observation that has
/// a model, usage or a prompt), by start time:
///
/// ```text
///   chat (1a2b3c4d): model gpt-4o · usage input 10, output 5, total 15 · cost $0.0021 · prompt summarize v3 · ttft 180ms
///     metadata {"attempt":2}
/// ```
fn generation_lines(observations: &[Observation]) -> String {
    let mut text = String::new();
    for o in observations {
        let d = o.details();
        if o.kind != ObservationType::Generation
            && d.model.is_none()
            && d.usage.is_none()
            && d.prompt_name.is_none()
        {
            continue;
        }
        let mut facts = Vec::new();
        if let Some(model) = &d.model {
            facts.push(format!("model {model}"));
        }
        if let Some(usage) = &d.usage {
            let counts: Vec<String> = usage.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
            facts.push(format!("usage {}", counts.join(", ")));
        }
        if d.cost.is_some() {
            facts.push(format!("cost {}", format_cost(o.total_cost())));
        } else if o.cost_is_computed() {
            // Priced by observe from the usage: an estimate, never sent to Langfuse.
            facts.push(format!("cost ~{} (computed)", format_cost(o.total_cost())));
        }
        if let Some(prompt) = &d.prompt_name {
            match d.prompt_version {
                Some(v) => facts.push(format!("prompt {prompt} v{v}")),
                None => facts.push(format!("prompt {prompt}")),
            }
        }
        if let Some(first) = d.completion_start_time {
            facts.push(format!("ttft {}", format_duration(first.since(o.start))));
        }
        let short_id = o.id.to_string();
        let line = format!(
            "{} ({}): {}",
            o.name,
            &short_id[..8.min(short_id.len())],
            if facts.is_empty() {
                "no model or usage recorded".to_owned()
            } else {
                facts.join(" · ")
            }
        );
        text.push_str(&format!("  {}\n", escape_control(&line)));
        if !d.metadata.is_empty() {
            let metadata: serde_json::Map<String, serde_json::Value> = d
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect();
            let shown = serde_json::Value::Object(metadata).to_string();
            text.push_str(&format!("    metadata {}\n", escape_control(&shown)));
        }
    }
    text
}

/// A full id, or the one trace whose id starts with `prefix`.
fn resolve_trace_id(store: &Store, prefix: &str) -> Result<String> {
    let prefix = prefix.to_ascii_lowercase();
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.is_empty() {
        bail!(
            "`{}` is not a trace id (32 hex characters, or a unique prefix)",
            escape_control(&prefix)
        );
    }
    let table = query_with(
        store,
        "SELECT id FROM traces WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
        &[Value::Text(prefix.clone())],
    )?;
    match table.rows.as_slice() {
        [row] => Ok(cell(&row[0])),
        [] => bail!(
            "no trace `{prefix}` in {} — `observe traces` lists them",
            store.path().display()
        ),
        _ => bail!("`{prefix}` names several traces: give more characters"),
    }
}

fn trace_json(t: &TraceTree<'_>, io: bool) -> serde_json::Value {
    serde_json::json!({
        "id": t.id.to_string(),
        "name": t.name,
        "session_id": t.session_id,
        "start": t.start.to_rfc3339(),
        "end": t.end.to_rfc3339(),
        "latency_ms": ms(t.latency()),
        "cost": t.cost,
        "cost_computed": t.cost_computed,
        "observations": t.roots.iter().map(|n| node_json(n, io)).collect::<Vec<_>>(),
    })
}

fn node_json(n: &view::Node<'_>, io: bool) -> serde_json::Value {
    let o: &Observation = n.observation;
    let d = o.details();
    let metadata: serde_json::Map<String, serde_json::Value> = d
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.to_value()))
        .collect();
    let mut v = serde_json::json!({
        "id": o.id.to_string(),
        "name": o.name,
        "type": o.kind.as_str().to_ascii_uppercase(),
        "level": o.level.as_str(),
        "start": o.start.to_rfc3339(),
        "end": o.end.to_rfc3339(),
        "latency_ms": ms(o.duration()),
        "cost": n.cost,
        "cost_computed": n.cost_computed,
        "own_cost": o.total_cost(),
        "own_cost_computed": o.cost_is_computed(),
        "status_message": d.status_message,
        "model": d.model,
        "usage": d.usage,
        "cost_details": d.cost.as_ref().or(d.computed_cost.as_ref()),
        "prompt_name": d.prompt_name,
        "prompt_version": d.prompt_version,
        "completion_start_time": d.completion_start_time.map(|t| t.to_rfc3339()),
        "time_to_first_token_ms": d.completion_start_time.map(|t| ms(t.since(o.start))),
        "metadata": metadata,
        "children": n.children.iter().map(|c| node_json(c, io)).collect::<Vec<_>>(),
    });
    if io {
        v["input"] = d
            .input
            .as_ref()
            .map_or(serde_json::Value::Null, |j| j.to_value());
        v["output"] = d
            .output
            .as_ref()
            .map_or(serde_json::Value::Null, |j| j.to_value());
    }
    v
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite plans `observe traces` with `f` on a store (one line per step).
    fn plan(f: &Filters) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        drop(observe_store::StoreExporter::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let (sql, args) = traces_query(f, 50).unwrap();
        let mut stmt = store
            .connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        stmt.query_map(rusqlite::params_from_iter(&args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn filters() -> Filters {
        Filters {
            user: None,
            session: None,
            tag: None,
            name: None,
            level: None,
            since: None,
        }
    }

    /// `--user` and `--since` find their traces through an index, so their cost follows the
    /// traces that match, not the size of the store.
    #[test]
    fn user_and_since_filters_go_through_an_index() {
        let user = plan(&Filters {
            user: Some("u".into()),
            ..filters()
        });
        assert!(
            user.iter()
                .any(|step| step.contains("USING INDEX traces_user")),
            "{user:?}"
        );
        let since = plan(&Filters {
            since: Some("7d".into()),
            ..filters()
        });
        assert!(
            since
                .iter()
                .any(|step| step.contains("USING INDEX traces_timestamp")),
            "{since:?}"
        );
    }
}
