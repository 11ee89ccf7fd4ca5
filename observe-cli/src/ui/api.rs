//! The JSON endpoints behind the pages (documented in `docs/UI.md`). Each is a read of the
//! store through one `query_only` connection; the pages are one client of them.
//!
//! | endpoint | answers |
//! | --- | --- |
//! | `sessions?user=&tag=&from=&to=&errors=1&q=&page=&limit=` | one page of sessions, most recent first |
//! | `session/{id}` | its traces as turns, totals, p50/p95 latency |
//! | `trace/{id}` | the trace and its observations (a flat list with parent ids) |
//! | `trace/{id}/observation/{id}` | one observation in full |
//! | `users` | per user: traces, sessions, cost, latency |
//! | `query?sql=` | a PostgreSQL-dialect query, read-only, limited in rows and time |
//! | `reports` | the built-in report queries |
//! | `changes` | a token that changes when the store does (the pages poll it) |

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use observe_store::Store;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, OptionalExtension as _, Row};
use serde_json::{json, Value};

use super::query::{self, QueryLimits};
use super::UiError;
use crate::reports::Report;
use crate::sql::{value_to_json, SqlError};

/// Longest input or output text sent with a session's turns; the trace page has it whole.
const TURN_TEXT_LIMIT: usize = 20_000;
/// Sessions per page unless `limit` says otherwise, and the most `limit` may ask.
const PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;

/// An answer: status, content type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    fn json(value: &Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            ..Reply::json(&json!({ "error": message }))
        }
    }
}

/// Why a request was not answered with data.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error("store query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl ApiError {
    fn status(&self) -> u16 {
        match self {
            ApiError::Sql(SqlError::Timeout { .. }) => 408,
            ApiError::BadRequest(_) | ApiError::Sql(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Sqlite(_) => 500,
        }
    }
}

/// The endpoints over one read-only connection to the store.
///
/// ```
/// use std::time::Duration;
/// use observe_cli::ui::Api;
/// use observe_store::StoreExporter;
/// use observe_runtime::{Client, Trace};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("traces.db");
/// let client = Client::builder().exporter(StoreExporter::open(&path).unwrap()).build();
/// client.trace(Trace::new("chat").session_id("s1")).end();
/// client.shutdown(Duration::from_secs(5));
///
/// let mut api = Api::open(&path).unwrap();
/// let reply = api.handle("sessions", "limit=10");
/// assert_eq!(reply.status, 200);
/// let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
/// assert_eq!(body["sessions"][0]["id"], "s1");
/// assert_eq!(api.handle("session/nope", "").status, 404);
/// ```
#[derive(Debug)]
pub struct Api {
    store: Store,
    limits: QueryLimits,
}

impl Api {
    /// Opens `db` read-only for the endpoints.
    pub fn open(db: &Path) -> Result<Api, UiError> {
        Ok(Api {
            store: super::open_store(db)?,
            limits: QueryLimits::default(),
        })
    }

    /// Answers `GET /api/{endpoint}?{query}` (`query` still URL-encoded).
    pub fn handle(&mut self, endpoint: &str, query: &str) -> Reply {
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let parts: Vec<String> = endpoint
            .split('/')
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let answer = match parts.as_slice() {
            ["sessions"] => self.sessions(&Params(&params)),
            ["session", id] => self.session(id),
            ["trace", id] => self.trace(id),
            ["trace", trace, "observation", id] => self.observation(trace, id),
            ["users"] => self.users(),
            ["query"] => self.query(&Params(&params)),
            ["reports"] => Ok(reports()),
            ["changes"] => self.changes(),
            _ => Err(ApiError::NotFound(format!("no endpoint /api/{endpoint}"))),
        };
        match answer {
            Ok(value) => Reply::json(&value),
            Err(e) => Reply::error(e.status(), &e.to_string()),
        }
    }

    fn conn(&self) -> &rusqlite::Connection {
        self.store.connection()
    }

    /// Every statement the endpoints run goes through here (the tests check their plans).
    fn prepare(&self, sql: &str) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
        #[cfg(test)]
        tests::RAN.with(|ran| ran.borrow_mut().push(sql.to_owned()));
        self.conn().prepare_cached(sql)
    }

    /// Runs `sql` with `args`; each row becomes a JSON object keyed by column name (see
    /// [`object`]).
    fn objects(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Value>, ApiError> {
        let mut stmt = self.prepare(sql)?;
        let mut cursor = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = cursor.next()? {
            out.push(object(row)?);
        }
        Ok(out)
    }

    fn sessions(&self, p: &Params<'_>) -> Result<Value, ApiError> {
        let limit = p.number("limit", PAGE_SIZE)?.clamp(1, MAX_PAGE_SIZE);
        let page = p.number("page", 0)?;
        let mut filter = Filter::default();
        filter.add("session_id IS NOT NULL", &[]);
        if let Some(user) = p.text("user") {
            filter.add("user_id = ?", &[user]);
        }
        if let Some(tag) = p.text("tag") {
            filter.add("observe_array_contains(tags, ?)", &[tag]);
        }
        if let Some(from) = p.text("from") {
            filter.add("timestamp >= ?", &[from]);
        }
        if let Some(to) = p.text("to") {
            filter.add("timestamp <= ?", &[to]);
        }
        if let Some(q) = p.text("q") {
            filter.add("(instr(session_id, ?) > 0 OR id = lower(?))", &[q, q]);
        }
        if p.text("errors").is_some_and(|e| e != "0" && e != "false") {
            filter.add(
                "EXISTS (SELECT 1 FROM observations o \
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')",
                &[],
            );
        }
        // Walk traces newest first (the timestamp index) and keep each session the first
        // time it shows up: a page costs the traces up to its last session, not a GROUP BY
        // over the whole table.
        let sql = format!(
            "SELECT session_id FROM traces WHERE {} ORDER BY timestamp DESC",
            filter.conditions.join(" AND ")
        );
        let wanted = (page + 1) * limit + 1;
        let mut seen = HashSet::new();
        let mut ids: Vec<String> = Vec::new();
        {
            let mut stmt = self.prepare(&sql)?;
            let mut cursor = stmt.query(params_from_iter(&filter.args))?;
            while let Some(row) = cursor.next()? {
                let id: String = row.get(0)?;
                if seen.insert(id.clone()) {
                    ids.push(id);
                    if ids.len() == wanted {
                        break;
                    }
                }
            }
        }
        let has_more = ids.len() > (page + 1) * limit;
        let shown: Vec<String> = ids.into_iter().skip(page * limit).take(limit).collect();
        Ok(json!({
            "sessions": self.session_summaries(&shown)?,
            "page": page,
            "limit": limit,
            "has_more": has_more,
        }))
    }

    /// Totals of each session in `ids`, in that order.
    fn session_summaries(&self, ids: &[String]) -> Result<Vec<Value>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(",");
        let args: Vec<SqlValue> = ids.iter().cloned().map(SqlValue::Text).collect();
        let summaries = self.objects(
            &format!(
                "SELECT session_id AS id, COUNT(*) AS traces, MIN(timestamp) AS start,
                        MAX(end_time) AS last_seen,
                        (MAX(end_ns) - MIN(start_ns)) / 1e6 AS duration_ms,
                        TOTAL(calculated_total_cost) AS cost,
                        TOTAL(computed_cost) AS computed_cost,
                        json_group_array(DISTINCT user_id) FILTER (WHERE user_id IS NOT NULL)
                            AS users,
                        SUM(observation_count) AS observations
                 FROM traces WHERE session_id IN ({marks}) GROUP BY session_id"
            ),
            &args,
        )?;
        let totals = self.objects(
            &format!(
                "SELECT t.session_id AS id, {OBSERVATION_TOTALS}
                 FROM traces t JOIN observations o ON o.trace_seq = t.seq
                 WHERE t.session_id IN ({marks}) GROUP BY t.session_id"
            ),
            &args,
        )?;
        let mut by_id: HashMap<String, Value> = summaries
            .into_iter()
            .filter_map(|s| Some((s["id"].as_str()?.to_owned(), s)))
            .collect();
        for t in totals {
            if let Some(session) = t["id"].as_str().and_then(|id| by_id.get_mut(id)) {
                merge(session, t);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    fn session(&self, id: &str) -> Result<Value, ApiError> {
        let args = [SqlValue::Text(id.to_owned())];
        let mut turns = self.objects(
            &format!(
                "SELECT t.seq, t.id, t.name, t.user_id, t.timestamp AS start,
                        t.end_time AS \"end\", t.latency_ms, t.calculated_total_cost AS cost,
                        t.computed_cost, t.tags, t.observation_count AS observations, t.start_ns, t.end_ns,
                        {input} AS input, {output} AS output
                 FROM traces t WHERE t.session_id = ?1 ORDER BY t.start_ns, t.seq",
                input = clipped(
                    "COALESCE(t.input, (SELECT o.input FROM observations o
                        WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
                        ORDER BY o.start_ns LIMIT 1))"
                ),
                output = clipped(
                    "COALESCE(t.output, (SELECT o.output FROM observations o
                        WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
                        ORDER BY o.start_ns DESC LIMIT 1))"
                ),
            ),
            &args,
        )?;
        if turns.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no session `{id}` in the store"
            )));
        }
        let totals = self.objects(
            &format!(
                "SELECT o.trace_seq AS seq, {OBSERVATION_TOTALS} FROM observations o
                 WHERE o.trace_seq IN (SELECT seq FROM traces WHERE session_id = ?1)
                 GROUP BY o.trace_seq"
            ),
            &args,
        )?;
        let scores = self.objects(
            &format!(
                "SELECT trace_id, {SCORE_COLUMNS} FROM scores
                 WHERE trace_id IN (SELECT id FROM traces WHERE session_id = ?1)
                 ORDER BY timestamp"
            ),
            &args,
        )?;
        for turn in &mut turns {
            turn["scores"] = Value::Array(Vec::new());
            if let Some(t) = totals.iter().find(|t| t["seq"] == turn["seq"]) {
                merge(turn, t.clone());
            }
        }
        for score in scores {
            if let Some(Value::Array(list)) = turns
                .iter_mut()
                .find(|t| t["id"] == score["trace_id"])
                .map(|t| &mut t["scores"])
            {
                list.push(score);
            }
        }
        let start = turns.iter().filter_map(|t| t["start_ns"].as_i64()).min();
        let end = turns.iter().filter_map(|t| t["end_ns"].as_i64()).max();
        let mut latencies: Vec<f64> = turns
            .iter()
            .filter_map(|t| t["latency_ms"].as_f64())
            .collect();
        latencies.sort_by(f64::total_cmp);
        let sum = |key: &str| turns.iter().filter_map(|t| t[key].as_f64()).sum::<f64>();
        let users: BTreeSet<&str> = turns.iter().filter_map(|t| t["user_id"].as_str()).collect();
        Ok(json!({
            "id": id,
            "start": turns.first().map(|t| t["start"].clone()),
            "duration_ms": match (start, end) {
                (Some(s), Some(e)) => (e - s) as f64 / 1e6,
                _ => 0.0,
            },
            "cost": sum("cost"),
            "computed_cost": sum("computed_cost"),
            "tokens": sum("tokens"),
            "errors": sum("errors"),
            "warnings": sum("warnings"),
            "users": users,
            "latency_p50_ms": percentile(&latencies, 0.5),
            "latency_p95_ms": percentile(&latencies, 0.95),
            "traces": turns,
        }))
    }

    /// The trace row with `id` (or the one trace whose id starts with it).
    fn trace_row(&self, id: &str) -> Result<Value, ApiError> {
        let prefix = id.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::BadRequest(format!(
                "`{id}` is not a trace id (32 hex characters, or a unique prefix)"
            )));
        }
        let found = self.objects(
            "SELECT seq, id, name, user_id, session_id, timestamp AS start, end_time AS \"end\",
                    latency_ms, calculated_total_cost AS cost, computed_cost, metadata, tags,
                    input, output,
                    release, version, environment, observation_count, start_ns
             FROM traces WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
            &[SqlValue::Text(prefix)],
        )?;
        match <[_; 1]>::try_from(found) {
            Ok([one]) => Ok(one),
            Err(found) if found.is_empty() => {
                Err(ApiError::NotFound(format!("no trace `{id}` in the store")))
            }
            Err(_) => Err(ApiError::BadRequest(format!(
                "`{id}` names several traces: give more characters"
            ))),
        }
    }

    fn trace(&self, id: &str) -> Result<Value, ApiError> {
        let mut trace = self.trace_row(id)?;
        let observations = self.objects(
            "SELECT id, parent_observation_id AS parent_id, type, name, level, status_message,
                    (start_ns - ?2) / 1e6 AS offset_ms, (end_ns - start_ns) / 1e6 AS latency_ms,
                    model, calculated_total_cost AS cost, cost_computed,
                    json_extract(usage_details, '$.total') AS tokens,
                    (julianday(completion_start_time) - julianday(start_time)) * 86400000.0
                        AS ttft_ms
             FROM observations WHERE trace_seq = ?1 ORDER BY start_ns, end_ns",
            &[sql_value(&trace["seq"]), sql_value(&trace["start_ns"])],
        )?;
        let count = |level: &str| observations.iter().filter(|o| o["level"] == level).count();
        trace["errors"] = count("ERROR").into();
        trace["warnings"] = count("WARNING").into();
        trace["scores"] = self.scores(&trace["id"], None)?.into();
        trace["observations"] = observations.into();
        Ok(trace)
    }

    fn scores(&self, trace_id: &Value, observation: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let scores = self.objects(
            &format!("SELECT {SCORE_COLUMNS} FROM scores WHERE trace_id = ?1 ORDER BY timestamp"),
            &[sql_value(trace_id)],
        )?;
        Ok(scores
            .into_iter()
            .filter(|s| observation.is_none() || s["observation_id"].as_str() == observation)
            .collect())
    }

    fn observation(&self, trace: &str, id: &str) -> Result<Value, ApiError> {
        let trace = self.trace_row(trace)?;
        let found = self.objects(
            "SELECT id, parent_observation_id AS parent_id, type, name, level, status_message,
                    start_time AS start, end_time AS \"end\", latency_ms, model,
                    model_parameters, usage_details AS usage, cost_details,
                    calculated_total_cost AS cost, cost_computed, input, output, metadata,
                    completion_start_time, prompt_name, prompt_version, version,
                    (julianday(completion_start_time) - julianday(start_time)) * 86400000.0
                        AS ttft_ms
             FROM observations WHERE trace_seq = ?1 AND id = ?2",
            &[sql_value(&trace["seq"]), SqlValue::Text(id.to_owned())],
        )?;
        let Some(mut observation) = found.into_iter().next() else {
            return Err(ApiError::NotFound(format!(
                "no observation `{id}` in trace `{}`",
                trace["id"].as_str().unwrap_or_default()
            )));
        };
        observation["scores"] = self.scores(&trace["id"], Some(id))?.into();
        observation["trace_id"] = trace["id"].clone();
        Ok(observation)
    }

    fn users(&self) -> Result<Value, ApiError> {
        let users = self.objects(
            "SELECT user_id, COUNT(*) AS traces, COUNT(DISTINCT session_id) AS sessions,
                    TOTAL(calculated_total_cost) AS cost,
                    TOTAL(computed_cost) AS computed_cost, AVG(latency_ms) AS avg_latency_ms,
                    MAX(latency_ms) AS max_latency_ms, MAX(timestamp) AS last_seen,
                    SUM(observation_count) AS observations
             FROM traces WHERE user_id IS NOT NULL GROUP BY user_id
             ORDER BY cost DESC, user_id LIMIT 1000",
            &[],
        )?;
        Ok(json!({ "users": users }))
    }

    fn query(&mut self, p: &Params<'_>) -> Result<Value, ApiError> {
        let Some(text) = p.text("sql") else {
            return Err(ApiError::BadRequest("give the query as ?sql=".into()));
        };
        let started = Instant::now();
        let result = query::run(self.store.connection_mut(), text, self.limits)?;
        let rows: Vec<Value> = result
            .rows
            .iter()
            .map(|row| Value::Array(row.iter().map(value_to_json).collect()))
            .collect();
        Ok(json!({
            "columns": result.columns,
            "rows": rows,
            "truncated": result.truncated,
            "row_limit": self.limits.rows,
            "translated": result.translated,
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        }))
    }

    /// A token that changes whenever a writer commits: the file's and its WAL's sizes and
    /// times, and the newest trace.
    fn changes(&self) -> Result<Value, ApiError> {
        let path = self.store.path();
        let stamp = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| {
                    let modified = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    format!("{}.{modified}", m.len())
                })
                .unwrap_or_default()
        };
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let newest: Option<(i64, i64)> = self
            .prepare("SELECT seq, observation_count FROM traces ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (seq, count) = newest.unwrap_or((0, 0));
        Ok(json!({
            "token": format!("{}-{}-{seq}-{count}", stamp(path), stamp(Path::new(&wal))),
        }))
    }
}

fn reports() -> Value {
    Value::Array(
        Report::ALL
            .iter()
            .map(|r| json!({"name": r.name(), "title": r.title(), "sql": r.sql()}))
            .collect(),
    )
}

/// Tokens, errors and warnings of the observations grouped (columns of a `SELECT`).
const OBSERVATION_TOTALS: &str = "TOTAL(json_extract(o.usage_details, '$.total')) AS tokens,
    SUM(o.level = 'ERROR') AS errors, SUM(o.level = 'WARNING') AS warnings";

/// A score's columns.
const SCORE_COLUMNS: &str =
    "name, data_type, value, string_value, comment, observation_id, trace_id";

/// Columns that hold JSON text, sent as the JSON they hold.
const JSON_COLUMNS: &[&str] = &[
    "metadata",
    "tags",
    "input",
    "output",
    "users",
    "model_parameters",
    "usage",
    "cost_details",
];

/// A row as a JSON object keyed by its column names; [`JSON_COLUMNS`] are parsed (text
/// that is not JSON stays a string).
fn object(row: &Row<'_>) -> rusqlite::Result<Value> {
    let stmt: &rusqlite::Statement<'_> = row.as_ref();
    let mut map = serde_json::Map::new();
    for i in 0..stmt.column_count() {
        let name = stmt.column_name(i)?;
        let value = match row.get::<_, SqlValue>(i)? {
            SqlValue::Text(t) if JSON_COLUMNS.contains(&name) => {
                serde_json::from_str(&t).unwrap_or(Value::String(t))
            }
            other => value_to_json(&other),
        };
        map.insert(name.to_owned(), value);
    }
    Ok(Value::Object(map))
}

/// Adds `from`'s fields to `to`.
fn merge(to: &mut Value, from: Value) {
    if let (Value::Object(to), Value::Object(from)) = (to, from) {
        to.extend(from);
    }
}

/// A JSON number or string back as a SQL value.
fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Number(n) => n.as_i64().map_or_else(
            || SqlValue::Real(n.as_f64().unwrap_or_default()),
            SqlValue::Integer,
        ),
        Value::String(s) => SqlValue::Text(s.clone()),
        _ => SqlValue::Null,
    }
}

/// SQL for the text of `expr`, cut to [`TURN_TEXT_LIMIT`] characters with a note (the cut
/// text is no longer JSON, so it is sent as a string).
fn clipped(expr: &str) -> String {
    format!(
        "CASE WHEN length({expr}) > {TURN_TEXT_LIMIT}
              THEN substr({expr}, 1, {TURN_TEXT_LIMIT}) || '… (cut: open the trace)'
              ELSE {expr} END"
    )
}

/// The `p` quantile of sorted values, interpolated like PostgreSQL's `percentile_cont`.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let at = p * last as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64))
}

/// The query string's parameters; empty values count as absent.
struct Params<'a>(&'a HashMap<String, String>);

impl Params<'_> {
    fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn number(&self, key: &str, default: usize) -> Result<usize, ApiError> {
        self.text(key).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| ApiError::BadRequest(format!("`{key}` should be a number, not `{s}`")))
        })
    }
}

/// `WHERE` conditions with numbered parameters.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    args: Vec<SqlValue>,
}

impl Filter {
    /// Adds `condition`, whose `?`s take `values` in order (one value each).
    fn add(&mut self, condition: &str, values: &[&str]) {
        let mut parts = condition.split('?');
        let mut numbered = parts.next().unwrap_or_default().to_owned();
        for (part, value) in parts.zip(values) {
            self.args.push(SqlValue::Text((*value).to_owned()));
            numbered.push_str(&format!("?{}{part}", self.args.len()));
        }
        self.conditions.push(numbered);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use observe_runtime::{Client, Trace};
    use observe_store::StoreExporter;

    use super::*;

    thread_local! {
        /// The SQL the endpoints ran on this thread.
        pub(super) static RAN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// How SQLite plans `sql` (one line per step).
    fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = stmt.parameter_count();
        let args: Vec<SqlValue> = (0..n).map(|_| SqlValue::Text("x".into())).collect();
        stmt.query_map(params_from_iter(&args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn every_endpoint_query_goes_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let client = Client::builder()
            .exporter(StoreExporter::open(&path).unwrap())
            .build();
        let trace = client.trace(Trace::new("t").session_id("s").user_id("u").tags(["a"]));
        let id = trace.id().to_string();
        let span = trace.span("step");
        let span_id = span.id().to_string();
        span.end();
        trace.end();
        client.shutdown(Duration::from_secs(10));

        let mut api = Api::open(&path).unwrap();
        for (endpoint, query) in [
            ("sessions", ""),
            (
                "sessions",
                "user=u&tag=a&from=2000-01-01&to=2999-01-01&errors=1&q=s",
            ),
            ("session/s", ""),
            (&format!("trace/{id}"), ""),
            (&format!("trace/{id}/observation/{span_id}"), ""),
            ("users", ""),
            ("changes", ""),
        ] {
            let reply = api.handle(endpoint, query);
            assert_eq!(
                reply.status,
                200,
                "{endpoint}: {}",
                String::from_utf8_lossy(&reply.body)
            );
        }
        let ran = RAN.with(|ran| ran.take());
        assert!(ran.len() >= 12, "{ran:#?}");
        for sql in ran {
            let steps = plan(api.conn(), &sql);
            // A full pass over a table is allowed only in index order with an early stop
            // (the sessions walk) or backwards over the integer key with LIMIT 1 (changes).
            for step in &steps {
                let full_scan =
                    step.starts_with("SCAN") && !step.contains("USING INDEX traces_timestamp");
                let newest_trace = sql.contains("ORDER BY seq DESC LIMIT 1");
                assert!(!full_scan || newest_trace, "{sql}\nplans {steps:#?}");
            }
        }
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[4.0], 0.95), Some(4.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert!((percentile(&[0.0, 10.0], 0.95).unwrap() - 9.5).abs() < 1e-9);
    }

    #[test]
    fn filters_number_their_placeholders() {
        let mut f = Filter::default();
        f.add("a = ?", &["x"]);
        f.add("(b = ? OR c = ?)", &["y", "z"]);
        assert_eq!(f.conditions, ["a = ?1", "(b = ?2 OR c = ?3)"]);
        assert_eq!(f.args.len(), 3);
    }

    #[test]
    fn rows_become_objects_with_json_columns_parsed() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let long = "é".repeat(TURN_TEXT_LIMIT + 5);
        let row = conn
            .query_row(
                &format!(
                    "SELECT 1 AS n, 'plain' AS input, '{{\"a\":1}}' AS output, '{{\"a\":1}}' AS name,
                            {} AS cut",
                    clipped("?1")
                ),
                [&long],
                object,
            )
            .unwrap();
        assert_eq!(row["n"], 1);
        assert_eq!(row["input"], "plain");
        assert_eq!(row["output"], json!({"a": 1}));
        assert_eq!(row["name"], "{\"a\":1}", "only JSON columns are parsed");
        let cut = row["cut"].as_str().unwrap();
        assert!(cut.ends_with("(cut: open the trace)"));
        assert_eq!(cut.chars().filter(|&c| c == 'é').count(), TURN_TEXT_LIMIT);
    }
}
