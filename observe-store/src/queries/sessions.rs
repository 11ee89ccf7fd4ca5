//! The web view's sessions: one page of the list, each session's totals, and a session's
//! traces as turns.

use std::collections::{HashMap, HashSet};

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::rows::{merge, Filter, OBSERVATION_TOTALS, SCORE_COLUMNS};
use crate::read::Store;
use crate::StoreError;

/// Longest input or output text sent with a session's turns; the trace has it whole.
pub const TURN_TEXT_LIMIT: usize = 20_000;

/// Which sessions [`Store::session_ids`] finds; every filter given must hold for one of
/// the session's traces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// A trace of this user.
    pub user: Option<String>,
    /// A trace with this tag.
    pub tag: Option<String>,
    /// A trace started at or after this timestamp (the store's text form, or a prefix of it).
    pub from: Option<String>,
    /// A trace started at or before this timestamp.
    pub to: Option<String>,
    /// Text in the session id, or a trace id.
    pub search: Option<String>,
    /// A trace with an observation at level `ERROR`.
    pub errors: bool,
}

impl Store {
    /// The ids of the sessions that pass `filter`, most recently started first, at most
    /// `wanted` of them.
    ///
    /// It walks traces newest first (the timestamp index) and keeps each session the first
    /// time it shows up: a page costs the traces up to its last session, not a `GROUP BY`
    /// over the whole table.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// use observe_store::queries::SessionFilter;
    /// let store = observe_store::Store::open(&path).unwrap();
    /// let filter = SessionFilter { errors: true, ..SessionFilter::default() };
    /// assert!(store.session_ids(&filter, 51).unwrap().is_empty());
    /// ```
    pub fn session_ids(
        &self,
        filter: &SessionFilter,
        wanted: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut f = Filter::default();
        f.add("session_id IS NOT NULL", &[]);
        if let Some(user) = &filter.user {
            f.add("user_id = ?", &[user]);
        }
        if let Some(tag) = &filter.tag {
            f.add("observe_array_contains(tags, ?)", &[tag]);
        }
        if let Some(from) = &filter.from {
            f.add("timestamp >= ?", &[from]);
        }
        if let Some(to) = &filter.to {
            f.add("timestamp <= ?", &[to]);
        }
        if let Some(q) = &filter.search {
            f.add("(instr(session_id, ?) > 0 OR id = lower(?))", &[q, q]);
        }
        if filter.errors {
            f.add(
                "EXISTS (SELECT 1 FROM observations o \
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')",
                &[],
            );
        }
        let sql = format!(
            "SELECT session_id FROM traces {} ORDER BY timestamp DESC",
            f.where_clause()
        );
        let mut seen = HashSet::new();
        let mut ids: Vec<String> = Vec::new();
        let mut stmt = self.prepare(&sql)?;
        let mut cursor = stmt
            .query(params_from_iter(&f.args))
            .map_err(|e| self.sqlite(e))?;
        while ids.len() < wanted {
            let Some(row) = cursor.next().map_err(|e| self.sqlite(e))? else {
                break;
            };
            let id = crate::text::lossy_text(row, 0)
                .map_err(|e| self.sqlite(e))?
                .unwrap_or_default();
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Totals of each session in `ids`, in that order, as JSON objects: `id`, `traces`,
    /// `start`, `last_seen`, `duration_ms`, `cost`, `computed_cost`, `users`,
    /// `observations`, `tokens`, `errors` and `warnings` (traces with an observation at
    /// that level), `failed_observations` (observations at level `ERROR`). Ids of no
    /// session are left out.
    pub fn session_summaries(&self, ids: &[String]) -> Result<Vec<Value>, StoreError> {
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
        Ok(in_order(ids, summaries, totals))
    }

    /// The traces of the session `id` as turns, in order, as JSON objects: the trace's
    /// columns, its input and output (the root observation's when the trace has none; cut
    /// at [`TURN_TEXT_LIMIT`] characters), `tokens`, `errors` and `warnings` (1 when an
    /// observation is at that level), `failed_observations` and its `scores`.
    /// Empty when there is no such session.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.session_turns("nope").unwrap().is_empty());
    /// ```
    pub fn session_turns(&self, id: &str) -> Result<Vec<Value>, StoreError> {
        let args = [SqlValue::Text(id.to_owned())];
        let mut turns = self.objects(
            &format!(
                "SELECT t.seq, t.id, t.name, t.user_id, t.timestamp AS start,
                        t.end_time AS \"end\", t.latency_ms, t.calculated_total_cost AS cost,
                        t.computed_cost, t.tags, t.observation_count AS observations, t.start_ns, t.end_ns,
                        {}
                 FROM traces t WHERE t.session_id = ?1 ORDER BY t.start_ns, t.seq",
                turn_texts()
            ),
            &args,
        )?;
        if turns.is_empty() {
            return Ok(turns);
        }
        let [totals, scores] = turn_totals_and_scores(OBSERVATION_TOTALS, "?1");
        let totals = self.objects(&totals, &args)?;
        let scores = self.objects(&scores, &args)?;
        with_totals(&mut turns, &totals, scores);
        Ok(turns)
    }
}

/// The summaries of the sessions `ids`, in that order, each with its observations'
/// `totals` (rows with the session's `id`); ids of no session are left out. Either
/// store's rows.
pub(crate) fn in_order(ids: &[String], summaries: Vec<Value>, totals: Vec<Value>) -> Vec<Value> {
    let mut by_id: HashMap<String, Value> = summaries
        .into_iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_owned(), s)))
        .collect();
    for t in totals {
        if let Some(session) = t["id"].as_str().and_then(|id| by_id.get_mut(id)) {
            merge(session, t);
        }
    }
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// Adds to each turn its observations' `totals` (rows with the trace's `seq`) and its
/// `scores` (rows with its `trace_id`, in order). Either store's rows.
pub(crate) fn with_totals(turns: &mut [Value], totals: &[Value], scores: Vec<Value>) {
    for turn in turns.iter_mut() {
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
}

/// The columns `input` and `output` of a turn (trace `t`): the trace's, or its root
/// observation's when it has none, cut by [`clipped`]. The same SQL on either store.
pub(crate) fn turn_texts() -> String {
    format!(
        "{} AS input, {} AS output",
        clipped(
            "COALESCE(t.input, (SELECT o.input FROM observations o
                WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
                ORDER BY o.start_ns LIMIT 1))"
        ),
        clipped(
            "COALESCE(t.output, (SELECT o.output FROM observations o
                WHERE o.trace_seq = t.seq AND o.parent_observation_id IS NULL
                ORDER BY o.start_ns DESC LIMIT 1))"
        ),
    )
}

/// The SQL of a session's turn totals (the columns `totals` per trace `seq`) and of its
/// scores (by time), the session id as `param` (`?1`, `$1`): the same on either store.
pub(crate) fn turn_totals_and_scores(totals: &str, param: &str) -> [String; 2] {
    [
        format!(
            "SELECT o.trace_seq AS seq, {totals} FROM observations o
             WHERE o.trace_seq IN (SELECT seq FROM traces WHERE session_id = {param})
             GROUP BY o.trace_seq"
        ),
        format!(
            "SELECT trace_id, {SCORE_COLUMNS} FROM scores
             WHERE trace_id IN (SELECT id FROM traces WHERE session_id = {param})
             ORDER BY \"timestamp\""
        ),
    ]
}

/// SQL for the text of `expr`, cut to [`TURN_TEXT_LIMIT`] characters with a note (the cut
/// text is no longer JSON, so it is sent as a string).
pub(crate) fn clipped(expr: &str) -> String {
    format!(
        "CASE WHEN length({expr}) > {TURN_TEXT_LIMIT}
              THEN substr({expr}, 1, {TURN_TEXT_LIMIT}) || '… (cut: open the trace)'
              ELSE {expr} END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::rows::object;

    #[test]
    fn long_turn_text_is_cut_with_a_note() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let long = "é".repeat(TURN_TEXT_LIMIT + 5);
        let row = conn
            .query_row(
                &format!(
                    "SELECT {} AS input, {} AS output",
                    clipped("?1"),
                    clipped("?2")
                ),
                [long.as_str(), "{\"a\":1}"],
                object,
            )
            .unwrap();
        let cut = row["input"].as_str().unwrap();
        assert!(cut.ends_with("(cut: open the trace)"));
        assert_eq!(cut.chars().filter(|&c| c == 'é').count(), TURN_TEXT_LIMIT);
        assert_eq!(
            row["output"],
            serde_json::json!({"a": 1}),
            "short text stays JSON"
        );
    }
}
