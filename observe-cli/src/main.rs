//! `observe`: sessions, traces, reports and SQL over the local store.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use comfy_table::{presets, CellAlignment, ContentArrangement, LineStyle, Table as Grid};
use observe_cli::reports::Report;
use observe_cli::sql::{self, Table, TIMESTAMP_FORMAT};
use observe_runtime::export::store::{default_store_path, Store, StoreError, DEFAULT_STORE_PATH};
use observe_runtime::model::Observation;
use observe_runtime::view::{self, format_duration, SessionTree, TraceTree, ViewOptions};
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
    #[arg(long, global = true)]
    json: bool,

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
    /// Traces, most recent first
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
        /// Only traces started since: a duration back from now (30m, 24h, 7d, 2w) or an ISO date
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// How many traces to show
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One trace: its observations with type, latency, cost and level
    Trace {
        /// The trace id (or a unique prefix of it)
        id: String,
        /// Also show each observation's input and output
        #[arg(long)]
        io: bool,
    },
    /// Built-in analytics (the same SQL as docs/CLI.md, run like `observe query`)
    Report {
        /// users | content-types | slow-sessions | slow-users
        #[arg(value_parser = parse_report)]
        report: Report,
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
    },
    /// Serve a local web view of sessions and traces (read-only) and print its URL
    #[cfg(feature = "ui")]
    Ui(ui_command::UiArgs),
}

fn parse_report(s: &str) -> Result<Report, String> {
    s.parse()
        .map_err(|e: observe_cli::reports::UnknownReport| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let out = Output { json: cli.json };
    if let Command::Query {
        sql: text,
        translate: true,
    } = &cli.command
    {
        return out.text(&(sql::translate(text)? + "\n"));
    }
    if let Command::Report {
        report,
        show_sql: true,
    } = &cli.command
    {
        return out.text(&format!("{}\n", report.sql()));
    }
    let path = cli.db.clone().unwrap_or_else(default_store_path);
    let store = open(&path)?;
    match cli.command {
        Command::Sessions { limit } => sessions(&store, &out, limit),
        Command::Session { id, io } => session(&store, &out, &id, io),
        Command::Traces {
            user,
            session,
            tag,
            name,
            since,
            limit,
        } => traces(
            &store,
            &out,
            &Filters {
                user,
                session,
                tag,
                name,
                since,
            },
            limit,
        ),
        Command::Trace { id, io } => trace(&store, &out, &id, io),
        Command::Report { report, .. } => {
            let table = sql::query(store.connection(), report.sql())?;
            out.table(&table, Some(report.title()))
        }
        Command::Query { sql: text, .. } => {
            let table = sql::query(store.connection(), &text)?;
            out.table(&table, None)
        }
        #[cfg(feature = "ui")]
        Command::Ui(args) => {
            drop(store);
            ui_command::run(&path, &args)
        }
    }
}

/// Opens the store for reading, with an error that says what to do.
fn open(path: &Path) -> Result<Store> {
    let store = match Store::open(path) {
        Ok(store) => store,
        Err(StoreError::NotFound { .. }) => {
            let shown = if path == Path::new(DEFAULT_STORE_PATH) {
                DEFAULT_STORE_PATH.to_owned()
            } else {
                path.display().to_string()
            };
            bail!(
                "no store at {shown} — run your app with observe \
                 (e.g. `cargo run --example content_analysis`) or pass --db"
            );
        }
        Err(e) => return Err(e.into()),
    };
    let conn = store.connection();
    sql::register_functions(conn).context("registering SQL functions")?;
    // The CLI only reads: a query cannot change the file.
    conn.pragma_update(None, "query_only", true)
        .context("setting the connection read-only")?;
    Ok(store)
}

fn sessions(store: &Store, out: &Output, limit: u32) -> Result<()> {
    let table = sql::run_sqlite(
        store.connection(),
        &format!(
            "SELECT session_id AS session,
                    COUNT(*) AS traces,
                    (MAX(end_ns) - MIN(start_ns)) / 1e6 AS duration_ms,
                    SUM(calculated_total_cost) AS cost,
                    group_concat(DISTINCT user_id) AS user,
                    MAX(end_time) AS last_seen
             FROM traces
             WHERE session_id IS NOT NULL
             GROUP BY session_id
             ORDER BY MAX(end_ns) DESC
             LIMIT {limit}"
        ),
    )?;
    if table.rows.is_empty() && !out.json {
        return out.text("no sessions yet: set a session id with update_current_trace(TraceUpdate::new().session_id(...))\n");
    }
    out.table(&table, None)
}

struct Filters {
    user: Option<String>,
    session: Option<String>,
    tag: Option<String>,
    name: Option<String>,
    since: Option<String>,
}

fn traces(store: &Store, out: &Output, f: &Filters, limit: u32) -> Result<()> {
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
    let sql = format!(
        "SELECT id, name, user_id AS user, session_id AS session, timestamp AS started,
                latency_ms, calculated_total_cost AS cost, observation_count AS observations,
                tags
         FROM traces {filter}
         ORDER BY start_ns DESC
         LIMIT {limit}"
    );
    let table = query_with(store, &sql, &args)?;
    if table.rows.is_empty() && !out.json {
        return out.text("no traces match\n");
    }
    out.table(&table, None)
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
    let conn = store.connection();
    let mut stmt = conn.prepare(sql)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    while let Some(row) = cursor.next()? {
        rows.push(
            (0..n)
                .map(|i| row.get(i))
                .collect::<rusqlite::Result<Vec<Value>>>()?,
        );
    }
    Ok(Table { columns, rows })
}

fn session(store: &Store, out: &Output, id: &str, io: bool) -> Result<()> {
    let observations = store.session_observations(id)?;
    if observations.is_empty() {
        bail!(
            "no session `{id}` in {} — `observe sessions` lists them",
            store.path().display()
        );
    }
    let tree = SessionTree::build(id, &observations);
    if out.json {
        let traces: Vec<_> = tree.traces.iter().map(|t| trace_json(t, io)).collect();
        return out.json_value(&serde_json::json!({
            "session_id": tree.id,
            "start": tree.start().to_rfc3339(),
            "end": tree.end().to_rfc3339(),
            "duration_ms": ms(tree.duration()),
            "cost": tree.cost(),
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
    let scores = sql::run_sqlite(
        store.connection(),
        &format!(
            "SELECT name, COALESCE(string_value, CAST(value AS TEXT)) AS value, data_type,
                    observation_id, comment
             FROM scores WHERE trace_id = '{full}' ORDER BY timestamp"
        ),
    )?;
    if out.json {
        let mut value = trace_json(tree, io);
        value["scores"] = scores.to_json();
        return out.json_value(&value);
    }
    let mut text = format!("Trace {full}\n");
    if let Some(attrs) = observations.first().map(|o| &o.trace) {
        let mut facts = Vec::new();
        if let Some(u) = &attrs.user_id {
            facts.push(format!("user {u}"));
        }
        if let Some(s) = &attrs.session_id {
            facts.push(format!("session {s}"));
        }
        if !attrs.tags.is_empty() {
            facts.push(format!("tags {}", attrs.tags.join(", ")));
        }
        facts.push(format!("started {}", tree.start.to_rfc3339()));
        text.push_str(&format!("  {}\n", facts.join(" · ")));
    }
    text.push_str(&tree.render(&ViewOptions::detailed().with_io(io)));
    if !scores.rows.is_empty() {
        text.push_str("Scores:\n");
        for row in &scores.rows {
            text.push_str(&format!("  {} = {}\n", cell(&row[0]), cell(&row[1])));
        }
    }
    out.text(&text)
}

/// A full id, or the one trace whose id starts with `prefix`.
fn resolve_trace_id(store: &Store, prefix: &str) -> Result<String> {
    let prefix = prefix.to_ascii_lowercase();
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.is_empty() {
        bail!("`{prefix}` is not a trace id (32 hex characters, or a unique prefix)");
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
        "observations": t.roots.iter().map(|n| node_json(n, io)).collect::<Vec<_>>(),
    })
}

fn node_json(n: &view::Node<'_>, io: bool) -> serde_json::Value {
    let o: &Observation = n.observation;
    let d = o.details();
    let mut v = serde_json::json!({
        "id": o.id.to_string(),
        "name": o.name,
        "type": o.kind.as_str(),
        "level": o.level.as_str(),
        "start": o.start.to_rfc3339(),
        "end": o.end.to_rfc3339(),
        "latency_ms": ms(o.duration()),
        "cost": n.cost,
        "own_cost": o.total_cost(),
        "status_message": d.status_message,
        "model": d.model,
        "usage": d.usage,
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

/// Where results go: tables for people, JSON for programs.
struct Output {
    json: bool,
}

impl Output {
    fn text(&self, text: &str) -> Result<()> {
        write_stdout(text)
    }

    fn json_value(&self, value: &serde_json::Value) -> Result<()> {
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(value)?))
    }

    fn table(&self, table: &Table, title: Option<&str>) -> Result<()> {
        if self.json {
            return self.json_value(&table.to_json());
        }
        let mut grid = Grid::new();
        // Columns apart, one rule under the header, nothing else.
        grid.load_style(
            presets::NOTHING.header_separator(LineStyle::none().fill('─').junction(' ')),
        )
        .set_content_arrangement(ContentArrangement::Disabled)
        // Durations are shown as `1.5s`, so their header drops the `_ms`.
        .set_header(table.columns.iter().map(|c| {
            c.strip_suffix("_ms")
                .filter(|_| is_duration_column(c))
                .unwrap_or(c)
        }));
        for row in &table.rows {
            grid.add_row(
                table
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(column, value)| human(column, value)),
            );
        }
        for (i, column) in table.columns.iter().enumerate() {
            let numeric = table
                .rows
                .iter()
                .all(|r| matches!(r[i], Value::Integer(_) | Value::Real(_) | Value::Null))
                && !table.rows.is_empty();
            if numeric || is_duration_column(column) || is_cost_column(column) {
                if let Some(c) = grid.column_mut(i) {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
        }
        let mut text = String::new();
        if let Some(title) = title {
            text.push_str(title);
            text.push('\n');
        }
        text.push_str(&grid.to_string());
        text.push('\n');
        let n = table.rows.len();
        text.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
        write_stdout(&text)
    }
}

fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`observe traces | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn is_duration_column(column: &str) -> bool {
    column.ends_with("_ms") || column == "latency" || column == "duration"
}

fn is_cost_column(column: &str) -> bool {
    column == "cost" || column.ends_with("_cost") || column.starts_with("cost_")
}

/// A value as people read it: durations in ms/s, costs in dollars.
fn human(column: &str, value: &Value) -> String {
    let number = match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(f) => Some(*f),
        _ => None,
    };
    match number {
        Some(x) if is_duration_column(column) && x >= 0.0 => {
            format_duration(Duration::from_secs_f64(x / 1000.0))
        }
        Some(x) if is_cost_column(column) => format!("${x:.4}"),
        _ => cell(value),
    }
}

/// A value as plain text.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.1}")
            } else {
                format!("{f:.3}")
            }
        }
        Value::Text(t) => t.clone(),
        Value::Blob(b) => format!("<{} bytes>", b.len()),
    }
}
