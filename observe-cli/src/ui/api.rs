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
//! | `query?sql=` | a PostgreSQL-dialect query, read-only, limited in rows, bytes and time |
//! | `reports` | the built-in report queries |
//! | `changes` | a token that changes when the store does (the pages poll it) |
//! | `dashboard?{filter}` | the dashboard's widgets, not run |
//! | `dashboard/widget/{i}?{filter}` | one widget run under the filter bar's filter, with its SVG |

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use observe_store::queries::SessionFilter;
use observe_store::sql::{value_to_json, SqlError};
use observe_store::{ReadError, Reader, StoreError};
use serde_json::{json, Value};

use super::dashboard;
use super::error::UiError;
use super::query::{self, QueryLimits};
use crate::dashboard::Dashboard;
use crate::reports::Report;
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
    #[error("store query failed: {}", store_reason(.0))]
    Read(#[from] ReadError),
}

/// The store's reason, without the SQLite file's path: the view reads one store.
fn store_reason(e: &ReadError) -> String {
    match e {
        ReadError::Store(StoreError::Sqlite { source, .. }) => source.to_string(),
        other => other.to_string(),
    }
}

impl ApiError {
    fn status(&self) -> u16 {
        match self {
            ApiError::Sql(SqlError::Timeout { .. })
            | ApiError::Read(ReadError::Sql(SqlError::Timeout { .. })) => 408,
            ApiError::BadRequest(_) | ApiError::Sql(_) => 400,
            // A filter PostgreSQL could not read as what it is (`from=not-a-time`: a data
            // exception, SQLSTATE class 22).
            #[cfg(feature = "postgres")]
            ApiError::Read(ReadError::Sql(SqlError::Postgres(
                observe_store::postgres::PgReadError::Statement { code, .. },
            ))) if code.starts_with("22") => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Read(_) => 500,
        }
    }
}

/// The endpoints over one read-only connection to the store: a SQLite file, or a
/// PostgreSQL store (`postgres://...`, feature `postgres`), read alike.
///
/// ```
/// use std::sync::Arc;
/// use observe_cli::ui::Api;
/// use observe_model::export::{Batch, Exporter as _};
/// use observe_model::model::*;
/// use observe_store::StoreExporter;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("traces.db");
/// // A trace `chat` of session `s1`: its root span alone.
/// let chat = Observation {
///     trace_id: TraceId(1), id: SpanId(1), parent_id: None, name: "chat".into(),
///     kind: ObservationType::Span, level: Level::Default,
///     start: Timestamp::now(), end: Timestamp::now(), details: None,
///     trace: Arc::new(TraceAttributes {
///         name: Some("chat".into()), session_id: Some("s1".into()), ..Default::default()
///     }),
/// };
/// let batch = Batch { observations: vec![Box::new(chat)], scores: vec![] };
/// StoreExporter::open(&path).unwrap().export(&batch).unwrap();
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
    reader: Reader,
    limits: QueryLimits,
    /// The project the store's reads are limited to (the request's `project=`).
    project: Option<String>,
    /// What the Dashboard page shows.
    dashboard: Arc<Dashboard>,
}

impl Api {
    /// Opens `db` read-only for the endpoints: a store file, or a PostgreSQL URL
    /// ([`observe_store::is_postgres_url`]).
    pub fn open(db: &Path) -> Result<Api, UiError> {
        Ok(Api {
            reader: Reader::open(db.as_os_str())?,
            limits: QueryLimits::default(),
            project: None,
            dashboard: Arc::new(Dashboard::builtin()),
        })
    }

    /// Shows `dashboard` on the Dashboard page instead of the default one.
    pub fn with_dashboard(self, dashboard: Arc<Dashboard>) -> Api {
        Api { dashboard, ..self }
    }

    /// Opens `db` for the query workers: as [`Api::open`], with values capped at
    /// [`query::MAX_VALUE_BYTES`].
    pub(super) fn open_for_queries(db: &Path) -> Result<Api, UiError> {
        let api = Api::open(db)?;
        api.reader.limit_value_bytes(query::MAX_VALUE_BYTES)?;
        Ok(api)
    }

    /// Stops the query running on this endpoint's connection, from another thread (for a
    /// client that went away).
    pub(super) fn interrupter(&self) -> impl FnOnce() + Send + 'static {
        self.reader.interrupter()
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
        let project = params.get("project").map(String::as_str);
        let mut answer = self
            .limit_to_project(project)
            .and_then(|()| self.answer(endpoint, query, &parts, &params));
        // A PostgreSQL server that dropped the connection (a restart) is reached again
        // and asked once more; one that is still away leaves the first failure.
        if answer.is_err() && matches!(self.reader.reconnect_if_dropped(), Ok(true)) {
            answer = self
                .limit_to_project(project)
                .and_then(|()| self.answer(endpoint, query, &parts, &params));
        }
        match answer {
            Ok(value) => Reply::json(&value),
            Err(e) => Reply::error(e.status(), &e.to_string()),
        }
    }

    /// The answer of the endpoint `parts` (`endpoint` split at `/`, decoded); `query` is the
    /// request's query text, which the dashboard reads itself (its parameters repeat).
    fn answer(
        &mut self,
        endpoint: &str,
        query: &str,
        parts: &[&str],
        params: &HashMap<String, String>,
    ) -> Result<Value, ApiError> {
        match parts {
            ["sessions"] => self.sessions(&Params(params)),
            ["session", id] => self.session(id),
            ["trace", id] => self.trace(id),
            ["trace", trace, "observation", id] => self.observation(trace, id),
            ["users"] => self.users(),
            ["query"] => self.query(&Params(params)),
            ["reports"] => Ok(reports()),
            ["changes"] => self.changes(),
            ["dashboard"] => self.dashboard(query, None),
            ["dashboard", "widget", index] => self.dashboard(query, Some(index)),
            _ => Err(ApiError::NotFound(format!("no endpoint /api/{endpoint}"))),
        }
    }

    /// Every endpoint reads one project's rows when the request names one (`project=`),
    /// every project's otherwise.
    fn limit_to_project(&mut self, project: Option<&str>) -> Result<(), ApiError> {
        let project = project.filter(|p| !p.is_empty());
        if self.project.as_deref() != project {
            match self.reader.set_project(project) {
                Ok(()) => self.project = project.map(str::to_owned),
                Err(e @ ReadError::Store(StoreError::NoProjects { .. })) => {
                    return Err(ApiError::BadRequest(e.to_string()))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn sessions(&mut self, p: &Params<'_>) -> Result<Value, ApiError> {
        let limit = p.number("limit", PAGE_SIZE)?.clamp(1, MAX_PAGE_SIZE);
        let page = p.number("page", 0)?;
        let filter = SessionFilter {
            user: p.text("user").map(str::to_owned),
            tag: p.text("tag").map(str::to_owned),
            from: p.text("from").map(str::to_owned),
            to: p.text("to").map(str::to_owned),
            search: p.text("q").map(str::to_owned),
            errors: p.text("errors").is_some_and(|e| e != "0" && e != "false"),
        };
        // One more than the page needs tells whether there is a next page; a page past
        // what any store holds is a mistake, not an overflow.
        let through = page
            .checked_add(1)
            .and_then(|p| p.checked_mul(limit))
            .filter(|n| *n < i64::MAX as usize)
            .ok_or_else(|| ApiError::BadRequest(format!("`page` {page} is too large")))?;
        let ids = self.reader.session_ids(&filter, through + 1)?;
        let has_more = ids.len() > through;
        let shown: Vec<String> = ids.into_iter().skip(through - limit).take(limit).collect();
        Ok(json!({
            "sessions": self.reader.session_summaries(&shown)?,
            "page": page,
            "limit": limit,
            "has_more": has_more,
        }))
    }

    fn session(&mut self, id: &str) -> Result<Value, ApiError> {
        let turns = self.reader.session_turns(id)?;
        if turns.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no session `{id}` in the store"
            )));
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

    /// The trace row with `id` (or the one trace whose id starts with it); an id a sender
    /// chose as text (`my-trace-1`, a UUID) is taken whole.
    fn trace_row(&mut self, id: &str) -> Result<Value, ApiError> {
        if !id.is_empty() && !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            // The rows found start at the id itself.
            return match self.reader.trace_rows_with_prefix(id)?.into_iter().next() {
                Some(row) if row["id"] == id => Ok(row),
                _ => Err(ApiError::NotFound(format!("no trace `{id}` in the store"))),
            };
        }
        let prefix = id.to_ascii_lowercase();
        if prefix.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "`{id}` is not a trace id (32 hex characters, or a unique prefix)"
            )));
        }
        let found = self.reader.trace_rows_with_prefix(&prefix)?;
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

    fn trace(&mut self, id: &str) -> Result<Value, ApiError> {
        let mut trace = self.trace_row(id)?;
        let observations = self.reader.trace_observation_rows(&trace)?;
        let count = |level: &str| observations.iter().filter(|o| o["level"] == level).count();
        // As in every listing: the trace's errors count once; how many observations
        // failed is apart.
        trace["errors"] = u64::from(count("ERROR") > 0).into();
        trace["warnings"] = u64::from(count("WARNING") > 0).into();
        trace["failed_observations"] = count("ERROR").into();
        trace["scores"] = self.scores(&trace["id"], None)?.into();
        trace["observations"] = observations.into();
        Ok(trace)
    }

    fn scores(
        &mut self,
        trace_id: &Value,
        observation: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let scores = self
            .reader
            .score_rows(trace_id.as_str().unwrap_or_default())?;
        Ok(scores
            .into_iter()
            .filter(|s| observation.is_none() || s["observation_id"].as_str() == observation)
            .collect())
    }

    fn observation(&mut self, trace: &str, id: &str) -> Result<Value, ApiError> {
        let trace = self.trace_row(trace)?;
        let Some(mut observation) = self.reader.observation_row(&trace, id)? else {
            return Err(ApiError::NotFound(format!(
                "no observation `{id}` in trace `{}`",
                trace["id"].as_str().unwrap_or_default()
            )));
        };
        observation["scores"] = self.scores(&trace["id"], Some(id))?.into();
        observation["trace_id"] = trace["id"].clone();
        Ok(observation)
    }

    fn users(&mut self) -> Result<Value, ApiError> {
        Ok(json!({ "users": self.reader.user_rows()? }))
    }

    fn query(&mut self, p: &Params<'_>) -> Result<Value, ApiError> {
        let Some(text) = p.text("sql") else {
            return Err(ApiError::BadRequest("give the query as ?sql=".into()));
        };
        let started = Instant::now();
        let result = query::run(&mut self.reader, text, self.limits)?;
        let rows: Vec<Value> = result
            .rows
            .iter()
            .map(|row| Value::Array(row.iter().map(value_to_json).collect()))
            .collect();
        Ok(json!({
            "columns": result.columns,
            "rows": rows,
            "truncated": result.truncated,
            "truncated_by": result.cut.map(query::Cut::as_str),
            "row_limit": self.limits.rows,
            "byte_limit": self.limits.bytes,
            "translated": result.translated,
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        }))
    }

    /// The dashboard's outline, or one widget run (`index`), under the request's filter.
    fn dashboard(&mut self, query: &str, index: Option<&str>) -> Result<Value, ApiError> {
        let filter =
            dashboard::filter_from(query).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let Some(index) = index else {
            return Ok(dashboard::outline(&self.dashboard, &filter));
        };
        let missing = || ApiError::NotFound(format!("no widget `{index}` in the dashboard"));
        let index: usize = index.parse().map_err(|_| missing())?;
        dashboard::run_widget(
            &mut self.reader,
            &self.dashboard,
            index,
            &filter,
            self.limits,
        )
        .ok_or_else(missing)
    }

    /// A token that changes whenever a writer commits ([`Reader::change_token`]).
    fn changes(&mut self) -> Result<Value, ApiError> {
        Ok(json!({ "token": self.reader.change_token()? }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[4.0], 0.95), Some(4.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert!((percentile(&[0.0, 10.0], 0.95).unwrap() - 9.5).abs() < 1e-9);
    }
}
