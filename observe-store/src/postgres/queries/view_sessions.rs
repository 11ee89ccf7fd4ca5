//! The web view's sessions on PostgreSQL: one page of the list, each session's totals, a
//! session's traces as turns; the same JSON as the SQLite store's
//! ([`Store::session_ids`](crate::Store::session_ids),
//! [`Store::session_summaries`](crate::Store::session_summaries),
//! [`Store::session_turns`](crate::Store::session_turns)).

use std::collections::HashSet;

use postgres::types::ToSql;
use serde_json::Value;

use super::view_rows::OBSERVATION_TOTALS;
use crate::postgres::{PgReadError, PgStore};
use crate::queries::sessions::{in_order, turn_texts, turn_totals_and_scores, with_totals};
use crate::queries::SessionFilter;
use crate::sql::SqlError;

/// The fewest traces read while walking for sessions: a page of 50 sessions usually
/// needs one walk.
const WALK_ROWS: i64 = 256;

impl PgStore {
    /// The ids of the sessions that pass `filter`, most recently started first, at most
    /// `wanted` of them: [`Store::session_ids`](crate::Store::session_ids). `from` and `to`
    /// are read as instants (`2026-12-07T10:00:00Z`, `2026-12-07`); text that is not one
    /// is refused with PostgreSQL's reason.
    ///
    /// Like the SQLite store's, it walks traces newest first (the timestamp index) and
    /// keeps each session the first time it shows up.
    pub fn session_ids(
        &mut self,
        filter: &SessionFilter,
        wanted: usize,
    ) -> Result<Vec<String>, SqlError> {
        let mut given: Vec<(&str, &String)> = Vec::new();
        if let Some(user) = &filter.user {
            given.push(("user_id = ?", user));
        }
        if let Some(tag) = &filter.tag {
            given.push(("?::text = ANY(tags)", tag));
        }
        if let Some(from) = &filter.from {
            given.push(("\"timestamp\" >= ?::text::timestamptz", from));
        }
        if let Some(to) = &filter.to {
            given.push(("\"timestamp\" <= ?::text::timestamptz", to));
        }
        if let Some(q) = &filter.search {
            given.push((
                "(strpos(session_id, ?::text) > 0 OR id = lower(?::text))",
                q,
            ));
        }
        let mut conditions = vec!["session_id IS NOT NULL".to_owned()];
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for (condition, arg) in given {
            args.push(arg);
            // Every `?` of a condition is its one argument.
            conditions.push(condition.replace('?', &format!("${}", args.len())));
        }
        if filter.errors {
            conditions.push(
                "EXISTS (SELECT 1 FROM observations o \
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')"
                    .to_owned(),
            );
        }
        let sql = format!(
            "SELECT session_id FROM traces WHERE {} ORDER BY \"timestamp\" DESC, seq DESC
             LIMIT ${}",
            conditions.join(" AND "),
            args.len() + 1
        );
        // A LIMIT lets the planner walk the timestamp index (ties sorted as they come)
        // instead of sorting every trace; when the traces read hold too few sessions, the
        // walk starts again reading twice as many.
        let mut limit = i64::try_from(wanted.saturating_mul(4))
            .unwrap_or(i64::MAX)
            .max(WALK_ROWS);
        loop {
            let mut params = args.clone();
            params.push(&limit);
            let rows = self
                .client()
                .query(&sql, &params)
                .map_err(|e| SqlError::from(PgReadError::statement(&e)))?;
            let mut seen = HashSet::new();
            let ids: Vec<String> = rows
                .iter()
                .map(|row| row.get::<_, String>(0))
                .filter(|id| seen.insert(id.clone()))
                .take(wanted)
                .collect();
            if ids.len() == wanted || (rows.len() as i64) < limit {
                return Ok(ids);
            }
            limit = limit.saturating_mul(2);
        }
    }

    /// Totals of each session in `ids`, in that order:
    /// [`Store::session_summaries`](crate::Store::session_summaries). A session's users
    /// come in the order its traces first name them.
    pub fn session_summaries(&mut self, ids: &[String]) -> Result<Vec<Value>, SqlError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let summaries = self.objects(
            "SELECT session_id AS id, COUNT(*) AS traces, MIN(\"timestamp\") AS start,
                    MAX(end_time) AS last_seen,
                    (MAX(end_ns) - MIN(start_ns)) / 1e6::float8 AS duration_ms,
                    COALESCE(SUM(calculated_total_cost), 0)::float8 AS cost,
                    COALESCE(SUM(computed_cost), 0)::float8 AS computed_cost,
                    (SELECT COALESCE(json_agg(u.user_id ORDER BY u.first), '[]')::text
                     FROM (SELECT user_id, MIN(seq) AS first FROM traces t
                           WHERE t.session_id = traces.session_id AND t.user_id IS NOT NULL
                           GROUP BY user_id) u) AS users,
                    SUM(observation_count) AS observations
             FROM traces WHERE session_id = ANY($1) GROUP BY session_id",
            &[&ids],
        )?;
        let totals = self.objects(
            &format!(
                "SELECT t.session_id AS id, {OBSERVATION_TOTALS}
                 FROM traces t JOIN observations o ON o.trace_seq = t.seq
                 WHERE t.session_id = ANY($1) GROUP BY t.session_id"
            ),
            &[&ids],
        )?;
        Ok(in_order(ids, summaries, totals))
    }

    /// The traces of the session `id` as turns, in order:
    /// [`Store::session_turns`](crate::Store::session_turns). Empty when there is no such
    /// session.
    pub fn session_turns(&mut self, id: &str) -> Result<Vec<Value>, SqlError> {
        let mut turns = self.objects(
            &format!(
                "SELECT t.seq, t.id, t.name, t.user_id, t.\"timestamp\" AS start,
                        t.end_time AS \"end\", t.latency_ms, t.calculated_total_cost AS cost,
                        t.computed_cost, to_json(t.tags)::text AS tags,
                        t.observation_count AS observations, t.start_ns, t.end_ns,
                        {}
                 FROM traces t WHERE t.session_id = $1 ORDER BY t.start_ns, t.seq",
                turn_texts()
            ),
            &[&id],
        )?;
        if turns.is_empty() {
            return Ok(turns);
        }
        let [totals, scores] = turn_totals_and_scores(OBSERVATION_TOTALS, "$1");
        let totals = self.objects(&totals, &[&id])?;
        let scores = self.objects(&scores, &[&id])?;
        with_totals(&mut turns, &totals, scores);
        Ok(turns)
    }
}
