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

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use observe_runtime::export::store::Store;
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

    /// Runs `sql` with `args` and maps each row.
    fn rows<T>(
        &self,
        sql: &str,
        args: &[SqlValue],
        mut map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, ApiError> {
        let mut stmt = self.prepare(sql)?;
        let mut cursor = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = cursor.next()? {
            out.push(map(row)?);
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
        let summaries = self.session_summaries(&shown)?;
        let sessions: Vec<Value> = shown
            .iter()
            .filter_map(|id| summaries.get(id).cloned())
            .collect();
        Ok(json!({
            "sessions": sessions,
            "page": page,
            "limit": limit,
            "has_more": has_more,
        }))
    }

    /// Totals of each session in `ids`, by id.
    fn session_summaries(&self, ids: &[String]) -> Result<HashMap<String, Value>, ApiError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let marks = vec!["?"; ids.len()].join(",");
        let args: Vec<SqlValue> = ids.iter().cloned().map(SqlValue::Text).collect();
        let mut out: HashMap<String, Value> = HashMap::new();
        self.rows(
            &format!(
                "SELECT session_id, COUNT(*), MIN(timestamp), MAX(end_time),
                        (MAX(end_ns) - MIN(start_ns)) / 1e6, TOTAL(calculated_total_cost),
                        json_group_array(DISTINCT user_id) FILTER (WHERE user_id IS NOT NULL),
                        SUM(observation_count)
                 FROM traces WHERE session_id IN ({marks}) GROUP BY session_id"
            ),
            &args,
            |row| {
                let id: String = row.get(0)?;
                let users: Option<String> = row.get(6)?;
                out.insert(
                    id.clone(),
                    json!({
                        "id": id,
                        "traces": row.get::<_, i64>(1)?,
                        "start": row.get::<_, String>(2)?,
                        "last_seen": row.get::<_, Option<String>>(3)?,
                        "duration_ms": row.get::<_, f64>(4)?,
                        "cost": row.get::<_, f64>(5)?,
                        "users": json_text(users).unwrap_or(Value::Array(Vec::new())),
                        "observations": row.get::<_, i64>(7)?,
                        "tokens": 0,
                        "errors": 0,
                        "warnings": 0,
                    }),
                );
                Ok(())
            },
        )?;
        self.rows(
            &format!(
                "SELECT t.session_id, {OBSERVATION_TOTALS}
                 FROM traces t JOIN observations o ON o.trace_seq = t.seq
                 WHERE t.session_id IN ({marks}) GROUP BY t.session_id"
            ),
            &args,
            |row| {
                let id: String = row.get(0)?;
                if let Some(session) = out.get_mut(&id) {
                    add_observation_totals(session, row, 1)?;
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn session(&self, id: &str) -> Result<Value, ApiError> {
        let args = [SqlValue::Text(id.to_owned())];
        let mut turns = self.rows(
            "SELECT t.seq, t.id, t.name, t.user_id, t.timestamp, t.end_time, t.latency_ms,
                    t.calculated_total_cost, t.tags, t.observation_count,
                    COALESCE(t.input, (SELECT o.input FROM observations o
                        WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
                        ORDER BY o.start_ns LIMIT 1)),
                    COALESCE(t.output, (SELECT o.output FROM observations o
                        WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
                        ORDER BY o.start_ns DESC LIMIT 1)),
                    t.start_ns, t.end_ns
             FROM traces t WHERE t.session_id = ?1 ORDER BY t.start_ns, t.seq",
            &args,
            |row| {
                Ok(json!({
                    "seq": row.get::<_, i64>(0)?,
                    "id": row.get::<_, String>(1)?,
                    "name": row.get::<_, Option<String>>(2)?,
                    "user_id": row.get::<_, Option<String>>(3)?,
                    "start": row.get::<_, String>(4)?,
                    "end": row.get::<_, Option<String>>(5)?,
                    "latency_ms": row.get::<_, f64>(6)?,
                    "cost": row.get::<_, f64>(7)?,
                    "tags": json_text(row.get(8)?),
                    "observations": row.get::<_, i64>(9)?,
                    "input": clipped_json(row.get(10)?),
                    "output": clipped_json(row.get(11)?),
                    "start_ns": row.get::<_, i64>(12)?,
                    "end_ns": row.get::<_, i64>(13)?,
                    "tokens": 0,
                    "errors": 0,
                    "warnings": 0,
                    "scores": [],
                }))
            },
        )?;
        if turns.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no session `{id}` in the store"
            )));
        }
        let by_seq: HashMap<i64, usize> = turns
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((t["seq"].as_i64()?, i)))
            .collect();
        let totals = self.rows(
            &format!(
                "SELECT o.trace_seq, {OBSERVATION_TOTALS} FROM observations o
                 WHERE o.trace_seq IN (SELECT seq FROM traces WHERE session_id = ?1)
                 GROUP BY o.trace_seq"
            ),
            &args,
            |row| Ok((row.get::<_, i64>(0)?, observation_totals(row, 1)?)),
        )?;
        for (seq, (tokens, errors, warnings)) in totals {
            if let Some(turn) = by_seq.get(&seq).and_then(|&i| turns.get_mut(i)) {
                turn["tokens"] = tokens.into();
                turn["errors"] = errors.into();
                turn["warnings"] = warnings.into();
            }
        }
        let by_id: HashMap<String, usize> = turns
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((t["id"].as_str()?.to_owned(), i)))
            .collect();
        let scores = self.rows(
            &format!(
                "SELECT trace_id, {SCORE_COLUMNS} FROM scores
                 WHERE trace_id IN (SELECT id FROM traces WHERE session_id = ?1)
                 ORDER BY timestamp"
            ),
            &args,
            |row| Ok((row.get::<_, String>(0)?, score_json(row, 1)?)),
        )?;
        for (trace, score) in scores {
            if let Some(Value::Array(list)) = by_id
                .get(&trace)
                .and_then(|&i| turns.get_mut(i))
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
        let users: Vec<&str> = turns
            .iter()
            .filter_map(|t| t["user_id"].as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(json!({
            "id": id,
            "start": turns.first().map(|t| t["start"].clone()),
            "duration_ms": match (start, end) {
                (Some(s), Some(e)) => (e - s) as f64 / 1e6,
                _ => 0.0,
            },
            "cost": sum("cost"),
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
    fn trace_row(&self, id: &str) -> Result<(i64, Value), ApiError> {
        let prefix = id.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::BadRequest(format!(
                "`{id}` is not a trace id (32 hex characters, or a unique prefix)"
            )));
        }
        let found = self.rows(
            "SELECT seq, id, name, user_id, session_id, timestamp, end_time, latency_ms,
                    calculated_total_cost, metadata, tags, input, output, release, version,
                    environment, observation_count, start_ns
             FROM traces WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
            &[SqlValue::Text(prefix)],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    json!({
                        "id": row.get::<_, String>(1)?,
                        "name": row.get::<_, Option<String>>(2)?,
                        "user_id": row.get::<_, Option<String>>(3)?,
                        "session_id": row.get::<_, Option<String>>(4)?,
                        "start": row.get::<_, String>(5)?,
                        "end": row.get::<_, Option<String>>(6)?,
                        "latency_ms": row.get::<_, f64>(7)?,
                        "cost": row.get::<_, f64>(8)?,
                        "metadata": json_text(row.get(9)?),
                        "tags": json_text(row.get(10)?),
                        "input": json_text(row.get(11)?),
                        "output": json_text(row.get(12)?),
                        "release": row.get::<_, Option<String>>(13)?,
                        "version": row.get::<_, Option<String>>(14)?,
                        "environment": row.get::<_, Option<String>>(15)?,
                        "observation_count": row.get::<_, i64>(16)?,
                        "start_ns": row.get::<_, i64>(17)?,
                    }),
                ))
            },
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
        let (seq, mut trace) = self.trace_row(id)?;
        let start_ns = trace["start_ns"].as_i64().unwrap_or(0);
        let observations = self.rows(
            "SELECT id, parent_observation_id, type, name, level, status_message, start_ns,
                    end_ns, model, calculated_total_cost,
                    json_extract(usage_details, '$.total'),
                    (julianday(completion_start_time) - julianday(start_time)) * 86400000.0
             FROM observations WHERE trace_seq = ?1 ORDER BY start_ns, end_ns",
            &[SqlValue::Integer(seq)],
            |row| {
                let start: i64 = row.get(6)?;
                let end: i64 = row.get(7)?;
                Ok(json!({
                    "id": row.get::<_, String>(0)?,
                    "parent_id": row.get::<_, Option<String>>(1)?,
                    "type": row.get::<_, String>(2)?,
                    "name": row.get::<_, String>(3)?,
                    "level": row.get::<_, String>(4)?,
                    "status_message": row.get::<_, Option<String>>(5)?,
                    "offset_ms": (start - start_ns) as f64 / 1e6,
                    "latency_ms": (end - start) as f64 / 1e6,
                    "model": row.get::<_, Option<String>>(8)?,
                    "cost": row.get::<_, f64>(9)?,
                    "tokens": row.get::<_, Option<f64>>(10)?,
                    "ttft_ms": row.get::<_, Option<f64>>(11)?,
                }))
            },
        )?;
        let trace_id = trace["id"].as_str().unwrap_or_default().to_owned();
        let scores = self.scores(&trace_id, None)?;
        let count = |level: &str| observations.iter().filter(|o| o["level"] == level).count();
        trace["errors"] = count("ERROR").into();
        trace["warnings"] = count("WARNING").into();
        trace["scores"] = scores.into();
        trace["observations"] = observations.into();
        Ok(trace)
    }

    fn scores(&self, trace_id: &str, observation: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let scores = self.rows(
            &format!(
                "SELECT observation_id, {SCORE_COLUMNS} FROM scores
                 WHERE trace_id = ?1 ORDER BY timestamp"
            ),
            &[SqlValue::Text(trace_id.to_owned())],
            |row| Ok((row.get::<_, Option<String>>(0)?, score_json(row, 1)?)),
        )?;
        Ok(scores
            .into_iter()
            .filter(|(o, _)| observation.is_none() || o.as_deref() == observation)
            .map(|(_, s)| s)
            .collect())
    }

    fn observation(&self, trace: &str, id: &str) -> Result<Value, ApiError> {
        let (seq, trace) = self.trace_row(trace)?;
        let found = self
            .prepare(
                "SELECT id, parent_observation_id, type, name, level, status_message,
                        start_time, end_time, latency_ms, model, model_parameters,
                        usage_details, cost_details, calculated_total_cost, input, output,
                        metadata, completion_start_time, prompt_name, prompt_version, version,
                        (julianday(completion_start_time) - julianday(start_time)) * 86400000.0
                 FROM observations WHERE trace_seq = ?1 AND id = ?2",
            )?
            .query_row((seq, id), |row| {
                Ok(json!({
                    "id": row.get::<_, String>(0)?,
                    "parent_id": row.get::<_, Option<String>>(1)?,
                    "type": row.get::<_, String>(2)?,
                    "name": row.get::<_, String>(3)?,
                    "level": row.get::<_, String>(4)?,
                    "status_message": row.get::<_, Option<String>>(5)?,
                    "start": row.get::<_, String>(6)?,
                    "end": row.get::<_, String>(7)?,
                    "latency_ms": row.get::<_, f64>(8)?,
                    "model": row.get::<_, Option<String>>(9)?,
                    "model_parameters": json_text(row.get(10)?),
                    "usage": json_text(row.get(11)?),
                    "cost_details": json_text(row.get(12)?),
                    "cost": row.get::<_, f64>(13)?,
                    "input": json_text(row.get(14)?),
                    "output": json_text(row.get(15)?),
                    "metadata": json_text(row.get(16)?),
                    "completion_start_time": row.get::<_, Option<String>>(17)?,
                    "prompt_name": row.get::<_, Option<String>>(18)?,
                    "prompt_version": row.get::<_, Option<i64>>(19)?,
                    "version": row.get::<_, Option<String>>(20)?,
                    "ttft_ms": row.get::<_, Option<f64>>(21)?,
                }))
            })
            .optional()?;
        let trace_id = trace["id"].as_str().unwrap_or_default();
        let Some(mut observation) = found else {
            return Err(ApiError::NotFound(format!(
                "no observation `{id}` in trace `{trace_id}`"
            )));
        };
        observation["scores"] = self.scores(trace_id, Some(id))?.into();
        observation["trace_id"] = trace_id.into();
        Ok(observation)
    }

    fn users(&self) -> Result<Value, ApiError> {
        let users = self.rows(
            "SELECT user_id, COUNT(*), COUNT(DISTINCT session_id), TOTAL(calculated_total_cost),
                    AVG(latency_ms), MAX(latency_ms), MAX(timestamp), SUM(observation_count)
             FROM traces WHERE user_id IS NOT NULL GROUP BY user_id
             ORDER BY TOTAL(calculated_total_cost) DESC, user_id LIMIT 1000",
            &[],
            |row| {
                Ok(json!({
                    "user_id": row.get::<_, String>(0)?,
                    "traces": row.get::<_, i64>(1)?,
                    "sessions": row.get::<_, i64>(2)?,
                    "cost": row.get::<_, f64>(3)?,
                    "avg_latency_ms": row.get::<_, Option<f64>>(4)?,
                    "max_latency_ms": row.get::<_, Option<f64>>(5)?,
                    "last_seen": row.get::<_, Option<String>>(6)?,
                    "observations": row.get::<_, i64>(7)?,
                }))
            },
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
const OBSERVATION_TOTALS: &str = "TOTAL(json_extract(o.usage_details, '$.total')),
    SUM(o.level = 'ERROR'), SUM(o.level = 'WARNING')";

/// A score's columns, as [`score_json`] reads them.
const SCORE_COLUMNS: &str = "name, data_type, value, string_value, comment, observation_id";

fn observation_totals(row: &Row<'_>, at: usize) -> rusqlite::Result<(f64, i64, i64)> {
    Ok((row.get(at)?, row.get(at + 1)?, row.get(at + 2)?))
}

fn add_observation_totals(target: &mut Value, row: &Row<'_>, at: usize) -> rusqlite::Result<()> {
    let (tokens, errors, warnings) = observation_totals(row, at)?;
    target["tokens"] = tokens.into();
    target["errors"] = errors.into();
    target["warnings"] = warnings.into();
    Ok(())
}

fn score_json(row: &Row<'_>, at: usize) -> rusqlite::Result<Value> {
    Ok(json!({
        "name": row.get::<_, String>(at)?,
        "data_type": row.get::<_, String>(at + 1)?,
        "value": row.get::<_, Option<f64>>(at + 2)?,
        "string_value": row.get::<_, Option<String>>(at + 3)?,
        "comment": row.get::<_, Option<String>>(at + 4)?,
        "observation_id": row.get::<_, Option<String>>(at + 5)?,
    }))
}

/// Stored text as JSON; text that is not JSON stays a string.
fn json_text(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// As [`json_text`], but text longer than [`TURN_TEXT_LIMIT`] is cut (and stays a string).
fn clipped_json(text: Option<String>) -> Option<Value> {
    match text {
        Some(t) if t.len() > TURN_TEXT_LIMIT => {
            let mut end = TURN_TEXT_LIMIT;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            Some(Value::String(format!(
                "{}… (cut: open the trace)",
                &t[..end]
            )))
        }
        other => json_text(other),
    }
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

    use observe_runtime::export::store::StoreExporter;
    use observe_runtime::{Client, Trace};

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
    fn long_turn_text_is_cut_on_a_char_boundary() {
        let long = "é".repeat(TURN_TEXT_LIMIT);
        let Some(Value::String(cut)) = clipped_json(Some(long)) else {
            panic!("expected a string");
        };
        assert!(cut.ends_with("(cut: open the trace)"));
        assert_eq!(json_text(Some("{\"a\":1}".into())), Some(json!({"a": 1})));
        assert_eq!(json_text(Some("plain".into())), Some(json!("plain")));
    }
}
