//! The web view's traces and users on PostgreSQL: a trace's row, its observations, one
//! observation in full, scores, the users page and the change token; the same JSON as the
//! SQLite store's ([`Store::trace_rows_with_prefix`](crate::Store::trace_rows_with_prefix)
//! and the reads beside it).

use serde_json::Value;

use super::view_rows::millis_between;
use crate::postgres::PgStore;
use crate::queries::rows::SCORE_COLUMNS;
use crate::sql::SqlError;

/// A JSON number of a row as the `bigint` it was read from (0 when it is not one).
fn bigint(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

impl PgStore {
    /// The rows of at most two traces whose id starts with `prefix`:
    /// [`Store::trace_rows_with_prefix`](crate::Store::trace_rows_with_prefix).
    pub fn trace_rows_with_prefix(&mut self, prefix: &str) -> Result<Vec<Value>, SqlError> {
        self.objects(
            "SELECT seq, id, name, user_id, session_id, \"timestamp\" AS start,
                    end_time AS \"end\", latency_ms, calculated_total_cost AS cost,
                    computed_cost, metadata::text AS metadata, to_json(tags)::text AS tags,
                    input, output, release, version, environment, observation_count, start_ns
             FROM traces WHERE id >= $1 AND id < $1 || 'g' ORDER BY id COLLATE \"C\" LIMIT 2",
            &[&prefix],
        )
    }

    /// The observations of `trace` (a row of
    /// [`trace_rows_with_prefix`](PgStore::trace_rows_with_prefix)) by start time:
    /// [`Store::trace_observation_rows`](crate::Store::trace_observation_rows).
    pub fn trace_observation_rows(&mut self, trace: &Value) -> Result<Vec<Value>, SqlError> {
        self.objects(
            &format!(
                "SELECT id, parent_observation_id AS parent_id, type, name, level,
                        status_message, (start_ns - $2) / 1e6::float8 AS offset_ms,
                        (end_ns - start_ns) / 1e6::float8 AS latency_ms, model,
                        calculated_total_cost AS cost, cost_computed::int AS cost_computed,
                        CASE WHEN jsonb_typeof(usage_details->'total') = 'number'
                             THEN (usage_details->>'total')::numeric END AS tokens,
                        {} AS ttft_ms
                 FROM observations WHERE trace_seq = $1 ORDER BY start_ns, end_ns",
                millis_between("start_time", "completion_start_time")
            ),
            &[&bigint(&trace["seq"]), &bigint(&trace["start_ns"])],
        )
    }

    /// The observation `id` of `trace` in full:
    /// [`Store::observation_row`](crate::Store::observation_row).
    pub fn observation_row(&mut self, trace: &Value, id: &str) -> Result<Option<Value>, SqlError> {
        let found = self.objects(
            &format!(
                "SELECT id, parent_observation_id AS parent_id, type, name, level,
                        status_message, start_time AS start, end_time AS \"end\", latency_ms,
                        model, model_parameters::text AS model_parameters,
                        usage_details::text AS usage, cost_details::text AS cost_details,
                        calculated_total_cost AS cost, cost_computed::int AS cost_computed,
                        input, output, metadata::text AS metadata, completion_start_time,
                        prompt_name, prompt_version, version, {} AS ttft_ms
                 FROM observations WHERE trace_seq = $1 AND id = $2",
                millis_between("start_time", "completion_start_time")
            ),
            &[&bigint(&trace["seq"]), &id],
        )?;
        Ok(found.into_iter().next())
    }

    /// The scores of the trace `trace_id`, by time:
    /// [`Store::score_rows`](crate::Store::score_rows).
    pub fn score_rows(&mut self, trace_id: &str) -> Result<Vec<Value>, SqlError> {
        self.objects(
            &format!(
                "SELECT {SCORE_COLUMNS} FROM scores WHERE trace_id = $1 ORDER BY \"timestamp\""
            ),
            &[&trace_id],
        )
    }

    /// Per user, the most costly first: [`Store::user_rows`](crate::Store::user_rows). From
    /// the kept totals (`user_totals`, kept by triggers) where the database has them.
    pub fn user_rows(&mut self) -> Result<Vec<Value>, SqlError> {
        if self.schema_version() >= crate::postgres::schema::USER_TOTALS_VERSION {
            return self.objects(
                "SELECT user_id, SUM(traces)::bigint AS traces, SUM(sessions)::bigint AS sessions,
                        SUM(cost)::float8 AS cost, SUM(computed_cost)::float8 AS computed_cost,
                        (SUM(latency_sum) / SUM(traces))::float8 AS avg_latency_ms,
                        MAX(max_latency_ms) AS max_latency_ms, MAX(last_seen) AS last_seen,
                        SUM(observations)::bigint AS observations
                 FROM user_totals WHERE $1::text IS NULL OR project = $1
                 GROUP BY user_id
                 ORDER BY cost DESC, user_id COLLATE \"C\" LIMIT 1000",
                &[&self.project.clone()],
            );
        }
        self.objects(
            "SELECT user_id, COUNT(*) AS traces, COUNT(DISTINCT session_id) AS sessions,
                    COALESCE(SUM(calculated_total_cost), 0)::float8 AS cost,
                    COALESCE(SUM(computed_cost), 0)::float8 AS computed_cost,
                    AVG(latency_ms) AS avg_latency_ms, MAX(latency_ms) AS max_latency_ms,
                    MAX(\"timestamp\") AS last_seen, SUM(observation_count) AS observations
             FROM traces WHERE user_id IS NOT NULL GROUP BY user_id
             ORDER BY cost DESC, user_id COLLATE \"C\" LIMIT 1000",
            &[],
        )
    }

    /// A token that changes when a writer commits: the newest trace (its `seq`,
    /// observation count and last update) and PostgreSQL's counts of rows written to the
    /// store's tables (`pg_stat_user_tables`, which sees a merge into an older trace too,
    /// once the server has published its statistics).
    pub fn change_token(&mut self) -> Result<String, SqlError> {
        let found = self.objects(
            "SELECT (SELECT seq || '-' || observation_count || '-' ||
                            (extract(epoch FROM updated_at) * 1e6)::bigint
                     FROM traces ORDER BY seq DESC LIMIT 1) AS newest,
                    (SELECT SUM(n_tup_ins + n_tup_upd + n_tup_del)::text
                     FROM pg_stat_user_tables
                     WHERE relname IN ('traces', 'observations', 'scores')) AS written",
            &[],
        )?;
        let row = found.into_iter().next().unwrap_or_default();
        let part = |key: &str| row[key].as_str().unwrap_or("0").to_owned();
        Ok(format!("{}-{}", part("newest"), part("written")))
    }
}
