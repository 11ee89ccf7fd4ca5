//! The page of `observe sessions` on the SQLite store: which sessions ended most recently,
//! found without grouping every trace.
//!
//! A session's place in the list is its traces' latest end. The store has no index by
//! end (only by start, and a trace may end long after later ones start), so the page is
//! found in one pass over the traces' `(session_id, end_ns, seq)`, newest rows first,
//! keeping only the best `limit` sessions seen so far: memory and work per trace stay
//! small and fixed, where `GROUP BY session_id` over the whole table looked into every
//! trace's observations for its errors before it could sort. The page's totals are then
//! summed for its sessions alone.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::Value as SqlValue;

use crate::read::Store;
use crate::sql::{stream_rows, RowSink, SqlError, Table};
use crate::text::lossy_text;

/// Where a trace ranks a session: its end, then its `seq` (the later-written trace first
/// among equal ends, as PostgreSQL's walk of `(end_ns, seq)` meets them).
type Rank = (i64, i64);

/// The best sessions met so far, each at its best rank, at most `limit` of them.
#[derive(Debug)]
struct TopSessions {
    limit: usize,
    by_rank: BTreeMap<Rank, String>,
    rank_of: HashMap<String, Rank>,
}

impl TopSessions {
    fn new(limit: usize) -> TopSessions {
        TopSessions {
            limit,
            by_rank: BTreeMap::new(),
            rank_of: HashMap::new(),
        }
    }

    /// Takes one trace of `session` at `rank` into account.
    ///
    /// A session pushed out by better ones can come back only with a trace ranked above
    /// the one that pushed it out, so its rank then is its best: keeping `limit` sessions
    /// is exact.
    fn offer(&mut self, session: &str, rank: Rank) {
        if !self.may_take(rank) {
            return;
        }
        if let Some(held) = self.rank_of.get_mut(session) {
            if rank > *held {
                let name = self.by_rank.remove(held).unwrap_or_default();
                self.by_rank.insert(rank, name);
                *held = rank;
            }
            return;
        }
        self.by_rank.insert(rank, session.to_owned());
        self.rank_of.insert(session.to_owned(), rank);
        if self.by_rank.len() > self.limit {
            if let Some((_, out)) = self.by_rank.pop_first() {
                self.rank_of.remove(&out);
            }
        }
    }

    /// Whether a trace at `rank` can change the page: cheap, so that most traces of a
    /// large store are passed over without reading their session id.
    fn may_take(&self, rank: Rank) -> bool {
        self.limit > 0
            && (self.by_rank.len() < self.limit
                || self
                    .by_rank
                    .first_key_value()
                    .is_some_and(|(low, _)| rank > *low))
    }

    /// The sessions, best first, each with the `seq` of its latest trace.
    fn into_page(self) -> Vec<(String, i64)> {
        self.by_rank
            .into_iter()
            .rev()
            .map(|((_, seq), session)| (session, seq))
            .collect()
    }
}

impl Store {
    /// The `limit` sessions whose last trace ended most recently, newest first, each as
    /// its id's text and the `seq` of its latest trace (which names the session exactly,
    /// whatever the type or encoding of its stored id).
    pub(crate) fn newest_sessions(&self, limit: u32) -> Result<Vec<(String, i64)>, SqlError> {
        const SQL: &str = "SELECT session_id, end_ns, seq FROM traces
                           WHERE session_id IS NOT NULL ORDER BY seq DESC";
        let failed = |source| SqlError::Sqlite {
            sql: SQL.to_owned(),
            source,
        };
        let mut top = TopSessions::new(limit as usize);
        let mut stmt = self.connection().prepare(SQL).map_err(failed)?;
        let mut rows = stmt.query([]).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            let rank = (row.get(1).map_err(failed)?, row.get(2).map_err(failed)?);
            if top.may_take(rank) {
                let session = lossy_text(row, 0).map_err(failed)?.unwrap_or_default();
                top.offer(&session, rank);
            }
        }
        Ok(top.into_page())
    }

    /// The sessions list's rows (the columns of
    /// [`Store::sessions_list`](crate::Store::sessions_list)) for the sessions of `page`
    /// ([`Store::newest_sessions`]), in that order, streamed to `sink`.
    pub(crate) fn session_list_rows(
        &self,
        page: &[(String, i64)],
        sink: &mut dyn RowSink,
    ) -> Result<(), SqlError> {
        let seqs: Vec<i64> = page.iter().map(|(_, seq)| *seq).collect();
        let seqs = serde_json::Value::from(seqs).to_string();
        let mut rows = Table {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        stream_rows(
            self.connection(),
            "SELECT session_id AS session,
                    COUNT(*) AS traces,
                    (MAX(end_ns) - MIN(start_ns)) / 1e6 AS duration_ms,
                    SUM(calculated_total_cost) AS cost,
                    SUM(computed_cost) AS computed_cost,
                    SUM(EXISTS (SELECT 1 FROM observations o
                        WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')) AS errors,
                    group_concat(DISTINCT user_id) AS user,
                    MAX(end_time) AS last_seen
             FROM traces
             WHERE session_id IN (SELECT session_id FROM traces
                                  WHERE seq IN (SELECT value FROM json_each(?1)))
             GROUP BY session_id",
            &[SqlValue::Text(seqs)],
            &mut rows,
        )?;
        sink.columns(&rows.columns).map_err(SqlError::Output)?;
        let mut by_id: HashMap<String, Vec<SqlValue>> = rows
            .rows
            .into_iter()
            .map(|row| (row.first().map(value_text).unwrap_or_default(), row))
            .collect();
        for row in page.iter().filter_map(|(id, _)| by_id.remove(id)) {
            if !sink.row(row).map_err(SqlError::Output)? {
                break;
            }
        }
        Ok(())
    }
}

/// A session id read back as [`lossy_text`] reads it from a row.
fn value_text(value: &SqlValue) -> String {
    match value {
        SqlValue::Null => String::new(),
        SqlValue::Integer(n) => n.to_string(),
        SqlValue::Real(x) => x.to_string(),
        SqlValue::Text(text) => text.clone(),
        SqlValue::Blob(bytes) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(limit: usize, traces: &[(&str, i64, i64)]) -> Vec<String> {
        let mut top = TopSessions::new(limit);
        for (session, end, seq) in traces {
            top.offer(session, (*end, *seq));
        }
        top.into_page().into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn a_session_ranks_by_its_latest_end_whatever_order_its_traces_come_in() {
        let traces = [
            ("a", 10, 1),
            ("b", 20, 2),
            ("c", 30, 3),
            ("a", 40, 4),
            ("d", 5, 5),
            ("b", 15, 6),
        ];
        assert_eq!(top(2, &traces), ["a", "c"]);
        assert_eq!(top(3, &traces), ["a", "c", "b"]);
        assert_eq!(top(9, &traces), ["a", "c", "b", "d"]);
        let mut backwards = traces;
        backwards.reverse();
        assert_eq!(top(3, &backwards), ["a", "c", "b"]);
        assert!(top(0, &traces).is_empty());
    }

    #[test]
    fn a_session_pushed_out_comes_back_at_its_best_rank() {
        let traces = [("a", 10, 1), ("b", 20, 2), ("c", 30, 3), ("a", 50, 4)];
        assert_eq!(top(2, &traces), ["a", "c"]);
    }

    #[test]
    fn equal_ends_put_the_later_written_trace_first() {
        assert_eq!(top(2, &[("x", 7, 1), ("y", 7, 2)]), ["y", "x"]);
    }
}
